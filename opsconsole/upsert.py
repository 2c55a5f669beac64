"""Bulk upsert as one statement with one array parameter per column.

`bulk_create(update_conflicts=True)` builds a placeholder and a prepared value per cell and
psycopg then splits a statement of tens of thousands of placeholders: about 1 ms of our CPU per
ingested track (bench: ingest.cost_per_track), most of a catalog upsert. Here each column
travels as one array, `INSERT … SELECT … FROM unnest(…) ON CONFLICT … DO UPDATE`, and the
statement text stays the same size whatever the number of rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import connection
from django.db.models import Model


def upsert_rows(
    model: type[Model],
    *,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    unique: str,
    update: Sequence[str],
    constants: Mapping[str, Any] | None = None,
    returning: Sequence[str] = (),
    derive: tuple[Callable[[str], str], Sequence[str]] | None = None,
) -> list[tuple[Any, ...]]:
    """Insert `rows` (values in `columns` order; column names as in the table) into `model`'s
    table, or update `update` from them where `unique` conflicts. `constants` fill the other
    NOT NULL columns of new rows. Rows go in the order given (callers sort them so that
    concurrent upserts lock shared rows in the same order). Returns the `returning` SQL
    expressions of every row, inserted or updated."""
    if not rows:
        return []
    constants = dict(constants or {})
    fields = {field.column: field for field in model._meta.concrete_fields}
    quote = connection.ops.quote_name
    arrays = [list(values) for values in zip(*rows, strict=True)]
    types = {column: fields[column].db_type(connection) for column in [*columns, *constants]}
    unnest = ", ".join(f"%s::{types[column]}[]" for column in columns)
    fixed = "".join(f", %s::{types[column]} AS {quote(column)}" for column in constants)
    names = ", ".join(quote(column) for column in columns)
    select = f"SELECT rows.*{fixed} FROM unnest({unnest}) AS rows({names})"
    derived: Sequence[str] = ()
    if derive is not None:
        wrap, derived = derive
        select = f"SELECT * FROM ({wrap(select)}) AS derived ORDER BY {quote(unique)}"
    target = ", ".join(quote(column) for column in [*columns, *constants, *derived])
    sets = ", ".join(f"{quote(column)} = EXCLUDED.{quote(column)}" for column in update)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({target}) {select} ON CONFLICT ({quote(unique)}) DO UPDATE SET {sets}"
    if returning:
        sql += " RETURNING " + ", ".join(returning)
    with connection.cursor() as cursor:
        # Constants come first in the SELECT list, so first in the parameters.
        cursor.execute(sql, [*constants.values(), *arrays])
        return list(cursor.fetchall()) if returning else []
