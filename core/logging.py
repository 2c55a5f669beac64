"""JSON log lines carrying the request or task they belong to."""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType

# Read-only default: callers always .set() a new mapping, never mutate the current one.
log_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("log_context", default=MappingProxyType({}))

# Belt and braces: whatever a library logs, bearer tokens and secrets do not reach the log.
_SECRET_PATTERNS = [
    re.compile(r"(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE),
    re.compile(r"((?:access|refresh)_token['\"]?\s*[:=]\s*['\"]?)[^'\"&\s,}]+", re.IGNORECASE),
    re.compile(r"(client_secret['\"]?\s*[:=]\s*['\"]?)[^'\"&\s,}]+", re.IGNORECASE),
    # The OAuth callback's query (Django logs a 4xx with the request URL): code and state are credentials.
    re.compile(r"([?&](?:code|state|code_verifier)=)[^&\s'\">]+"),
]


def redact(text: str) -> str:
    text = _SECRET_PATTERNS[0].sub(r"\1 [redacted]", text)
    for pattern in _SECRET_PATTERNS[1:]:
        text = pattern.sub(r"\1[redacted]", text)
    return text


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in log_context.get().items():
            setattr(record, name, value)
        return True


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": redact(record.getMessage()),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                payload[name] = value if isinstance(value, int | float | bool) or value is None else redact(str(value))
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)
