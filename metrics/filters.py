"""The metric snapshots' filters (`GET metric-snapshots`)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters

from metrics.dashboard import RANGES
from metrics.models import MetricSnapshot

DEFAULT_RANGE = "24h"


class RangeFilter(filters.ChoiceFilter):
    """Snapshots taken within the range back from now; without one, the last 24 hours (not every
    snapshot kept)."""

    def filter(self, qs: QuerySet[MetricSnapshot], value: str) -> QuerySet[MetricSnapshot]:
        return qs.filter(taken_at__gte=timezone.now() - RANGES[value or DEFAULT_RANGE])


class MetricSnapshotFilter(filters.FilterSet):
    range = RangeFilter(choices=[(name, name) for name in sorted(RANGES)], help_text="How far back: 24h, 7d or 30d.")

    class Meta:
        model = MetricSnapshot
        fields: list[str] = []
