"""The job history's filters (`GET job-runs`)."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django_filters import rest_framework as filters

from core.filters import DateTimeFilter, DayFilter, IntegerFilter, SinceUntilForm
from jobs.job_runs import job_runs_touching
from jobs.models import JobRun


class JobRunFilter(filters.FilterSet):
    job = filters.CharFilter(field_name="job_name", max_length=100, help_text="Job name, e.g. refresh_tokens.")
    status = filters.ChoiceFilter(choices=JobRun.Status.choices)
    trigger = filters.ChoiceFilter(choices=JobRun.Trigger.choices)
    date = DayFilter(field_name="started_at", help_text="Runs started on this UTC day (YYYY-MM-DD).")
    since = DateTimeFilter(field_name="started_at", lookup_expr="gte", help_text="Runs started at or after this time.")
    until = DateTimeFilter(field_name="started_at", lookup_expr="lt", help_text="Runs started before this time.")
    playlist = filters.UUIDFilter(method="filter_playlist", help_text="Runs that touched this playlist.")
    account = filters.UUIDFilter(method="filter_account", help_text="Runs that touched this account.")
    album_source = IntegerFilter(method="filter_album_source", min_value=1, help_text="Runs that claimed this album source.")

    class Meta:
        model = JobRun
        fields: list[str] = []
        form = SinceUntilForm

    def filter_playlist(self, queryset: QuerySet[JobRun], name: str, value: uuid.UUID) -> QuerySet[JobRun]:
        return job_runs_touching(queryset, playlist=str(value))

    def filter_account(self, queryset: QuerySet[JobRun], name: str, value: uuid.UUID) -> QuerySet[JobRun]:
        return job_runs_touching(queryset, account=str(value))

    def filter_album_source(self, queryset: QuerySet[JobRun], name: str, value: int) -> QuerySet[JobRun]:
        return job_runs_touching(queryset, source=value)
