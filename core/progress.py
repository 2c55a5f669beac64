"""Progress of long commands: a tqdm bar on a terminal, plain lines in logs and pipes.

One helper for every long command (ingest_urls, tracks_quality_refresh, backup_db, restore_db,
the bench, the demo's first pipeline), so a cron log never fills with carriage returns.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def _raw_stream(stream: Any) -> TextIO:
    # Django's OutputWrapper appends a newline to every write, which breaks a bar's "\r" redraws.
    return getattr(stream, "_out", stream)


def is_terminal(stream: Any) -> bool:
    isatty = getattr(_raw_stream(stream), "isatty", None)
    return bool(isatty and isatty())


class Progress:
    """`with Progress(total=n, desc="Queueing") as bar: bar.update(k)`; `bar.write(line)` prints
    a line without tearing the bar. Off a terminal: a line at every tenth of the way and at the end."""

    def __init__(self, *, total: int | None, desc: str, unit: str = "it", stream: Any = None) -> None:
        self.stream = _raw_stream(stream if stream is not None else sys.stderr)
        self.total = total
        self.desc = desc
        self.unit = unit
        self.done = 0
        self._printed_step = -1
        self.bar: tqdm[Any] | None = None
        if is_terminal(self.stream):
            self.bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, dynamic_ncols=True, leave=True)

    def update(self, n: int = 1, *, note: str = "") -> None:
        self.done += n
        if self.bar is not None:
            if note:
                self.bar.set_postfix_str(note, refresh=False)
            self.bar.update(n)
            return
        step = 10 * self.done // self.total if self.total else self.done
        if self.total and (step > self._printed_step or self.done >= self.total):
            self._printed_step = step
            self._line(note)

    def _line(self, note: str) -> None:
        shown = f"{self.done}/{self.total}" if self.total else str(self.done)
        percent = f" ({100 * self.done // self.total}%)" if self.total else ""
        self.stream.write(f"{self.desc}: {shown} {self.unit}{percent}{' ' + note if note else ''}\n")
        self.stream.flush()

    def write(self, line: str, *, stream: Any = None) -> None:
        """Print a line (to `stream`, default the bar's) without tearing the bar."""
        target = _raw_stream(stream) if stream is not None else self.stream
        if self.bar is not None:
            self.bar.write(line, file=target)
        else:
            target.write(line + "\n")
            target.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif not self.total and self.done:
            self._line("")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def progress_iter(iterable: Iterable[T], *, total: int | None, desc: str, unit: str = "it", stream: Any = None) -> Iterator[T]:
    with Progress(total=total, desc=desc, unit=unit, stream=stream) as bar:
        for item in iterable:
            yield item
            bar.update()
