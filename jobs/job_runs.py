"""Job history by subject and as CSV: "every run that touched playlist X", exported for a ticket.

Runs record what they worked on in `JobRun.subject` (`{"playlist": ..., "account": ...}`,
`{"accounts": [...]}`, `{"album_sources": [...]}`); a containment lookup (`subject @> {...}`) uses the GIN index.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
from django.db.models import Q, QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from core.rows import json_rows
from jobs.models import JobRun
from jobs.serializers import JobRunSerializer

# The API's fields (JobRunSerializer) an export carries, in its column order.
CSV_COLUMNS = [
    "id",
    "job_name",
    "task_id",
    "trigger",
    "triggered_by",
    "correlation_id",
    "status",
    "queued_at",
    "started_at",
    "finished_at",
    "duration_ms",
    "attempts",
    "worker",
    "subject",
    "args",
    "kwargs",
    "error",
]


def job_runs_touching(
    queryset: QuerySet[JobRun], *, playlist: str | None = None, account: str | None = None, source: int | None = None
) -> QuerySet[JobRun]:
    """Runs whose subject names this playlist / account / album source (all given must match)."""
    if playlist:
        queryset = queryset.filter(subject__contains={"playlist": str(playlist)})
    if account:
        # One account's work names it; a fleet-wide run (token refresh) lists every account it touched.
        queryset = queryset.filter(
            Q(subject__contains={"account": str(account)}) | Q(subject__contains={"accounts": [str(account)]})
        )
    if source is not None:
        queryset = queryset.filter(subject__contains={"album_sources": [int(source)]})
    return queryset


def job_runs_search(queryset: QuerySet[JobRun], term: str) -> QuerySet[JobRun] | None:
    """The admin search by subject: a UUID (a playlist or an account), `playlist:<uuid>`,
    `account:<uuid>` or `source:<id>`; None when the term is none of those."""
    term = term.strip()
    kind, _, value = term.partition(":")
    if kind in ("playlist", "account") and value:
        try:
            ident = str(uuid.UUID(value))
        except ValueError:
            return queryset.none()
        return job_runs_touching(queryset, playlist=ident) if kind == "playlist" else job_runs_touching(queryset, account=ident)
    if kind == "source" and value:
        return job_runs_touching(queryset, source=int(value)) if value.isdigit() else queryset.none()
    try:
        ident = str(uuid.UUID(term))
    except ValueError:
        return None
    return queryset.filter(
        Q(subject__contains={"playlist": ident})
        | Q(subject__contains={"account": ident})
        | Q(subject__contains={"accounts": [ident]})
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else value


def job_runs_csv_rows(queryset: QuerySet[JobRun]) -> Iterator[str]:
    """The runs as the API lists them (core.rows: the same JSON rows), one CSV line each."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    # iterator: a server-side cursor, so a million rows never sit in memory at once.
    for text in json_rows(queryset, JobRunSerializer).iterator(chunk_size=2000):
        row = orjson.loads(text)
        yield writer.writerow([_cell(row[name]) for name in CSV_COLUMNS])


def job_runs_csv_response(queryset: QuerySet[JobRun]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(job_runs_csv_rows(queryset), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="job-runs-{timezone.now():%Y%m%d-%H%M%S}.csv"'
    return response
