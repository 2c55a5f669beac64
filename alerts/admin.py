"""Admin of alerting: alerts (open first, with Acknowledge / Snooze until / Resolve), rules,
notification channels with their delivery log. Channel targets and secrets are write-only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import ngettext

from alerts import services
from alerts.channels import channel_validate_target
from alerts.conditions import rule_params_errors
from alerts.models import Alert, AlertEvent, AlertRule, Delivery, Notification, NotificationChannel
from audit.services import audit_record
from core.actors import request_actor

SEVERITY_COLOURS = {"critical": "#c62828", "warning": "#ef6c00"}
STATE_ORDER = Case(
    When(state=Alert.State.OPEN, then=Value(0)),
    When(state=Alert.State.ACKNOWLEDGED, then=Value(1)),
    When(state=Alert.State.SNOOZED, then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
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
    model = Notification
    extra = 0
    can_delete = False
    fields = readonly_fields = ("created_at", "kind", "channel", "status", "attempts", "sent_at", "next_attempt_at")
    verbose_name_plural = "Notifications"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
    list_filter = ["state", "severity", "rule"]
    list_select_related = ["rule"]
    search_fields = ["subject", "subject_label", "rule__name"]
    readonly_fields = [*(f.name for f in Alert._meta.fields), "runbook"]
    inlines = [AlertEventInline, AlertNotificationInline]
    actions = ["acknowledge", "snooze_until", "resolve"]

    @admin.display(description="Runbook")
    def runbook(self, obj: Alert) -> str:
        url = obj.rule.runbook_url()
        return format_html('<a href="{}">{}</a>', url, url) if url else "—"

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
        return format_html('<span style="color:{}">{}</span>', colour, obj.get_state_display())

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
            self.message_user(request, f"{skipped} skipped (already resolved).", messages.WARNING)

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
    readonly_fields = ["last_evaluated_at", "last_error"]
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
            .annotate(n_open=Count("alerts", filter=~Q(alerts__state=Alert.State.RESOLVED)))
        )

    @admin.display(description="Channels")
    def channel_names(self, obj: AlertRule) -> str:
        return ", ".join(c.name for c in obj.channels.all()) or "—"

    @admin.display(description="Unresolved", ordering="n_open")
    def open_alerts(self, obj: AlertRule) -> int:
        return int(getattr(obj, "n_open", 0))

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


class ChannelForm(forms.ModelForm):
    """Target and secret are typed in, never shown back: blank keeps the stored value."""

    new_target = forms.CharField(
        label="Target",
        required=False,
        max_length=2000,
        help_text="Email address or webhook URL. Leave blank to keep the current one.",
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
class NotificationChannelAdmin(admin.ModelAdmin):
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
