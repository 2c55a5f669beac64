"""Every endpoint under /api/v1/, whoever adds it: the permission matrix and the security
drill walk them all."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver

_CONVERTERS = {"uuid": str(uuid.uuid4()), "int": "1", "str": "x", "slug": "x", "path": "x"}


def _routes(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        else:
            yield route


def api_v1_paths() -> list[str]:
    paths = set()
    for route in _routes(get_resolver().url_patterns):
        if not route.startswith("api/v1/") or route.startswith("^"):
            continue
        concrete = re.sub(r"<(?:(\w+):)?\w+>", lambda m: _CONVERTERS.get(m.group(1) or "str", "x"), route)
        paths.add("/" + concrete)
    return sorted(paths)
