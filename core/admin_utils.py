"""Admin helpers: estimated counts and no encrypted column loaded for big tables; a bulk action's dry-run confirmation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from core.crypto import EncryptedTextField

# From this many rows (PostgreSQL's estimate) an unfiltered list shows the estimate, not COUNT(*).
ESTIMATE_FROM_ROWS = 10000


class EstimatedCountPaginator(Paginator):
    """Unfiltered changelists use PostgreSQL's row estimate instead of a full COUNT(*).

    Filtered querysets are usually small and keep the exact count.
    """

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where:
            table = query.model._meta.db_table
            # One statement whichever way it goes, so a page's queries do not change with the
            # table's size: reltuples is -1 before the first ANALYZE, and small tables are cheap
            # to count exactly.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT CASE WHEN reltuples >= %s THEN reltuples::bigint ELSE (SELECT COUNT(*) FROM {connection.ops.quote_name(table)}) END "
                    "FROM pg_class WHERE oid = %s::regclass",
                    [ESTIMATE_FROM_ROWS, table],
                )
                row = cursor.fetchone()
            if row:
                return int(row[0])
        return super().count


class FastChangelistMixin:
    """Changelists that load no encrypted column (tokens, secrets) of their rows or of the rows
    they join: no changelist shows one, and each costs a Fernet decrypt per row (BENCHMARKS.md:
    200 per playlists page, two account tokens per row). The rest, row checkboxes and row
    links included, is Django's own."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return EncryptedDeferredChangeList


class EncryptedDeferredChangeList(ChangeList):
    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        queryset = super().get_queryset(request, exclude_parameters)
        secrets = encrypted_fields(queryset, shown=self.list_display)
        return queryset.defer(*secrets) if secrets else queryset


def encrypted_fields(queryset: QuerySet[Any], *, shown: Sequence[Any] = ()) -> list[str]:
    """`EncryptedTextField`s that the rows of `queryset` and the rows it joins would load, as
    defer() names them, less any column the page shows. The joins are the query's own: a
    changelist's `list_select_related`, or select_related() when that is False and
    `list_display` names a foreign key."""
    query = queryset.query
    models = [("", queryset.model), *_joined_models(queryset.model, query.select_related, max_depth=query.max_depth)]
    return [
        f"{prefix}{field.name}"
        for prefix, model in models
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField) and f"{prefix}{field.name}" not in shown
    ]


def _joined_models(
    model: type[Model], joined: bool | Mapping[str, Any], *, max_depth: int, prefix: str = "", depth: int = 1
) -> list[tuple[str, type[Model]]]:
    """(defer() prefix, model) of each relation select_related() follows: the named ones, or
    for `True` every non-null foreign key down to `max_depth`, as Django's compiler does."""
    if joined is True:
        if depth > max_depth:
            return []
        joined = {field.name: True for field in model._meta.concrete_fields if field.is_relation and not field.null}
    if not isinstance(joined, Mapping):
        return []
    found: list[tuple[str, type[Model]]] = []
    for name, nested in joined.items():
        related = model._meta.get_field(name).related_model
        if isinstance(related, type) and issubclass(related, Model):
            found.append((f"{prefix}{name}__", related))
            found.extend(_joined_models(related, nested, max_depth=max_depth, prefix=f"{prefix}{name}__", depth=depth + 1))
    return found


def dry_run_confirmation(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    preview: Mapping[str, Any],
    title: str,
    lead: str,
    what: str,
    submit_label: str,
    count: int | None = None,
) -> TemplateResponse:
    """The page a bulk action answers first: its dry run (spotify.previews.CallPlan's figures)
    and a form that posts the same selection back with `post=yes`, which runs it; `count` adds a
    how-many field that previews again."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.model._meta,
        "preview": preview,
        "lead": lead,
        "what": what,
        "submit_label": submit_label,
        "count": count,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
    }
    return TemplateResponse(request, "admin/dry_run_confirmation.html", context)
