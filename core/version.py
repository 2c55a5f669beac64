"""The console's version: the one source for the API schema and the deploy markers.

A deploy may name its build (a git sha, an image tag) with OPSCONSOLE_VERSION; it is appended,
so `1.0.0+4f2c9ab` still says which release it builds on.
"""

from __future__ import annotations

from django.conf import settings

VERSION = "1.0.0"


def running_version() -> str:
    build = getattr(settings, "OPSCONSOLE_VERSION", "")
    return f"{VERSION}+{build}" if build else VERSION
