"""Admin helpers for tables too big to COUNT(*) on every page load."""

from __future__ import annotations

from functools import cached_property

from django.core.paginator import Paginator
from django.db import connection


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
