"""Job runs (history, retry, revoke, export), django-celery-beat's periodic tasks with lateness,
audited toggles and *Run now*, and the kill switch's page and banner."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import ngettext
from django_celery_beat.admin import PeriodicTaskAdmin as BeatPeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from core.actors import request_actor
from core.admin_site import admin_banner_register
from core.admin_utils import EstimatedCountPaginator, FastChangelistMixin
from core.netguard import TargetRefused, url_check_target
from core.permissions import user_can_operate, user_is_admin
from core.stepup import destructive, step_up_for_view
from jobs import services as job_services
from jobs.control import (
    REASON_MAX_LENGTH,
    KillSwitchInvalid,
    RunFinished,
    job_run_revoke,
    kill_switch_engage,
    kill_switch_get,
    kill_switch_refused,
    kill_switch_release,
    kill_switch_state,
)
from jobs.job_runs import job_runs_csv_response, job_runs_search
from jobs.models import JobPing, JobRun, KillSwitch
from jobs.selectors import (
    GANTT_MAX_WINDOW,
    DurationStats,
    Lateness,
    duration_text,
    job_duration_stats,
    job_lateness,
    job_runs_gantt,
    jobs_lateness,
)

STATUS_COLOURS = {
    "success": "#2e7d32",
    "failed": "#c62828",
    "running": "#1565c0",
    "retrying": "#ef6c00",
    "queued": "#555",
    "revoked": "#6a1b9a",
}


class JobNameFilter(admin.SimpleListFilter):
    """The job names come from the schedule's code: Django's field filter ran SELECT DISTINCT
    over the whole job history on every page (bench: 100k runs)."""

    title = "job name"
    parameter_name = "job_name"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        from jobs.specs import JOBS

        return [(job.name, job.name) for job in JOBS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> QuerySet[JobRun]:
        return queryset.filter(job_name=self.value()) if self.value() else queryset


GANTT_DEFAULT_WINDOW = timedelta(hours=6)
GANTT_PRESETS = [
    ("1 h", timedelta(hours=1)),
    ("6 h", timedelta(hours=6)),
    ("24 h", timedelta(days=1)),
    ("7 days", timedelta(days=7)),
]


class GanttWindowForm(forms.Form):
    since = forms.DateTimeField(required=False)
    until = forms.DateTimeField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        until = data.get("until") or timezone.now()
        since = data.get("since") or until - GANTT_DEFAULT_WINDOW
        if since >= until:
            raise forms.ValidationError("The window must end after it starts.")
        if until - since > GANTT_MAX_WINDOW:
            raise forms.ValidationError(f"A window of at most {GANTT_MAX_WINDOW.days} days, please.")
        return {"since": since, "until": until}


def _gantt_rows(gantt: dict[str, Any]) -> list[dict[str, Any]]:
    """Each bar's place as a share of the window (the template only positions them)."""
    since, until = gantt["since"], gantt["until"]
    window = (until - since).total_seconds()
    rows = []
    for job in gantt["jobs"]:
        bars = []
        for bar in job["bars"]:
            start, end = max(bar.start, since), min(bar.end, until)
            left = (start - since).total_seconds() / window * 100
            width = max(0.15, (end - start).total_seconds() / window * 100)
            bars.append(
                {
                    "bar": bar,
                    "left": f"{left:.3f}",
                    "width": f"{min(width, 100 - left):.3f}",
                    "top": bar.lane * 18,
                    "colour": STATUS_COLOURS.get(bar.status, "#555"),
                    "title": f"{job['job']} #{bar.run_id}: {bar.status}, {duration_text((bar.end - bar.start).total_seconds() * 1000)}"
                    + (" so far" if bar.running else ""),
                }
            )
        rows.append({"job": job["job"], "height": job["lanes"] * 18, "bars": bars})
    return rows


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
    search_help_text = "Task id, correlation id, job name, or the id of a playlist, account or album source the run touched."
    ordering = ["-started_at", "-id"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = [f.name for f in JobRun._meta.fields]
    actions = ["retry", "revoke", "terminate", "export_csv"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[JobRun], search_term: str
    ) -> tuple[QuerySet[JobRun], bool]:
        by_subject = job_runs_search(queryset, search_term)
        if by_subject is not None:
            return by_subject, False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: JobRun | None = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        timeline = path("timeline/", self.admin_site.admin_view(self.timeline_view), name="jobs_jobrun_timeline")
        return [timeline, *super().get_urls()]

    def timeline_view(self, request: HttpRequest) -> HttpResponse:
        """The run timeline: a row per job, a bar per run over a window (jobs.selectors.job_runs_gantt)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = GanttWindowForm(request.GET)
        if not form.is_valid():
            for error in form.errors.get("__all__", []) + [
                e for name, errs in form.errors.items() if name != "__all__" for e in errs
            ]:
                messages.error(request, str(error))
            form = GanttWindowForm({})
            form.is_valid()
        since, until = form.cleaned_data["since"], form.cleaned_data["until"]
        gantt = job_runs_gantt(since=since, until=until)
        now = timezone.now()
        context = {
            **self.admin_site.each_context(request),
            "title": "Run timeline",
            "opts": self.model._meta,
            "since": since,
            "until": until,
            "rows": _gantt_rows(gantt),
            "truncated": gantt["truncated"],
            "presets": [
                (label, urlencode({"since": (now - span).isoformat(), "until": now.isoformat()})) for label, span in GANTT_PRESETS
            ],
            "legend": STATUS_COLOURS,
        }
        return TemplateResponse(request, "admin/jobs/jobrun/timeline.html", context)

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
        actor = request_actor(request, door="admin")
        queued = 0
        for run in queryset:
            job_services.job_run_retry(run=run, actor=actor, trigger=JobRun.Trigger.ADMIN)
            queued += 1
        self.message_user(request, ngettext("%d job queued again.", "%d jobs queued again.", queued) % queued, messages.SUCCESS)

    def _revoke(self, request: HttpRequest, queryset: QuerySet[JobRun], *, terminate: bool) -> None:
        actor = request_actor(request, door="admin")
        done, finished = 0, []
        for run in queryset:
            try:
                job_run_revoke(run=run, terminate=terminate, actor=actor)
                done += 1
            except RunFinished as exc:
                finished.append(f"{exc.run.job_name} ({exc.run.status})")
        verb = "terminated" if terminate else "revoked"
        if done:
            self.message_user(request, ngettext(f"%d run {verb}.", f"%d runs {verb}.", done) % done, messages.SUCCESS)
        if finished:
            self.message_user(request, f"Already finished, left alone: {', '.join(finished)}.", messages.WARNING)

    @admin.action(description="Revoke (never start; a running run finishes)", permissions=["retry"])
    @destructive
    def revoke(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> None:
        self._revoke(request, queryset, terminate=False)

    @admin.action(description="Terminate (kill the running task, release its locks and claims)", permissions=["retry"])
    @destructive
    def terminate(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> None:
        self._revoke(request, queryset, terminate=True)

    # Reading only: viewers may export what they may see.
    @admin.action(description="Export selected runs as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> StreamingHttpResponse:
        return job_runs_csv_response(queryset.order_by("-started_at", "-id"))


admin.site.unregister(PeriodicTask)


def _percentiles_header(days: int) -> str:
    # Markup first: the changelist capitalises a plain-text header ("P50").
    return format_html(
        '<abbr title="median of the successful runs">p50</abbr> / '
        '<abbr title="95th percentile of the successful runs">p95</abbr> ({} d)',
        days,
    )


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(BeatPeriodicTaskAdmin):
    """django-celery-beat's admin plus lateness, last run and a "Run now" that records who asked."""

    list_display = [
        "name",
        "enabled",
        "scheduler",
        "lateness",
        "durations_7d",
        "durations_30d",
        "last_run_at",
        "total_run_count",
        "one_off",
    ]
    actions = ["enable_tasks", "disable_tasks", "toggle_tasks", "run_now"]

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        """Lateness and durations of the whole page in a few queries, not a few per row."""
        changelist = super().get_changelist_instance(request)
        tasks = list(changelist.result_list)  # evaluated once: the template reads the same rows
        now = timezone.now()
        lateness = jobs_lateness(tasks, now=now)
        durations = job_duration_stats(now=now, job_names=[_job_name(task) for task in tasks])
        for task in tasks:
            task.ops_lateness = lateness[task.pk]  # type: ignore[attr-defined]
            task.ops_durations = durations.get(_job_name(task), {})  # type: ignore[attr-defined]
        return changelist

    @admin.display(description="Late?")
    def lateness(self, obj: PeriodicTask) -> str:
        status: Lateness = getattr(obj, "ops_lateness", None) or job_lateness(obj, now=timezone.now())
        if status.late:
            return format_html('<b style="color:#c62828" title="{}">LATE</b>', status.reason)
        return mark_safe('<span style="color:#2e7d32">on time</span>')

    @admin.display(description=_percentiles_header(7))
    def durations_7d(self, obj: PeriodicTask) -> str:
        return _durations_cell(getattr(obj, "ops_durations", {}).get(7))

    @admin.display(description=_percentiles_header(30))
    def durations_30d(self, obj: PeriodicTask) -> str:
        return _durations_cell(getattr(obj, "ops_durations", {}).get(30))

    # django-celery-beat's own toggles declare no permission (viewers could switch every job off)
    # and leave no record: the same actions, for those who may change the schedule, one audited
    # toggle per task through the service the API uses.
    def _set_enabled(self, request: HttpRequest, queryset: QuerySet[PeriodicTask], enabled: bool | None) -> None:
        actor = request_actor(request, door="admin")
        changed = 0
        for task in queryset:
            changed += job_services.job_set_enabled(
                name=task.name, enabled=(not task.enabled) if enabled is None else enabled, actor=actor
            )
        verb = "toggled" if enabled is None else "enabled" if enabled else "disabled"
        self.message_user(request, ngettext(f"%d task was {verb}.", f"%d tasks were {verb}.", changed) % changed)

    @admin.action(description=BeatPeriodicTaskAdmin.enable_tasks.short_description, permissions=["change"])
    def enable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description=BeatPeriodicTaskAdmin.disable_tasks.short_description, permissions=["change"])
    def disable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        self._set_enabled(request, queryset, False)

    @admin.action(description=BeatPeriodicTaskAdmin.toggle_tasks.short_description, permissions=["change"])
    def toggle_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        self._set_enabled(request, queryset, None)

    @admin.action(description="Run now (records trigger=admin)", permissions=["change"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        actor = request_actor(request, door="admin")
        runs = [job_services.job_run_now(name=task.name, actor=actor, trigger=JobRun.Trigger.ADMIN) for task in queryset]
        self.message_user(
            request,
            ngettext("%(n)d task queued: %(ids)s", "%(n)d tasks queued: %(ids)s", len(runs))
            % {"n": len(runs), "ids": ", ".join(f"{r.job_name} ({r.task_id})" for r in runs)},
            messages.SUCCESS,
        )


def _job_name(task: PeriodicTask) -> str:
    return task.task.rsplit(".", 1)[-1]


def _durations_cell(stats: DurationStats | None) -> str:
    if stats is None or not stats.runs or stats.p50_ms is None or stats.p95_ms is None:
        return "—"
    return format_html(
        '<span style="white-space:nowrap">{} / {}</span><br><small style="color:var(--body-quiet-color,#666)">{} run{}</small>',
        duration_text(stats.p50_ms),
        duration_text(stats.p95_ms),
        stats.runs,
        "" if stats.runs == 1 else "s",
    )


class JobPingForm(forms.ModelForm):
    new_url = forms.CharField(
        label="Ping URL",
        required=False,
        max_length=2000,
        help_text="healthchecks.io-style URL (`<url>/start`, `<url>`, `<url>/fail` are called). Leave blank to keep the current one.",
    )

    class Meta:
        model = JobPing
        fields = ["job_name"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        url = data.get("new_url", "").strip()
        if not url and not self.instance.pk:
            self.add_error("new_url", "Give the ping URL.")
        elif url:
            try:
                url_check_target(url)
            except TargetRefused as exc:
                self.add_error("new_url", str(exc))
        return data


@admin.register(JobPing)
class JobPingAdmin(admin.ModelAdmin):
    """Outside monitors per job (docs/runbooks/job-ping-urls.md): the URL is written through the job service, never shown."""

    form = JobPingForm
    list_display = ["job_name", "updated_at"]
    fields = ["job_name", "new_url", "updated_at"]
    readonly_fields = ["updated_at"]

    def save_model(self, request: HttpRequest, obj: JobPing, form: forms.ModelForm, change: bool) -> None:
        url = form.cleaned_data.get("new_url", "").strip()
        if url:
            job_services.job_ping_set(name=obj.job_name, url=url, actor=request_actor(request, door="admin"))
            obj.pk = JobPing.objects.get(job_name=obj.job_name).pk

    def delete_model(self, request: HttpRequest, obj: JobPing) -> None:
        job_services.job_ping_set(name=obj.job_name, url="", actor=request_actor(request, door="admin"))


class KillSwitchForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=REASON_MAX_LENGTH,
        required=False,
        help_text="Why all work stops: shown on every admin page and in /api/health.",
    )
    resume_at = forms.DateTimeField(
        required=False, help_text="UTC, e.g. 2026-12-07 16:00. Empty: work resumes only when someone resumes it here."
    )
    confirmed = forms.BooleanField(
        required=False, label="I understand that no worker takes any work and beat sends nothing until it is resumed."
    )


@admin.register(KillSwitch)
class KillSwitchAdmin(admin.ModelAdmin):
    """Not a list: the switch's page (state, throw, resume), at the top of the operations home.
    Staff see it; only the admin role may change it, after a recent sign-in (core.stepup)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: KillSwitch | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: KillSwitch | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = KillSwitchForm(request.POST if request.method == "POST" else None)
        if request.method == "POST":
            operation = request.POST.get("operation", "")
            action = {"engage": "kill_switch.engage", "release": "kill_switch.resume"}.get(operation)
            if action is None:
                messages.error(request, "Choose to throw or to resume the kill switch.")
                return HttpResponseRedirect(request.path)
            if not user_is_admin(request.user):
                kill_switch_refused(actor=request_actor(request, door="admin"), action=action, why="not in the admin role")
                raise PermissionDenied("Only the admin role may throw or resume the kill switch.")
            if operation == "release":
                return self._release(request)
            return self._engage(request, form)
        return self._page(request, form)

    def _engage(self, request: HttpRequest, form: KillSwitchForm) -> HttpResponse:
        if not form.is_valid() or not form.cleaned_data["confirmed"]:
            if form.is_valid():
                form.add_error("confirmed", "Tick the box to confirm that all work stops.")
            messages.error(request, "The kill switch was not thrown: see the form.")
            return self._page(request, form, status=400)
        step_up = step_up_for_view(
            request, modeladmin=self, name="kill_switch_engage", what="Throw the kill switch: all work stops"
        )
        if step_up is not None:
            return step_up
        try:
            control = kill_switch_engage(
                reason=form.cleaned_data["reason"],
                resume_at=form.cleaned_data["resume_at"],
                actor=request_actor(request, door="admin"),
            )
        except KillSwitchInvalid as exc:
            for name, errors in exc.errors.items():
                for error in errors:
                    form.add_error(name, error)
            messages.error(request, f"The kill switch was not thrown: {exc}")
            return self._page(request, form, status=400)
        workers = ", ".join(control.workers) or "no worker was consuming"
        messages.warning(request, f"Kill switch thrown: all work paused ({workers}).")
        return HttpResponseRedirect(request.path)

    def _release(self, request: HttpRequest) -> HttpResponse:
        step_up = step_up_for_view(request, modeladmin=self, name="kill_switch_release", what="Resume all work (kill switch off)")
        if step_up is not None:
            return step_up
        control = kill_switch_release(actor=request_actor(request, door="admin"))
        if control.changed:
            messages.success(request, f"Work resumed ({', '.join(control.workers) or 'no worker to give queues back to'}).")
        else:
            messages.info(request, "The kill switch was not engaged.")
        return HttpResponseRedirect(request.path)

    def _page(self, request: HttpRequest, form: KillSwitchForm, *, status: int = 200) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Kill switch",
            "opts": self.model._meta,
            "state": kill_switch_state(),
            "form": form,
            "can_change": user_is_admin(request.user),
        }
        return TemplateResponse(request, "admin/jobs/killswitch.html", context, status=status)


def kill_switch_banner(request: HttpRequest) -> dict[str, str] | None:
    """On every admin page while the switch is engaged."""
    switch = kill_switch_get()
    if not switch.engaged:
        return None
    resume = f" Resumes at {switch.resume_at:%Y-%m-%d %H:%M} UTC." if switch.resume_at else " Resumes only by hand."
    try:
        link = reverse("admin:jobs_killswitch_changelist")
    except NoReverseMatch:
        link = ""
    return {
        "key": "kill-switch",
        "text": f"Kill switch engaged by {switch.engaged_by}: all work paused. Reason: {switch.reason}.{resume}",
        "link": link,
        "link_text": "kill switch",
    }


admin_banner_register(kill_switch_banner)
