"""What the API lists' FilterSets share (django-filter; DjangoFilterBackend is the default backend).

A value the filter cannot read is a 400 naming the parameter, never a filter silently left out:
django-filter's own BooleanFilter reads `?flag=maybe` as "no filter", so booleans here are strict.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django_filters import filters
from django_filters.fields import IsoDateTimeField
from rest_framework import serializers


class StrictBooleanField(forms.Field):
    """`true`/`false` as DRF's BooleanField reads them (`1`, `yes`, `on`, ...); anything else is an error."""

    default_error_messages = {"invalid": "Must be a valid boolean (true or false)."}

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        if value in serializers.BooleanField.TRUE_VALUES:
            return True
        if value in serializers.BooleanField.FALSE_VALUES:
            return False
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


class BooleanFilter(filters.BooleanFilter):
    # django-filter's own BooleanFilter and the DRF variant's widget read an unknown value as None.
    field_class = StrictBooleanField


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 time in UTC, as DRF's DateTimeField reads it: PostgreSQL refuses offsets past
    ±15:59 that Python accepts, and a time near the calendar's end may not exist in UTC."""

    default_error_messages = {"overflow": "Datetime value out of range."}

    def to_python(self, value: Any) -> datetime | None:
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError as exc:
            raise forms.ValidationError(self.error_messages["overflow"], code="overflow") from exc


class DateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class IntegerFilter(filters.NumberFilter):
    """A whole number (django-filter's NumberFilter takes decimals)."""

    field_class = forms.IntegerField


class DayFilter(filters.DateFilter):
    """Rows whose `field_name` falls on this UTC day (YYYY-MM-DD)."""

    def filter(self, qs: QuerySet[Any], value: date | None) -> QuerySet[Any]:
        if value is None:
            return qs
        start = datetime.combine(value, time.min, tzinfo=timezone.get_current_timezone())
        qs = qs.filter(**{f"{self.field_name}__gte": start})
        # The calendar's last day has no next day to end before.
        return qs.filter(**{f"{self.field_name}__lt": start + timedelta(days=1)}) if value < date.max else qs


class SinceUntilForm(forms.Form):
    """A FilterSet form whose `since` must come before its `until`."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since >= until:
            self.add_error("until", "Must be later than `since`.")
        return cleaned
