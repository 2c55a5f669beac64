from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from core.admin_utils import EstimatedCountPaginator


class DefaultPagination(PageNumberPagination):
    """Page-number pagination whose `count` is PostgreSQL's estimate on big unfiltered lists.

    A COUNT(*) over a million tracks cost more than the page itself (bench: /api/v1/tracks);
    filtered lists and small tables keep the exact count (see EstimatedCountPaginator).
    """

    django_paginator_class = EstimatedCountPaginator
    page_size_query_param = "page_size"
    max_page_size = 500


class FirstRowsPagination(BasePagination):
    """The first `limit` rows and how many they are, `{"count": n, <rows_key>: [...]}`: a list an
    operator reads from the top (the newest dead letters), with no pages after it."""

    rows_key = "results"
    default_limit = 50
    max_limit = 1000

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        limit = self.default_limit
        if "limit" in request.query_params:
            field = serializers.IntegerField(min_value=1, max_value=self.max_limit)
            try:
                limit = field.run_validation(request.query_params["limit"])
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"limit": exc.detail}) from exc
        self.count = len(rows := list(queryset[:limit]))
        return rows

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"count": self.count, self.rows_key: data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["count", self.rows_key],
            "properties": {"count": {"type": "integer"}, self.rows_key: schema},
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": "limit",
                "required": False,
                "in": "query",
                "description": f"How many rows, from the first (at most {self.max_limit}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
            }
        ]
