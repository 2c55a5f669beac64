"""What the soak's processes logged (var/soak/log/*.log): JSON lines from our logging, plain lines
from gunicorn, Celery's own start-up and Python's last-resort tracebacks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

TASK_LINE = re.compile(r"Task (\S+)\[([0-9a-f-]{36})\] (received|succeeded|retry|raised|ignored|rejected)")
LOST_LINE = re.compile(r"(WorkerLostError|Terminated|revoked).*?([0-9a-f-]{36})?", re.S)
READY = re.compile(r"@\S+ ready\.")
# The emulator's tokens and codes (a-..., r-...; secrets.token_urlsafe(24) is 32 characters).
TOKEN_SHAPES = re.compile(r"\b[ar]-[A-Za-z0-9_-]{32}\b")
BEARER = re.compile(r"Bearer\s+[A-Za-z0-9._~+/-]{16,}=*")


@dataclass(frozen=True)
class Line:
    path: Path
    number: int
    ts: float | None
    text: str
    record: dict[str, Any] | None

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.number}"

    @property
    def event(self) -> str:
        return str((self.record or {}).get("event", self.text))


def _ts(value: Any) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


def read_lines(path: Path) -> Iterator[Line]:
    last_ts: float | None = None
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.decode(errors="replace").rstrip("\n")
            record: dict[str, Any] | None = None
            if text.startswith("{"):
                try:
                    parsed = json.loads(text)
                    record = parsed if isinstance(parsed, dict) else None
                except ValueError:
                    record = None
            ts = _ts((record or {}).get("ts")) if record else None
            if ts is not None:
                last_ts = ts
            # Plain lines take the time of the last JSON line before them (close enough to order them).
            yield Line(path=path, number=number, ts=ts if ts is not None else last_ts, text=text, record=record)


def worker_ready_since(path: Path, since: float) -> bool:
    if not path.exists():
        return False
    return any(READY.search(line.event) and (line.ts or 0) >= since - 1 for line in read_lines(path))


@dataclass(frozen=True)
class Traceback:
    where: str
    ts: float | None
    exception: str  # "module.ExcType: message" (the traceback's last line)
    logger: str
    event: str

    @property
    def exc_type(self) -> str:
        return self.exception.split(":", 1)[0].strip()


EXCEPTION_LINE = re.compile(r"^((?:[a-z_][\w]*\.)*[A-Z]\w*)(?::\s|:$|$)")


def _last_line(block: str) -> str:
    """The traceback's exception line ("module.ExcType: message"); a message may run over several
    lines (psycopg's do), so the last line that names an exception, not merely the last line."""
    found = ""
    for line in block.splitlines():
        if line and not line.startswith((" ", "\t")) and EXCEPTION_LINE.match(line):
            found = line.strip()
    if found:
        return found
    lines = [line for line in block.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def tracebacks(log_dir: Path) -> list[Traceback]:
    """Every traceback: the `exc` of a JSON line, or a plain "Traceback (most recent call last):" block."""
    found: list[Traceback] = []
    for path in sorted(log_dir.glob("*.log")):
        block: list[str] = []
        block_start: Line | None = None
        for line in read_lines(path):
            if line.record is not None:
                if block and block_start is not None:
                    found.append(Traceback(block_start.where, block_start.ts, _last_line("\n".join(block)), "", ""))
                    block, block_start = [], None
                exc = line.record.get("exc")
                if isinstance(exc, str) and "Traceback" in exc:
                    found.append(
                        Traceback(line.where, line.ts, _last_line(exc), str(line.record.get("logger", "")), line.event[:300])
                    )
                continue
            if line.text.startswith("Traceback (most recent call last):"):
                if block and block_start is not None:
                    found.append(Traceback(block_start.where, block_start.ts, _last_line("\n".join(block)), "", ""))
                block, block_start = [line.text], line
            elif block:
                block.append(line.text)
                if line.text and not line.text.startswith((" ", "\t")) and EXCEPTION_LINE.match(line.text):
                    # The exception line ends the block (a chained one starts another block).
                    found.append(Traceback(block_start.where if block_start else line.where, line.ts, line.text.strip(), "", ""))
                    block, block_start = [], None
        if block and block_start is not None:
            found.append(Traceback(block_start.where, block_start.ts, _last_line("\n".join(block)), "", ""))
    return found


def secrets_found(log_dir: Path, secrets: dict[str, str]) -> list[dict[str, Any]]:
    """Lines holding a known secret value or anything shaped like a token."""
    values = {name: value for name, value in secrets.items() if value and len(value) >= 8}
    hits: list[dict[str, Any]] = []
    for path in sorted(log_dir.glob("*.log")):
        for line in read_lines(path):
            for name, value in values.items():
                if value in line.text:
                    hits.append({"where": line.where, "secret": name})
            for match in (*TOKEN_SHAPES.finditer(line.text), *BEARER.finditer(line.text)):
                hits.append({"where": line.where, "secret": f"token-shaped {match.group(0)[:6]}…"})
    return hits


@dataclass(frozen=True)
class Delivery:
    task_id: str
    name: str
    worker: str  # the log's name (worker-1, ...)
    received: float
    outcome: str  # succeeded | retry | raised | lost | unknown
    ended: float | None


def deliveries(log_dir: Path) -> dict[str, list[Delivery]]:
    """Each task id's deliveries to the workers, in order, from the workers' own lines."""
    open_: dict[tuple[str, str], dict[str, Any]] = {}
    result: dict[str, list[Delivery]] = {}
    for path in sorted(log_dir.glob("worker-*.log")):
        worker = path.stem
        for line in read_lines(path):
            match = TASK_LINE.search(line.event)
            if match is None:
                continue
            name, task_id, what = match.groups()
            ts = line.ts or 0.0
            key = (worker, task_id)
            if what == "received":
                if key in open_:
                    # Received again on the same worker before any outcome: the earlier one was lost with its process.
                    earlier = open_.pop(key)
                    result.setdefault(task_id, []).append(Delivery(task_id, name, worker, earlier["received"], "lost", ts))
                open_[key] = {"received": ts, "name": name}
                continue
            earlier = open_.pop(key, None)
            if earlier is None:
                continue
            result.setdefault(task_id, []).append(Delivery(task_id, name, worker, earlier["received"], what, ts))
    for (worker, task_id), earlier in open_.items():
        result.setdefault(task_id, []).append(Delivery(task_id, earlier["name"], worker, earlier["received"], "unknown", None))
    for rows in result.values():
        rows.sort(key=lambda d: d.received)
    return result


def runner_events(log_dir: Path) -> list[dict[str, Any]]:
    path = log_dir / "runner.log"
    if not path.exists():
        return []
    return [line.record for line in read_lines(path) if line.record is not None and "event" in line.record]
