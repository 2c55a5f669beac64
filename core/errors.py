"""Errors every layer may raise and every door understands."""

from __future__ import annotations


class Unavailable(Exception):
    """A dependency (the broker, the database) is away for the moment: nothing was done that the
    caller must undo, and the same request may be sent again. The API answers 503 with Retry-After."""

    retry_after_seconds = 30
