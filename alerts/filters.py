"""The alert lists' filters (`GET alerts`, `GET alert-silences`)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters

from alerts.models import Alert, AlertSilence


class AlertFilter(filters.FilterSet):
    state = filters.ChoiceFilter(choices=Alert.State.choices)

    class Meta:
        model = Alert
        fields: list[str] = []


class AlertSilenceFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=AlertSilence.Status.choices, method="by_status")

    class Meta:
        model = AlertSilence
        fields: list[str] = []

    def by_status(self, queryset: QuerySet[AlertSilence], name: str, value: str) -> QuerySet[AlertSilence]:
        return queryset.with_status(value, timezone.now())  # type: ignore[attr-defined]
