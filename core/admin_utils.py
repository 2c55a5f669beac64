"""Admin helpers for big tables: estimated counts and cheap per-row rendering."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any
from urllib.parse import quote as urlquote

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote as admin_quote
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import RFC3986_SUBDELIMS
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from core.crypto import EncryptedTextField


class EstimatedCountPaginator(Paginator):
    """Unfiltered changelists use PostgreSQL's row estimate instead of a full COUNT(*).

    Filtered querysets are usually small and keep the exact count.
    """

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where:
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [query.model._meta.db_table])
                row = cursor.fetchone()
            # reltuples is -1 before the first ANALYZE; small tables are cheap to count.
            if row and row[0] >= 10000:
                return int(row[0])
        return super().count


class FastChangelistMixin:
    """Per-row work of a changelist done once per page where Django repeats it per row.

    Django renders each row's checkbox through the form template engine and reverses a URL for
    each row link, work that is the same for every row and was a large share of a changelist
    page (BENCHMARKS.md).
    """

    def action_checkbox(self, obj: Any) -> SafeString:
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            ACTION_CHECKBOX_NAME,
            str(obj.pk),
            format_html(_("Select this object for an action - {}"), str(obj)),
        )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return PrefixReverseChangeList


def encrypted_fields(model: type[Model], *, relations: Sequence[str] = (), shown: Sequence[Any] = ()) -> list[str]:
    """`EncryptedTextField`s of `model` and of the `relations` it joins, as defer() names them,
    less any column the page shows."""
    names = []
    for prefix, related in [("", model), *((f"{name}__", model._meta.get_field(name).related_model) for name in relations)]:
        for field in related._meta.concrete_fields:  # type: ignore[union-attr]
            if isinstance(field, EncryptedTextField) and f"{prefix}{field.name}" not in shown:
                names.append(f"{prefix}{field.name}")
    return names


class PrefixReverseChangeList(ChangeList):
    """Row links from one reversed URL with the pk substituted, as reverse() would quote it.

    Encrypted columns (tokens, secrets) of the rows and of the rows they join are not loaded:
    no changelist shows them, and each costs a Fernet decrypt per row (the playlists changelist
    would decrypt two account tokens per row; BENCHMARKS.md).
    """

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        queryset = super().get_queryset(request, exclude_parameters)
        joined = self.list_select_related if isinstance(self.list_select_related, (list, tuple)) else ()
        secrets = encrypted_fields(self.model, relations=[name for name in joined if "__" not in name], shown=self.list_display)
        return queryset.defer(*secrets) if secrets else queryset

    _PK_PLACEHOLDER = "__changelist_pk__"

    def url_for_result(self, result: Any) -> str:
        template = self.__dict__.get("_change_url_template")
        if template is None:
            template = self.__dict__["_change_url_template"] = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                args=(self._PK_PLACEHOLDER,),
                current_app=self.model_admin.admin_site.name,
            )
        pk = urlquote(str(admin_quote(getattr(result, self.pk_attname))), safe=RFC3986_SUBDELIMS + "/~:@")
        return template.replace(self._PK_PLACEHOLDER, pk)
