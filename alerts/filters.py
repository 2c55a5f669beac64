"""The alerts list's filters (`GET alerts`)."""

from __future__ import annotations

from django_filters import rest_framework as filters

from alerts.models import Alert


class AlertFilter(filters.FilterSet):
    state = filters.ChoiceFilter(choices=Alert.State.choices)

    class Meta:
        model = Alert
        fields: list[str] = []
