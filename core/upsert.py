"""Bulk upsert as one statement whose rows travel as one JSON document.

`bulk_create(update_conflicts=True)` builds a placeholder and a prepared value per cell and
psycopg then splits a statement of tens of thousands of placeholders: Python work per cell that
was most of a catalog upsert's CPU (BENCHMARKS.md, ingest.cost_per_track). Here the rows are
one `json` parameter written by orjson, `INSERT … SELECT … FROM json_to_recordset(…) ON CONFLICT …
DO UPDATE`, and the statement text stays the same size whatever the number of rows. (One array
parameter per column did the same, but psycopg quotes every element of an array in Python, which
cost more of our CPU and of PostgreSQL's per track.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
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
    document = orjson.dumps([dict(zip(columns, row, strict=True)) for row in rows]).decode()
    types = {column: fields[column].db_type(connection) for column in [*columns, *constants]}
    fixed = "".join(f", %s::{types[column]} AS {quote(column)}" for column in constants)
    record = ", ".join(f"{quote(column)} {types[column]}" for column in columns)
    select = f"SELECT rows.*{fixed} FROM json_to_recordset(%s::json) AS rows({record})"
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
        cursor.execute(sql, [*constants.values(), document])
        return list(cursor.fetchall()) if returning else []
