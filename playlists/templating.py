"""Playlist name/description templates: Django template syntax, plain text, known variables.

Variables (documented in the policy admin help and docs/runbooks/create-reshuffle-scale-playlists.md):
  account      .display_name, .spotify_user_id, .id
  policy       .name, .size, .cooldown_days, .artist_cap, .reshuffle_interval_days
  date         the day the current snapshot was built (a date; `{{ date|date:"M j" }}` works)
  index        the playlist's number on its account (1, 2, ...)
  top_artists  names of the artists with most tracks in the snapshot, most first (up to 3)
  track_count  tracks in the snapshot
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.template import Context, Engine, TemplateSyntaxError

TEMPLATE_VARIABLES = ("account", "policy", "date", "index", "top_artists", "track_count")

# Names and descriptions are plain text sent to Spotify, not HTML: no autoescaping, no loaders
# (a template cannot include files from disk).
_ENGINE = Engine(autoescape=False, debug=False, string_if_invalid="")

SAMPLE_CONTEXT: dict[str, Any] = {
    "account": {"display_name": "Sample account", "spotify_user_id": "sample", "id": "00000000-0000-0000-0000-000000000000"},
    "policy": {"name": "Sample policy", "size": 50, "cooldown_days": 5, "artist_cap": 2, "reshuffle_interval_days": 5},
    "date": dt.date(2026, 1, 1),
    "index": 1,
    "top_artists": ["Artist A", "Artist B", "Artist C"],
    "track_count": 50,
}


class TemplateInvalid(ValueError):
    pass


def template_check(source: str) -> None:
    """Compile and render with sample values; raises TemplateInvalid with Django's message."""
    try:
        _ENGINE.from_string(source).render(Context(SAMPLE_CONTEXT, autoescape=False))
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(f"Template does not compile: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - any render failure is a bad template, reported as such
        raise TemplateInvalid(f"Template fails to render: {type(exc).__name__}: {exc}") from exc


def template_render(source: str, context: dict[str, Any]) -> str:
    rendered = _ENGINE.from_string(source).render(Context(context, autoescape=False))
    # Spotify shows one line; collapse the whitespace template tags leave behind.
    return " ".join(rendered.split())


# The variables a new selection (snapshot) changes.
SELECTION_VARIABLES = ("date", "top_artists", "track_count")


def template_depends_on_selection(source: str) -> bool:
    """Whether a new snapshot can change what `source` renders: rendered twice with every
    selection variable changed, the rest the same."""
    other = {**SAMPLE_CONTEXT, "date": dt.date(2027, 2, 2), "top_artists": ["Other X", "Other Y"], "track_count": 7}
    return template_render(source, SAMPLE_CONTEXT) != template_render(source, other)
