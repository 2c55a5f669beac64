"""The runbooks (docs/runbooks/) read from the console by staff: each alert rule links to one, and
every notification carries the link (RUNBOOK_BASE_URL points here unless set elsewhere)."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound

NAME = re.compile(r"[a-z0-9][a-z0-9-]*\.md")
TEXT = "text/plain; charset=utf-8"


@staff_member_required
def runbook_view(request: HttpRequest, name: str = "README.md") -> HttpResponse:
    # Only a plain file name of the folder: no path reaches outside it.
    path = settings.BASE_DIR / "docs" / "runbooks" / name
    if not (NAME.fullmatch(name) or name == "README.md") or not path.is_file():
        return HttpResponseNotFound(f"No runbook named {name}.\n", content_type=TEXT)
    return HttpResponse(path.read_text(), content_type=TEXT)
