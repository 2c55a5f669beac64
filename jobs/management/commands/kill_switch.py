"""`manage.py kill_switch on --reason "..." [--resume-at 2026-12-07T16:00Z]` / `off` / `status`:
the kill switch from the command line (docs/runbooks/kill-switch.md), audited as `cli:<login>`.
Whoever has a shell on the stack holds the admin role here: the doors with a role check are the
admin and the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.actors import cli_actor
from jobs.control import KillSwitchInvalid, kill_switch_engage, kill_switch_release, kill_switch_state


def _resume_at(value: str) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"--resume-at: not a date and time: {value!r} (e.g. 2026-12-07T16:00:00Z)")
    # Without a zone it is UTC, as the API and the admin read it.
    return timezone.make_aware(parsed, UTC) if timezone.is_naive(parsed) else parsed


class Command(BaseCommand):
    help = "Throw (on), resume (off) or show (status) the kill switch that pauses all work."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("operation", choices=["on", "off", "status"])
        parser.add_argument("--reason", default="", help="Why all work stops (required with on).")
        parser.add_argument("--resume-at", default="", help="Resume by itself at this time, ISO 8601 with a zone.")

    def handle(self, *args: Any, operation: str, reason: str, resume_at: str, **options: Any) -> None:
        if operation == "on":
            try:
                control = kill_switch_engage(reason=reason, resume_at=_resume_at(resume_at), actor=cli_actor())
            except KillSwitchInvalid as exc:
                raise CommandError(f"Kill switch not thrown: {exc}") from exc
            self.stdout.write(f"Kill switch engaged: all work paused (workers told: {', '.join(control.workers) or 'none'}).")
        elif operation == "off":
            control = kill_switch_release(actor=cli_actor())
            if control.changed:
                self.stdout.write(f"Kill switch released: work resumed (workers told: {', '.join(control.workers) or 'none'}).")
            else:
                self.stdout.write("The kill switch was not engaged.")
        state = kill_switch_state()
        if state["engaged"]:
            resume = state["resume_at"].isoformat() if state["resume_at"] else "by hand"
            self.stdout.write(
                f"engaged since {state['since'].isoformat()} by {state['by']}: {state['reason']} (resumes: {resume})"
            )
        else:
            self.stdout.write("off")
