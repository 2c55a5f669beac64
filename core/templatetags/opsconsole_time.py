"""`{% reltime value %}`: a time as "4 min ago", the absolute time in the display zone on hover.

The `datetime` attribute keeps ISO 8601 UTC, so opsconsole/reltime.js can keep the relative
text current without asking the server.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil

register = template.Library()


@register.simple_tag
def reltime(value: datetime | str | None, empty: str = "never") -> SafeString | str:
    # Reports built for JSON (the queue triage) carry ISO 8601 strings rather than datetimes.
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is None:
        return empty
    now = timezone.now()
    relative = f"{timesince(value, now, depth=1)} ago" if value <= now else f"in {timeuntil(value, now, depth=1)}"
    absolute = timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")
    iso = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return format_html('<time class="ops-reltime" datetime="{}" title="{}">{}</time>', iso, absolute, relative)
