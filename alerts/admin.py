"""Admin of alerting: alerts (open first, pending filterable, with Acknowledge / Snooze until /
Silence for 2 h / Resolve), silences, rules, notification channels with their delivery log.
Channel targets and secrets are write-only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.timesince import timesince
from django.utils.translation import ngettext

from alerts import services
from alerts.channels import channel_validate_target
from alerts.conditions import rule_params_errors
from alerts.models import (
    Alert,
    AlertEvent,
    AlertRule,
    AlertSilence,
    AlertSilenceQuerySet,
    Delivery,
    Notification,
    NotificationChannel,
)
from audit.services import audit_record
from core.actors import request_actor
from core.stepup import StepUpToChangeMixin

SEVERITY_COLOURS = {"critical": "#c62828", "warning": "#ef6c00"}
STATE_ORDER = Case(
    When(state=Alert.State.OPEN, then=Value(0)),
    When(state=Alert.State.ACKNOWLEDGED, then=Value(1)),
    When(state=Alert.State.SNOOZED, then=Value(2)),
    When(state=Alert.State.PENDING, then=Value(3)),
    default=Value(4),
    output_field=IntegerField(),
)
SILENCE_HOURS = 2
# An alert page's link to the incident timeline looks this far back from the opening.
ALERT_TIMELINE_BEFORE = timedelta(minutes=30)
# Rules whose subject is an account id: their timeline link filters by `account`.
ACCOUNT_RULES = (
    AlertRule.Kind.ACCOUNT_REAUTH_REQUIRED,
    AlertRule.Kind.ACCOUNT_REAUTH_DUE,
    AlertRule.Kind.ACCOUNT_QUARANTINED,
)


class AlertEventInline(admin.TabularInline):
    model = AlertEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = ("at", "kind", "actor", "note")
    verbose_name_plural = "Timeline"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AlertNotificationInline(admin.TabularInline):
    """The messages that carried this alert (a grouped one carries its rule's other alerts too)."""

    model = Notification.alerts.through
    extra = 0
    can_delete = False
    fields = readonly_fields = ("created_at", "kind", "channel", "status", "group_size", "sent_at")
    verbose_name = "notification"
    verbose_name_plural = "Notifications"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return (
            super()
            .get_queryset(request)
            .select_related("notification__channel")
            .annotate(n_alerts=Count("notification__alerts"))
            .order_by("notification__created_at", "notification_id")
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Queued")
    def created_at(self, obj: Any) -> Any:
        return obj.notification.created_at

    @admin.display(description="Kind")
    def kind(self, obj: Any) -> str:
        return str(obj.notification.get_kind_display())

    @admin.display(description="Channel")
    def channel(self, obj: Any) -> str:
        return str(obj.notification.channel.name)

    @admin.display(description="Status")
    def status(self, obj: Any) -> str:
        return str(obj.notification.get_status_display())

    @admin.display(description="Alerts in the message")
    def group_size(self, obj: Any) -> int:
        return int(getattr(obj, "n_alerts", 1))

    @admin.display(description="Sent")
    def sent_at(self, obj: Any) -> Any:
        return obj.notification.sent_at or "—"


class SnoozeForm(forms.Form):
    until = forms.DateTimeField(
        help_text="UTC, e.g. 2026-12-01 18:00.", widget=forms.DateTimeInput(attrs={"placeholder": "YYYY-MM-DD HH:MM"})
    )
    reason = forms.CharField(max_length=300)

    def clean_until(self) -> Any:
        until = self.cleaned_data["until"]
        if until <= timezone.now():
            raise forms.ValidationError("Snooze until a time in the future.")
        return until


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["rule", "subject_display", "severity_badge", "state_badge", "age", "last_notified_at", "snooze"]
    list_filter = ["state", "severity", "flapping", "rule"]
    list_select_related = ["rule"]
    search_fields = ["subject", "subject_label", "rule__name"]
    readonly_fields = [*(f.name for f in Alert._meta.fields), "runbook", "before_it_opened"]
    inlines = [AlertEventInline, AlertNotificationInline]
    actions = ["acknowledge", "snooze_until", "silence_2h", "resolve"]

    @admin.display(description="Runbook")
    def runbook(self, obj: Alert) -> str:
        url = obj.rule.runbook_url()
        return format_html('<a href="{}">{}</a>', url, url) if url else "—"

    @admin.display(description="What changed")
    def before_it_opened(self, obj: Alert) -> str:
        """The incident timeline (metrics, above this app: reached by URL name) over the 30
        minutes before the alert opened, its opening included, filtered to its subject."""
        try:
            url = reverse("admin:metrics_timeline")
        except NoReverseMatch:
            return "—"
        query = {
            "since": (obj.opened_at - ALERT_TIMELINE_BEFORE).isoformat(),
            "until": (obj.opened_at + timedelta(seconds=1)).isoformat(),
            "account" if obj.rule.kind in ACCOUNT_RULES else "subject": obj.subject,
        }
        return format_html('<a id="alert-timeline" href="{}?{}">the 30 minutes before it opened</a>', url, urlencode(query))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Alert]:
        return super().get_queryset(request).annotate(state_order=STATE_ORDER).order_by("state_order", "-opened_at", "-id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Subject", ordering="subject")
    def subject_display(self, obj: Alert) -> str:
        return obj.subject_label or obj.subject

    @admin.display(description="Severity", ordering="severity")
    def severity_badge(self, obj: Alert) -> str:
        return format_html('<b style="color:{}">{}</b>', SEVERITY_COLOURS.get(obj.severity, "#000"), obj.get_severity_display())

    @admin.display(description="State", ordering="state_order")
    def state_badge(self, obj: Alert) -> str:
        colour = "#c62828" if obj.state == Alert.State.OPEN else "#555" if obj.is_active else "#2e7d32"
        if obj.state == Alert.State.PENDING:
            colour = "#8d6e63"
        flapping = " (flapping)" if obj.flapping and obj.state != Alert.State.RESOLVED else ""
        return format_html('<span style="color:{}">{}{}</span>', colour, obj.get_state_display(), flapping)

    @admin.display(description="Age", ordering="opened_at")
    def age(self, obj: Alert) -> str:
        return timesince(obj.opened_at, obj.resolved_at or timezone.now())

    @admin.display(description="Snoozed")
    def snooze(self, obj: Alert) -> str:
        if obj.state != Alert.State.SNOOZED or obj.snoozed_until is None:
            return ""
        return f"until {obj.snoozed_until:%Y-%m-%d %H:%M} UTC: {obj.snooze_reason}"

    def _each(self, request: HttpRequest, queryset: QuerySet[Alert], apply: Any, verb: str) -> None:
        done, skipped = 0, 0
        for alert in queryset:
            try:
                apply(alert)
                done += 1
            except services.AlertStateError:
                skipped += 1
        self.message_user(request, ngettext("%(n)d alert %(verb)s.", "%(n)d alerts %(verb)s.", done) % {"n": done, "verb": verb})
        if skipped:
            self.message_user(request, f"{skipped} skipped (resolved, or pending and not opened).", messages.WARNING)

    @admin.action(description="Acknowledge (stop reminders)", permissions=["change"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        actor = request_actor(request, door="admin")
        self._each(request, queryset, lambda a: services.alert_acknowledge(alert=a, actor=actor), "acknowledged")

    @admin.action(description="Snooze until…", permissions=["change"])
    def snooze_until(self, request: HttpRequest, queryset: QuerySet[Alert]) -> HttpResponse | None:
        form = SnoozeForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            actor = request_actor(request, door="admin")
            until, reason = form.cleaned_data["until"], form.cleaned_data["reason"]
            self._each(
                request, queryset, lambda a: services.alert_snooze(alert=a, until=until, reason=reason, actor=actor), "snoozed"
            )
            return None
        if "apply" not in request.POST:
            form.initial = {"until": (timezone.now() + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")}
        context = {
            **self.admin_site.each_context(request),
            "title": "Snooze alerts",
            "opts": self.model._meta,
            "alerts": queryset,
            "form": form,
            "action": "snooze_until",
        }
        return TemplateResponse(request, "admin/alerts/alert/snooze.html", context)

    @admin.action(description=f"Silence for {SILENCE_HOURS} h (this rule and subject)", permissions=["change"])
    def silence_2h(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        actor = request_actor(request, door="admin")
        silences = [
            services.alert_silence(alert=alert, duration=timedelta(hours=SILENCE_HOURS), actor=actor)
            for alert in queryset.select_related("rule").exclude(state=Alert.State.RESOLVED)
        ]
        skipped = queryset.filter(state=Alert.State.RESOLVED).count()
        if silences:
            until = f"{silences[0].ends_at:%Y-%m-%d %H:%M} UTC"
            self.message_user(
                request,
                ngettext("%(n)d silence created, until %(until)s.", "%(n)d silences created, until %(until)s.", len(silences))
                % {"n": len(silences), "until": until},
            )
        if skipped:
            self.message_user(request, f"{skipped} skipped (already resolved).", messages.WARNING)

    @admin.action(description="Resolve", permissions=["change"])
    def resolve(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        actor = request_actor(request, door="admin")
        self._each(request, queryset, lambda a: services.alert_resolve(alert=a, actor=actor), "resolved")


class AlertRuleForm(forms.ModelForm):
    """Refuses params a rule's kind cannot read (alerts.conditions.rule_params_errors), one field error each."""

    class Meta:
        model = AlertRule
        fields = ["kind", "params"]  # the admin's `fields` add the rest

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") and "params" in data:
            for name, why in rule_params_errors(data["kind"], data["params"]).items():
                self.add_error("params", why if name == "params" else f"{name}: {why}")
        return data


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    form = AlertRuleForm
    list_display = [
        "name",
        "kind",
        "severity",
        "enabled",
        "pending_for",
        "reminder_interval",
        "channel_names",
        "open_alerts",
        "last_error_short",
    ]
    list_filter = ["enabled", "severity", "kind"]
    list_editable = ["enabled"]
    search_fields = ["name"]
    filter_horizontal = ["channels"]
    readonly_fields = ["last_evaluated_at", "last_error", "error_since"]
    fields = [
        "name",
        "kind",
        "description",
        "runbook",
        "params",
        "severity",
        "channels",
        "pending_for",
        "reminder_interval",
        "enabled",
        *readonly_fields,
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AlertRule]:
        return (
            super()
            .get_queryset(request)
            .prefetch_related("channels")
            .annotate(
                n_open=Count("alerts", filter=~Q(alerts__state__in=[Alert.State.RESOLVED, Alert.State.PENDING])),
                n_pending=Count("alerts", filter=Q(alerts__state=Alert.State.PENDING)),
            )
        )

    @admin.display(description="Channels")
    def channel_names(self, obj: AlertRule) -> str:
        return ", ".join(c.name for c in obj.channels.all()) or "—"

    @admin.display(description="Open (pending)", ordering="n_open")
    def open_alerts(self, obj: AlertRule) -> str:
        pending = int(getattr(obj, "n_pending", 0))
        return f"{int(getattr(obj, 'n_open', 0))}" + (f" ({pending})" if pending else "")

    @admin.display(description="Last error")
    def last_error_short(self, obj: AlertRule) -> str:
        return obj.last_error[:100]

    def save_model(self, request: HttpRequest, obj: AlertRule, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        actor = request_actor(request, door="admin")
        if change:
            services.rule_audit_change(rule=obj, actor=actor, fields=list(form.changed_data))
        else:
            audit_record(actor=actor, action="alert_rule.create", target=obj, details={"kind": obj.kind})

    def delete_model(self, request: HttpRequest, obj: AlertRule) -> None:
        audit_record(actor=request_actor(request, door="admin"), action="alert_rule.delete", target=obj)
        super().delete_model(request, obj)


class SilenceStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(AlertSilence.Status.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[AlertSilence]) -> QuerySet[AlertSilence]:
        value = self.value()
        if value not in AlertSilence.Status.values:
            return queryset
        return cast(AlertSilenceQuerySet, queryset).with_status(value, timezone.now())


class SilenceForm(forms.ModelForm):
    class Meta:
        model = AlertSilence
        fields = ["rule", "subject", "starts_at", "ends_at", "reason"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("subject") and "rule" not in self.errors:
            try:
                services.silence_check_matches(rule=data.get("rule"), subject=data["subject"])
            except ValidationError as exc:
                self.add_error(None, exc)
        return data


@admin.register(AlertSilence)
class AlertSilenceAdmin(admin.ModelAdmin):
    """Silences are never edited: expire one and make another (the change page is read-only)."""

    form = SilenceForm
    list_display = ["id", "rule_display", "subject", "status_badge", "starts_at", "ends_at", "reason", "created_by", "expired"]
    list_display_links = ["id", "rule_display"]
    list_filter = [SilenceStatusFilter, "rule"]
    list_select_related = ["rule"]
    search_fields = ["subject", "reason", "created_by", "rule__name"]
    actions = ["expire_now"]
    readonly_fields = ["created_by", "created_at", "expired_at", "expired_by"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        editable = ["rule", "subject", "starts_at", "ends_at", "reason"]
        return editable if obj is None else [*editable, *self.readonly_fields]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        now = timezone.now()
        return {
            "subject": "*",
            "starts_at": now,
            "ends_at": now + timedelta(hours=SILENCE_HOURS),
            **super().get_changeform_initial_data(request),
        }

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Rule", ordering="rule__name")
    def rule_display(self, obj: AlertSilence) -> str:
        return obj.rule.name if obj.rule else "every rule"

    @admin.display(description="Status")
    def status_badge(self, obj: AlertSilence) -> str:
        status = obj.status_at(timezone.now())
        colour = {"active": "#2e7d32", "scheduled": "#1565c0"}.get(status, "#777")
        return format_html('<span style="color:{}">{}</span>', colour, AlertSilence.Status(status).label)

    @admin.display(description="Expired early")
    def expired(self, obj: AlertSilence) -> str:
        return f"{obj.expired_at:%Y-%m-%d %H:%M} by {obj.expired_by}" if obj.expired_at else ""

    def save_model(self, request: HttpRequest, obj: AlertSilence, form: forms.ModelForm, change: bool) -> None:
        created = services.silence_create(
            rule=obj.rule,
            subject=obj.subject,
            starts_at=obj.starts_at,
            ends_at=obj.ends_at,
            reason=obj.reason,
            actor=request_actor(request, door="admin"),
        )
        # The admin's own log and redirect use `obj`: make it the row the service wrote.
        obj.pk, obj.created_by, obj.created_at = created.pk, created.created_by, created.created_at
        obj._state.adding = False

    @admin.action(description="Expire now", permissions=["change"])
    def expire_now(self, request: HttpRequest, queryset: QuerySet[AlertSilence]) -> None:
        actor = request_actor(request, door="admin")
        done, skipped = 0, 0
        for silence in queryset:
            try:
                services.silence_expire(silence=silence, actor=actor)
                done += 1
            except services.AlertStateError:
                skipped += 1
        self.message_user(request, ngettext("%d silence expired.", "%d silences expired.", done) % done)
        if skipped:
            self.message_user(request, f"{skipped} skipped (already ended).", messages.WARNING)


class ChannelForm(forms.ModelForm):
    """Target and secret are typed in, never shown back: blank keeps the stored value."""

    new_target = forms.CharField(
        label="Target",
        required=False,
        max_length=2000,
        help_text="Email address, webhook URL, or PagerDuty integration (routing) key. Leave blank to keep the current one.",
    )
    new_secret = forms.CharField(
        label="Secret",
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False),
        help_text="Signed webhook only: the HMAC key. Leave blank to keep the current one.",
    )

    class Meta:
        model = NotificationChannel
        fields = ["name", "kind", "enabled"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        target = data.get("new_target", "").strip()
        if not target and not self.instance.pk:
            self.add_error("new_target", "A new channel needs a target.")
        elif target and data.get("kind"):
            try:
                channel_validate_target(kind=data["kind"], target=target)
            except ValueError as exc:
                self.add_error("new_target", str(exc))
        return data

    def save(self, commit: bool = True) -> NotificationChannel:
        channel = super().save(commit=False)
        if self.cleaned_data.get("new_target"):
            channel.target = self.cleaned_data["new_target"].strip()
        if self.cleaned_data.get("new_secret"):
            channel.secret = self.cleaned_data["new_secret"]
        if commit:
            channel.save()
        return channel


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = readonly_fields = ("at", "ok", "status_code", "duration_ms", "error", "notification")
    verbose_name_plural = "Delivery log (latest first)"
    ordering = ["-at", "-id"]
    max_num = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(NotificationChannel)
class NotificationChannelAdmin(StepUpToChangeMixin, admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "enabled", "last_success_at", "failing", "rule_count"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    readonly_fields = ["target_set", "secret_set", "last_success_at", "failing_since", "last_error", "created_at"]
    fields = ["name", "kind", "enabled", "new_target", "new_secret", *readonly_fields]
    inlines = [DeliveryInline]
    actions = ["send_test"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[NotificationChannel]:
        return super().get_queryset(request).annotate(n_rules=Count("rules"))

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return super().get_inline_instances(request, obj) if obj is not None else []

    @admin.display(description="Target stored", boolean=True)
    def target_set(self, obj: NotificationChannel) -> bool:
        return bool(obj.target)

    @admin.display(description="Secret stored", boolean=True)
    def secret_set(self, obj: NotificationChannel) -> bool:
        return bool(obj.secret)

    @admin.display(description="Failing since", ordering="failing_since")
    def failing(self, obj: NotificationChannel) -> str:
        if obj.failing_since is None:
            return ""
        return format_html('<b style="color:#c62828">{}</b>', f"{obj.failing_since:%Y-%m-%d %H:%M} UTC")

    @admin.display(description="Rules", ordering="n_rules")
    def rule_count(self, obj: NotificationChannel) -> int:
        return int(getattr(obj, "n_rules", 0))

    def save_model(self, request: HttpRequest, obj: NotificationChannel, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.channel_audit_change(
            channel=obj,
            actor=request_actor(request, door="admin"),
            action="alert_channel.change" if change else "alert_channel.create",
            fields=[name.removeprefix("new_") for name in form.changed_data],
        )

    def delete_model(self, request: HttpRequest, obj: NotificationChannel) -> None:
        audit_record(actor=request_actor(request, door="admin"), action="alert_channel.delete", target=obj)
        super().delete_model(request, obj)

    @admin.action(description="Send test notification", permissions=["change"])
    def send_test(self, request: HttpRequest, queryset: QuerySet[NotificationChannel]) -> None:
        actor = request_actor(request, door="admin")
        count = 0
        for channel in queryset:
            services.channel_send_test(channel=channel, actor=actor)
            count += 1
        self.message_user(
            request,
            ngettext(
                "Test notification queued for %d channel: see its delivery log.",
                "Test notifications queued for %d channels.",
                count,
            )
            % count,
        )


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["at", "channel", "ok", "status_code", "duration_ms", "error_short", "notification"]
    list_filter = ["ok", "channel"]
    list_select_related = ["channel", "notification", "notification__channel"]
    readonly_fields = [f.name for f in Delivery._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Error")
    def error_short(self, obj: Delivery) -> str:
        return obj.error[:120]
