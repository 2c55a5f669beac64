"""`manage.py ingest_urls FILE`: queue album links from a file (one per line), with progress."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.actors import actor_of, cli_actor
from core.progress import Progress
from ingest.services import album_sources_submit

CHUNK = 500


class Command(BaseCommand):
    help = (
        "Queue Spotify album links from FILE ('-' for stdin): open.spotify.com/album URLs, spotify:album URIs "
        "or 22-character ids, one per line; blank lines and lines starting with # are skipped. "
        "Every line gets a result; invalid ones are stored with the reason and listed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to the list, or - for stdin.")
        parser.add_argument(
            "--submitted-by", default="", help="Who asked, recorded as cli:<name> (default: the login name at the terminal)."
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress (a bar on a terminal, plain lines otherwise)."
        )
        parser.add_argument("--strict", action="store_true", help="Exit with status 1 when any line was invalid.")

    def handle(self, *args: Any, file: str, submitted_by: str, no_progress: bool, strict: bool, **options: Any) -> None:
        entries = self._read(file)
        if not entries:
            raise CommandError(f"{file}: no album links (only blank or # lines)")
        actor = actor_of(submitted_by, door="cli") if submitted_by else cli_actor()
        counts: Counter[str] = Counter()
        problems: list[str] = []
        progress = None if no_progress else Progress(total=len(entries), desc="Queueing", unit="links", stream=self.stderr)
        for start in range(0, len(entries), CHUNK):
            chunk = entries[start : start + CHUNK]
            results = album_sources_submit(raw_inputs=[text for _, text in chunk], submitted_by=actor)
            for (line_number, text), result in zip(chunk, results, strict=True):
                counts[result.status] += 1
                if result.status == "invalid":
                    problems.append(f"line {line_number}: invalid: {text[:100]!r}: {result.reason}")
                elif result.status == "duplicate":
                    problems.append(f"line {line_number}: duplicate: {result.album_id}: {result.reason}")
            if progress is not None:
                progress.update(len(chunk))
        if progress is not None:
            progress.close()
        for problem in problems:
            self.stdout.write(
                self.style.WARNING(problem) if "duplicate" in problem.split(":", 2)[1] else self.style.ERROR(problem)
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"{counts['accepted']} queued, {counts['duplicate']} duplicate, {counts['invalid']} invalid "
                f"({len(entries)} lines)."
            )
        )
        if strict and counts["invalid"]:
            raise CommandError(f"{counts['invalid']} invalid line(s)", returncode=1)

    def _read(self, file: str) -> list[tuple[int, str]]:
        stream: TextIO
        if file == "-":
            stream = sys.stdin
        else:
            path = Path(file)
            if not path.is_file():
                raise CommandError(f"{file}: no such file")
            stream = path.open(encoding="utf-8", errors="replace")
        with stream:
            return [
                (number, line.strip())
                for number, line in enumerate(stream, start=1)
                if line.strip() and not line.lstrip().startswith("#")
            ]
