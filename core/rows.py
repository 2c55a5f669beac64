"""A serializer's output built from `.values()` rows: the API lists' fast path.

DRF's ModelSerializer costs about 0.4 ms a row (bench: /api/v1/tracks, 50 rows: 21 ms of a
30 ms page): a model instance per row and per related row, then one field object call per
value. `RowSerializer` reads the same serializer's fields once, selects just their columns
(`artist.name` -> `artist__name`) and converts each value as the field's `to_representation`
would. The serializer class stays what the OpenAPI schema is built from; tests hold the two
outputs equal row for row.

Faster still, `json_rows` has PostgreSQL write each row as a JSON object (`row_to_json` of the
same fields, datetimes formatted as DRF formats them) and the renderer embeds the texts as they
are: no row is loaded into Python at all. It applies where every field has SQL (a column, a
one-hop relation, or `computed_sql`) and the request is in UTC; otherwise the rows above.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Expression, F, Func, Model, OuterRef, QuerySet, Subquery, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.utils import timezone
from rest_framework import serializers
from rest_framework.settings import api_settings

from core.renderers import JsonText, OrjsonRenderer

Row = dict[str, Any]


def datetime_representation(value: datetime.datetime, tz: datetime.tzinfo | None = None) -> str:
    """DRF's DateTimeField output (ISO 8601, the current time zone, UTC as `Z`)."""
    text = value.astimezone(tz or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _converter(field: serializers.Field) -> Callable[[Any], Any] | None:
    """How `field.to_representation` turns a non-null column value into output (None: as is)."""
    if isinstance(field, serializers.DateTimeField):
        if getattr(field, "format", api_settings.DATETIME_FORMAT).lower() != "iso-8601":
            raise TypeError(f"{field.field_name}: only ISO 8601 datetimes have a row fast path")
        return datetime_representation
    if isinstance(field, serializers.DateField):
        return lambda value: value.isoformat()
    if isinstance(field, serializers.BooleanField):
        return bool
    if isinstance(field, serializers.IntegerField):
        return int
    if isinstance(field, serializers.FloatField):
        return float
    if isinstance(field, serializers.UUIDField):
        return str
    if isinstance(field, serializers.ChoiceField):
        choices = field.choice_strings_to_values
        return lambda value: value if value == "" else choices.get(str(value), value)
    if isinstance(field, serializers.CharField):
        return str
    if isinstance(field, serializers.ListField) and isinstance(field.child, serializers.CharField):
        return lambda value: [str(item) if item is not None else None for item in value]
    if isinstance(field, (serializers.JSONField, serializers.ReadOnlyField)):
        return None
    if isinstance(field, serializers.PrimaryKeyRelatedField) and field.pk_field is None:
        return None  # `.values("account")` is the account's pk, as the field answers
    raise TypeError(f"{field.field_name}: {type(field).__name__} has no row fast path; compute it")


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


def _sql_representation(field: serializers.Field, expression: Any) -> Any:
    """`expression` as `field.to_representation` would write its value, computed in SQL (`row_to_json`
    already writes dates, numbers, booleans, arrays and JSON as DRF does)."""
    converter = _converter(field)
    if converter is datetime_representation:
        return IsoDateTime(expression)
    if isinstance(field, serializers.CharField) and not isinstance(field, serializers.ChoiceField):
        return Cast(expression, TextField())
    return expression


class PerRequest:
    """A parameter of a compiled row read again for each page (a setting a test may override)."""

    def __init__(self, read: Callable[[], Any]) -> None:
        self.read = read

    def __call__(self) -> Any:
        return self.read()


def related_column(model: type[Model], column: str) -> Subquery | None:
    """`fk__name` as a scalar subquery on the foreign key, or None past one hop.

    Evaluated for the page's rows only: joined instead, PostgreSQL's Memoize set up a cache sized
    for every row of the table before returning 50 (1.4 ms of the tracks page, bench)."""
    relation, _, name = column.partition("__")
    field = model._meta.get_field(relation)
    if "__" in name or not getattr(field, "many_to_one", False) or field.related_model is None:
        return None
    related = field.related_model._default_manager.filter(pk=OuterRef(field.attname))  # type: ignore[union-attr]
    return Subquery(related.values(name)[:1])


class RowSerializer:
    """`serializer_class`'s representation of `.values(*columns)` rows.

    `computed` gives a function of the row for fields without a column of their own (properties,
    method fields); `needs` lists the columns those functions read.
    """

    def __init__(
        self,
        serializer_class: type[serializers.Serializer],
        *,
        computed: Mapping[str, Callable[[Row], Any]] | None = None,
        needs: Sequence[str] = (),
        lookups: Mapping[str, Callable[[], Any]] | None = None,
        computed_sql: Mapping[str, Callable[[], Any]] | None = None,
        sql_columns: Mapping[str, Callable[[], Any]] | None = None,
    ) -> None:
        self.serializer_class = serializer_class
        self.computed = dict(computed or {})
        self.needs = list(needs)
        # column ("artist__name") -> an expression selecting it instead of a join (see values()).
        self.lookups = dict(lookups or {})
        self._plan: list[tuple[str, str | None, Callable[[Any], Any] | None]] | None = None
        # name -> an expression computing the `computed` field in SQL (see json_rows()).
        self.computed_sql = dict(computed_sql or {})
        # column -> its expression where the column is a queryset annotation (read when compiled).
        self.sql_columns = sql_columns if sql_columns is not None else {}
        self._json_sql: dict[type[Any], tuple[str, tuple[Any, ...]] | None] = {}

    def plan(self) -> list[tuple[str, str | None, Callable[[Any], Any] | None]]:
        """(output name, column or None when computed, converter) per field, built once."""
        if self._plan is None:
            plan: list[tuple[str, str | None, Callable[[Any], Any] | None]] = []
            for name, field in self.serializer_class().fields.items():
                if field.write_only:
                    continue
                if name in self.computed:
                    plan.append((name, None, None))
                    continue
                column = str(field.source).replace(".", "__")
                plan.append((name, self._alias(column) if column in self.lookups else column, _converter(field)))
            self._plan = plan
        return self._plan

    @staticmethod
    def _alias(column: str) -> str:
        return f"{column}_value".replace("__", "_")

    def values(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """The queryset's rows as `represent` reads them. A related column given in `lookups` is
        a scalar subquery of the page's rows: joined instead, PostgreSQL's Memoize set up a
        cache sized for every row of the table before returning 50 (1.4 ms of the tracks page)."""
        annotations = {self._alias(column): expression() for column, expression in self.lookups.items()}
        return (queryset.annotate(**annotations) if annotations else queryset).values(*self.columns)

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys([column for _, column, _ in self.plan() if column] + self.needs))

    def json_rows(self, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        """The queryset's rows as JSON object texts written by PostgreSQL, the same values as
        `represent` gives; None when a field has no SQL here or the request is not in UTC."""
        if timezone.get_current_timezone_name() != "UTC":
            return None
        model = queryset.model
        if model not in self._json_sql:
            self._json_sql[model] = self._compile_json_row(model)
        compiled = self._json_sql[model]
        if compiled is None:
            return None
        sql, params = compiled
        params = tuple(param() if isinstance(param, PerRequest) else param for param in params)
        # The SQL is Django's own compilation of the serializer's expressions; values stay params.
        row_json = RawSQL(sql, params, output_field=TextField())  # noqa: S611
        return queryset.annotate(_row_json=row_json).values_list("_row_json", flat=True)

    def _compile_json_row(self, model: type[Any]) -> tuple[str, tuple[Any, ...]] | None:
        """The row expression compiled once against the model's table: resolving a score of
        expressions per request cost more than the page's query (bench)."""
        fields = {}
        for name, field in self.serializer_class().fields.items():
            if field.write_only:
                continue
            if name in self.computed:
                if name not in self.computed_sql:
                    return None
                fields[name] = self.computed_sql[name]()
                continue
            column = str(field.source).replace(".", "__")
            if column in self.lookups:
                expression = self.lookups[column]()
            elif column in self.sql_columns:
                expression = self.sql_columns[column]()
            elif "__" in column:
                # A join would give the compiled row a table alias the page's query may not have.
                expression = related_column(model, column)
                if expression is None:
                    return None
            else:
                expression = F(column)
            fields[name] = _sql_representation(field, expression)
        query = model._default_manager.all().query
        resolved = JsonRow(fields).resolve_expression(query, allow_joins=False)
        compiler = query.get_compiler(using=DEFAULT_DB_ALIAS)
        sql, params = resolved.as_sql(compiler, compiler.connection)
        return sql, tuple(params)

    def json_rows_for(self, request: Any, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        """`json_rows` where the response's renderer can embed them: only OrjsonRenderer writes
        JsonText; another renderer (CSV) gets the Python rows."""
        if not isinstance(getattr(request, "accepted_renderer", None), OrjsonRenderer):
            return None
        return self.json_rows(queryset)

    def listed(self, request: Any, queryset: QuerySet[Any]) -> tuple[int, list[Row] | JsonText]:
        """An unpaginated list's rows for the response: how many, and the rows."""
        json_rows = self.json_rows_for(request, queryset)
        if json_rows is not None:
            texts = list(json_rows)
            return len(texts), json_array(texts)
        rows = self.represent(self.values(queryset))
        return len(rows), rows

    def represent(self, rows: Iterable[Row]) -> list[Row]:
        # The request's time zone, looked up once per page rather than once per value.
        tz = timezone.get_current_timezone()
        in_zone: Callable[[Any], Any] = partial(datetime_representation, tz=tz)
        plan = [
            (name, column, in_zone if convert is datetime_representation else convert) for name, column, convert in self.plan()
        ]
        computed = self.computed
        out = []
        for row in rows:
            item: Row = {}
            for name, column, convert in plan:
                if column is None:
                    item[name] = computed[name](row)
                    continue
                value = row[column]
                item[name] = value if value is None or convert is None else convert(value)
            out.append(item)
        return out


def json_array(texts: Sequence[str]) -> JsonText:
    """JSON object texts as one array the renderer writes as it is."""
    return JsonText("[" + ",".join(texts) + "]")


class RowsListMixin:
    """A ListAPIView whose page is `.values()` rows serialized by `rows`; `serializer_class`
    stays for the schema. Same queryset, filters, pagination and queries as before."""

    rows: RowSerializer

    def list(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        queryset = self.filter_queryset(self.get_queryset())  # type: ignore[attr-defined]
        json_rows = self.rows.json_rows_for(request, queryset)
        if json_rows is not None:
            return self.get_paginated_response(json_array(self.paginate_queryset(json_rows) or []))  # type: ignore[attr-defined]
        page = self.paginate_queryset(self.rows.values(queryset))  # type: ignore[attr-defined]
        return self.get_paginated_response(self.rows.represent(page or []))  # type: ignore[attr-defined]
