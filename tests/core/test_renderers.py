"""The API renderer writes the bytes DRF's JSONRenderer writes."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections import OrderedDict

from hypothesis import given
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

from core.renderers import JsonText, OrjsonRenderer

SAMPLE = {
    "count": 2,
    "next": None,
    "results": [
        OrderedDict(
            id=uuid.UUID("12345678-1234-5678-1234-567812345678"),
            when=datetime.datetime(2026, 11, 29, 20, 2, 16, 961332, tzinfo=datetime.UTC),
            day=datetime.date(2026, 11, 29),
            at=datetime.time(3, 0),
            ratio=decimal.Decimal("0.25"),
            name="Ünïcode “quoted” \\ \u2028 track",
            tags=["a", "b"],
            nested={"energy": 0.5, "tempo": 120.0, "ok": True},
        ),
        {1: "integer key"},
    ],
}


def test_same_bytes_as_drf_for_api_shaped_data() -> None:
    assert OrjsonRenderer().render(SAMPLE) == JSONRenderer().render(SAMPLE)


def test_nothing_renders_as_an_empty_body_and_huge_integers_fall_back() -> None:
    assert OrjsonRenderer().render(None) == b""
    assert OrjsonRenderer().render({"n": 2**70}) == JSONRenderer().render({"n": 2**70})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_same_bytes_for_any_json_value(value: object) -> None:
    assert OrjsonRenderer().render(value) == JSONRenderer().render(value)


def test_rows_postgresql_wrote_render_as_drf_renders_them_compact_indented_or_oversized() -> None:
    rows = '[{"name":"Ünïcode \u2028 “q”","n":1,"at":"2026-11-29T20:02:16Z","tags":["a"]}]'
    embedded = {"count": 1, "results": JsonText(rows)}
    plain = {"count": 1, "results": json.loads(rows)}
    assert OrjsonRenderer().render(embedded) == JSONRenderer().render(plain)
    for accepted in ("application/json; indent=2", "application/json; indent=4"):
        assert OrjsonRenderer().render(embedded, accepted) == JSONRenderer().render(plain, accepted)
    assert OrjsonRenderer().render({**embedded, "big": 2**70}) == JSONRenderer().render({**plain, "big": 2**70})
