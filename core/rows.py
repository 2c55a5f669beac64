"""The big API lists' rows, written as JSON by PostgreSQL: the one way those lists are rendered.

Each list's serializer stays its schema (drf-spectacular documents it; detail views use it).
`json_rows` asks PostgreSQL for the list's rows as that serializer writes them — `row_to_json`
of the serializer's fields, datetimes as DRF formats them in UTC, the API's time zone — and the
renderer embeds the texts as they are: no model instance, no field call per value. The same
lists through their serializers cost 2.2 to 2.9 times the CPU per request (BENCHMARKS.md, "One
path per API list").

A field's source is a column, a one-hop relation or an annotation of the list's queryset; a
computed field is an annotation (its app's selector), so the detail views read the same
definition. Anything else (a method field, a nested serializer) is refused when first listed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Expression, F, Func, Model, OuterRef, QuerySet, Subquery, TextField
from django.db.models.functions import Cast
from rest_framework import serializers
from rest_framework.settings import api_settings

from core.renderers import JsonText


class IsoDateTime(Func):
    """DRF's DateTimeField output in UTC, written by PostgreSQL: microseconds only when there are
    some (as `datetime.isoformat()`), then `Z`. One `to_char` with the microseconds, whose zero
    fraction is then dropped: two `to_char`s and a `date_trunc` per value cost a third of the
    tracks page's query (bench)."""

    output_field = TextField()
    template = "(replace(to_char((%(expressions)s) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') || 'Z')"


class JsonRow(Expression):
    """One row as a JSON object text (`row_to_json` of the named values, in order)."""

    output_field = TextField()

    def __init__(self, fields: Mapping[str, Any]) -> None:
        super().__init__()
        self.fields = dict(fields)

    def get_source_expressions(self) -> list[Any]:
        return list(self.fields.values())

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        self.fields = dict(zip(self.fields, exprs, strict=True))

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        columns: list[str] = []
        params: list[Any] = []
        for name, expression in self.fields.items():
            sql, more = compiler.compile(expression)
            columns.append(f"{sql} AS {connection.ops.quote_name(name)}")
            params.extend(more)
        return f"row_to_json((SELECT _row FROM (SELECT {', '.join(columns)}) AS _row))::text", tuple(params)


def related_column(model: type[Model], column: str) -> Subquery:
    """`fk__name` as a scalar subquery on the foreign key, evaluated for the page's rows only:
    joined instead, PostgreSQL's Memoize set up a cache sized for every row of the table before
    returning 50 (1.4 ms of the tracks page, bench)."""
    relation, _, name = column.partition("__")
    field = model._meta.get_field(relation)
    if "__" in name or not getattr(field, "many_to_one", False) or field.related_model is None:
        raise TypeError(f"{model.__name__}.{column}: only a column of a foreign key's row is read this way")
    related = field.related_model._default_manager.filter(pk=OuterRef(field.attname))  # type: ignore[union-attr]
    return Subquery(related.values(name)[:1])


# How a field's value is written: as PostgreSQL's row_to_json writes the column, as DRF's
# DateTimeField writes it, or as text.
AS_IS, DATETIME, TEXT = "as is", "datetime", "text"


def _kind(field: serializers.Field) -> str:
    """How `field.to_representation` writes a value that row_to_json must match."""
    if isinstance(field, serializers.DateTimeField):
        if getattr(field, "format", api_settings.DATETIME_FORMAT).lower() != "iso-8601":
            raise TypeError(f"{field.field_name}: only ISO 8601 datetimes are written by PostgreSQL")
        return DATETIME
    if isinstance(field, serializers.ChoiceField):
        return AS_IS
    if isinstance(field, serializers.CharField):
        return TEXT
    # row_to_json writes these as DRF does: numbers, booleans, dates, UUIDs, JSON, text arrays, a
    # foreign key's pk. Not floats: PostgreSQL writes 1.0 as `1`.
    plain = (
        serializers.IntegerField,
        serializers.BooleanField,
        serializers.DateField,
        serializers.UUIDField,
        serializers.JSONField,
        serializers.ReadOnlyField,
    )
    if isinstance(field, plain):
        return AS_IS
    if isinstance(field, serializers.ListField) and isinstance(field.child, serializers.CharField):
        return AS_IS
    if isinstance(field, serializers.PrimaryKeyRelatedField) and field.pk_field is None:
        return AS_IS
    raise TypeError(f"{field.field_name}: {type(field).__name__} is not written by PostgreSQL; make it an annotation")


@cache
def _plan(serializer_class: type[serializers.Serializer]) -> tuple[tuple[str, str, str], ...]:
    """(output name, source as a lookup path, kind) per readable field, read once per serializer."""
    return tuple(
        (name, ".".join(field.source_attrs).replace(".", "__"), _kind(field))
        for name, field in serializer_class().fields.items()
        if not field.write_only
    )


def _written(expression: Any, kind: str) -> Any:
    if kind == DATETIME:
        return IsoDateTime(expression)
    if kind == TEXT:
        return Cast(expression, TextField())
    return expression


class Compiled(Expression):
    """SQL compiled before, used as it is."""

    output_field = TextField()

    def __init__(self, sql: str, params: tuple[Any, ...]) -> None:
        super().__init__()
        self.sql, self.params = sql, params

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        return self.sql, self.params


@cache
def _columns(serializer_class: type[serializers.Serializer], model: type[Model]) -> dict[str, Compiled]:
    """The fields read from the model's columns and its foreign keys' rows, compiled once against
    its table: resolving a score of expressions for every page cost about as much as the page's
    query (bench). The other fields are annotations, resolved with each page's query."""
    query = model._default_manager.all().query
    compiler = query.get_compiler(using=DEFAULT_DB_ALIAS)
    columns = {}
    for name, source, kind in _plan(serializer_class):
        try:
            model._meta.get_field(source.partition("__")[0])
        except FieldDoesNotExist:
            continue
        expression = related_column(model, source) if "__" in source else F(source)
        resolved = _written(expression, kind).resolve_expression(query, allow_joins=False)
        columns[name] = Compiled(*resolved.as_sql(compiler, compiler.connection))
    return columns


def json_rows(queryset: QuerySet[Any], serializer_class: type[serializers.Serializer]) -> QuerySet[Any]:
    """The queryset's rows as JSON object texts, each what `serializer_class` says of the row."""
    model: type[Model] = queryset.model
    columns = _columns(serializer_class, model)
    fields = {
        name: columns[name] if name in columns else _written(F(source), kind) for name, source, kind in _plan(serializer_class)
    }
    return queryset.annotate(_row_json=JsonRow(fields)).values_list("_row_json", flat=True)


def json_array(texts: Sequence[str]) -> JsonText:
    """JSON object texts as one array the renderer writes as it is."""
    return JsonText("[" + ",".join(texts) + "]")


class JsonRowsListMixin:
    """A ListAPIView whose page is `json_rows` of its filtered queryset; `serializer_class` says
    what a row is (the schema). Same queryset, filters, pagination and queries as DRF's list."""

    def list(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        rows = json_rows(self.filter_queryset(self.get_queryset()), self.get_serializer_class())  # type: ignore[attr-defined]
        return self.get_paginated_response(json_array(self.paginate_queryset(rows) or []))  # type: ignore[attr-defined]
