"""The audit trail's filters (`GET audit`)."""

from __future__ import annotations

from django_filters import rest_framework as filters

from audit.models import AuditEvent
from core.filters import DateTimeFilter, DayFilter, SinceUntilForm


class AuditEventFilter(filters.FilterSet):
    actor = filters.CharFilter(max_length=150, help_text="e.g. admin:olive")
    action = filters.CharFilter(max_length=100, help_text="e.g. account.deactivate")
    target_type = filters.CharFilter(max_length=100, help_text="e.g. spotify account, queue")
    target_id = filters.CharFilter(max_length=255)
    door = filters.ChoiceFilter(choices=AuditEvent.Door.choices)
    outcome = filters.ChoiceFilter(choices=AuditEvent.Outcome.choices)
    request_id = filters.CharFilter(max_length=64)
    date = DayFilter(field_name="at", help_text="Events on this UTC day (YYYY-MM-DD).")
    since = DateTimeFilter(field_name="at", lookup_expr="gte")
    until = DateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields: list[str] = []
        form = SinceUntilForm
