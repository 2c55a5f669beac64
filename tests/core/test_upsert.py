"""`upsert_rows` sends the rows as one JSON document: every value must arrive as it left."""

from __future__ import annotations

import pytest
from django.utils import timezone

from ingest.models import Artist

pytestmark = pytest.mark.django_db

AWKWARD = 'O\'Brien "quoted" \\ back\tslash\n\u2028 Ünïcode 🎵 {"json": [1]}'


def test_rows_are_inserted_then_updated_in_the_order_given_with_their_text_intact() -> None:
    from core.upsert import upsert_rows

    now = timezone.now()
    rows = [("a1", AWKWARD), ("a2", ""), ("a3", "plain")]
    inserted = upsert_rows(
        Artist,
        columns=["spotify_id", "name"],
        rows=rows,
        unique="spotify_id",
        update=["name"],
        constants={"created_at": now, "updated_at": now},
        returning=["spotify_id", "(xmax = 0)"],
    )
    assert inserted == [("a1", True), ("a2", True), ("a3", True)]
    assert dict(Artist.objects.values_list("spotify_id", "name")) == dict(rows)

    updated = upsert_rows(
        Artist,
        columns=["spotify_id", "name"],
        rows=[("a2", AWKWARD[::-1]), ("a4", "new")],
        unique="spotify_id",
        update=["name"],
        constants={"created_at": now, "updated_at": now},
        returning=["spotify_id", "(xmax = 0)"],
    )
    assert updated == [("a2", False), ("a4", True)]
    assert Artist.objects.get(spotify_id="a2").name == AWKWARD[::-1]
    assert Artist.objects.count() == 4
    assert upsert_rows(Artist, columns=["spotify_id", "name"], rows=[], unique="spotify_id", update=["name"]) == []
