"""Policy validation: bad templates, ranges and filters are refused with messages that say why."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from playlists.models import PlaylistPolicy
from playlists.templating import template_render

pytestmark = pytest.mark.django_db


def errors_of(**fields: object) -> dict[str, list[str]]:
    policy = PlaylistPolicy(name="p", **fields)
    with pytest.raises(ValidationError) as raised:
        policy.full_clean()
    return raised.value.message_dict


def test_default_policy_is_valid() -> None:
    PlaylistPolicy(name="fine").full_clean()


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"feature_ranges": {"energy": {"min": 0.9, "max": 0.2}}}, "feature_ranges", "min (0.9) is greater than max (0.2)"),
        ({"feature_ranges": {"vibes": {"min": 1}}}, "feature_ranges", "Unknown audio feature 'vibes'"),
        ({"feature_ranges": {"tempo": {"min": "fast"}}}, "feature_ranges", "must be numbers"),
        ({"feature_ranges": {"tempo": {"low": 1}}}, "feature_ranges", 'give "min" and/or "max"'),
        ({"feature_ranges": [1, 2]}, "feature_ranges", "must be an object"),
        ({"source_filter": {"labels": "Indie"}}, "source_filter", "labels must be a list of str"),
        ({"source_filter": {"genres": ["x"]}}, "source_filter", "Unknown source filter 'genres'"),
        ({"name_template": "{% if %}"}, "name_template", "Template does not compile"),
        ({"description_template": "{{ date|date:'Y' }} {% endfor %}"}, "description_template", "Template does not compile"),
        ({"size": 0}, "size", "between 1 and"),
        ({"artist_cap": 0}, "artist_cap", "at least 1"),
    ],
)
def test_bad_policies_are_refused_with_a_clear_message(fields: dict, field: str, message: str) -> None:
    errors = errors_of(**fields)
    assert any(message in text for text in errors[field]), errors


def test_templates_render_plain_text_with_documented_variables() -> None:
    text = template_render(
        "{{ policy.name }} #{{ index }} for {{ account.display_name }}: {{ top_artists|join:', ' }} & more",
        {"policy": {"name": "Rock"}, "index": 2, "account": {"display_name": "A<b>"}, "top_artists": ["X", "Y"]},
    )
    assert text == "Rock #2 for A<b>: X, Y & more"  # not HTML-escaped: Spotify shows plain text
