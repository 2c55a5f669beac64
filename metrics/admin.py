from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import URLPattern
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import ngettext
from django_celery_beat.admin import PeriodicTaskAdmin as BeatPeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from metrics.dashboard import dashboard_urls
from metrics.models import MetricSnapshot
from opsconsole.admin_utils import EstimatedCountPaginator, FastChangelistMixin
from opsconsole.jobs import services as job_services
from opsconsole.jobs.models import JobRun
from opsconsole.jobs.selectors import job_lateness
from opsconsole.permissions import user_can_operate

STATUS_COLOURS = {"success": "#2e7d32", "failed": "#c62828", "running": "#1565c0", "retrying": "#ef6c00", "queued": "#555"}


class JobNameFilter(admin.SimpleListFilter):
    """The job names come from the schedule's code: Django's field filter ran SELECT DISTINCT
    over the whole job history on every page (bench: 100k runs)."""

    title = "job name"
    parameter_name = "job_name"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        from opsconsole.jobs.specs import JOBS

        return [(job.name, job.name) for job in JOBS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> QuerySet[JobRun]:
        return queryset.filter(job_name=self.value()) if self.value() else queryset


@admin.register(JobRun)
class JobRunAdmin(FastChangelistMixin, admin.ModelAdmin):
    list_display = [
        "job_name",
        "status_badge",
        "trigger",
        "triggered_by",
        "started_at",
        "finished_at",
        "duration",
        "attempts",
        "error_short",
    ]
    # No date_hierarchy: its year/month links cost a SELECT DISTINCT date_trunc(...) over every
    # run on each page; the started_at filter (today, past 7 days, this month) asks nothing.
    list_filter = ["status", "trigger", JobNameFilter, ("started_at", admin.DateFieldListFilter)]
    search_fields = ["=task_id", "=correlation_id", "job_name"]
    ordering = ["-started_at", "-id"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = [f.name for f in JobRun._meta.fields]
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: JobRun | None = None) -> bool:
        return False

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: JobRun) -> str:
        return format_html('<b style="color:{}">{}</b>', STATUS_COLOURS.get(obj.status, "#000"), obj.get_status_display())

    @admin.display(description="Duration", ordering="duration_ms")
    def duration(self, obj: JobRun) -> str:
        return "" if obj.duration_ms is None else f"{obj.duration_ms / 1000:.1f} s"

    @admin.display(description="Error")
    def error_short(self, obj: JobRun) -> str:
        return obj.error.splitlines()[-1][:120] if obj.error else ""

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return user_can_operate(request.user)

    @admin.action(description="Retry (queue the same task again)", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> None:
        queued = 0
        for run in queryset:
            job_services.job_enqueue(
                run.task_name,
                trigger=JobRun.Trigger.ADMIN,
                triggered_by=request.user.get_username(),
                args=run.args,
                kwargs=run.kwargs,
            )
            queued += 1
        self.message_user(request, ngettext("%d job queued again.", "%d jobs queued again.", queued) % queued, messages.SUCCESS)


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(BeatPeriodicTaskAdmin):
    """django-celery-beat's admin plus lateness, last run and a "Run now" that records who asked."""

    list_display = ["name", "enabled", "scheduler", "lateness", "last_run_at", "total_run_count", "one_off"]
    actions = ["enable_tasks", "disable_tasks", "toggle_tasks", "run_now"]

    @admin.display(description="Late?")
    def lateness(self, obj: PeriodicTask) -> str:
        status = job_lateness(obj, now=timezone.now())
        if status.late:
            return format_html('<b style="color:#c62828" title="{}">LATE</b>', status.reason)
        return mark_safe('<span style="color:#2e7d32">on time</span>')

    # django-celery-beat's own toggles declare no permission: anyone who may view the schedule
    # (viewers) could switch every job off. Same actions, for those who may change it.
    @admin.action(description=BeatPeriodicTaskAdmin.enable_tasks.short_description, permissions=["change"])
    def enable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        super().enable_tasks(request, queryset)

    @admin.action(description=BeatPeriodicTaskAdmin.disable_tasks.short_description, permissions=["change"])
    def disable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        super().disable_tasks(request, queryset)

    @admin.action(description=BeatPeriodicTaskAdmin.toggle_tasks.short_description, permissions=["change"])
    def toggle_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        super().toggle_tasks(request, queryset)

    @admin.action(description="Run now (records trigger=admin)", permissions=["change"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        runs = [
            job_services.job_enqueue(task.task, trigger=JobRun.Trigger.ADMIN, triggered_by=request.user.get_username())
            for task in queryset
        ]
        self.message_user(
            request,
            ngettext("%(n)d task queued: %(ids)s", "%(n)d tasks queued: %(ids)s", len(runs))
            % {"n": len(runs), "ids": ", ".join(f"{r.job_name} ({r.task_id})" for r in runs)},
            messages.SUCCESS,
        )


@admin.register(MetricSnapshot)
class MetricSnapshotAdmin(admin.ModelAdmin):
    list_display = [
        "taken_at",
        "accounts_total",
        "playlists_active",
        "tracks_total",
        "tracks_with_features",
        "reshuffles",
        "dead_letters",
        "job_failures",
    ]
    date_hierarchy = "taken_at"
    readonly_fields = [f.name for f in MetricSnapshot._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        return dashboard_urls(self) + super().get_urls()


# Alerts, rules, channels and deliveries register their admins here (admin autodiscovery reads metrics.admin).
from metrics.alerts import admin as alerts_admin  # noqa: E402, F401
