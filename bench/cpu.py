"""CPU time of this machine's processes, read from /proc (the servers the bench measures run here)."""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> tuple[str, int, float] | None:
    """(command name, parent pid, utime + stime in seconds) of one process; None: gone or hidden."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat.rsplit(")", 1)[1].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process (None: gone or not visible from here)."""
    stat = _stat(pid)
    return stat[2] if stat else None


def server_processes_cpu(web_master: int) -> dict[int, tuple[str, float]]:
    """pid -> (role, CPU seconds so far) of the web server (the master and its workers), every
    PostgreSQL process and every Redis server on the machine: what requests cost the stack,
    whichever process does the work."""
    processes: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (stat := _stat(entry.name)) is None:
            continue
        name, parent, seconds = stat
        pid = int(entry.name)
        if web_master in (pid, parent):
            role = "web"
        elif name == "postgres":
            role = "database"
        elif name.startswith("redis-server"):
            role = "redis"
        else:
            continue
        processes[pid] = (role, seconds)
    return processes


def cpu_spent(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds by role between two readings; a process started in between counts whole (a
    database backend that ended in between is lost: its CPU left /proc with it)."""
    spent = {"web": 0.0, "database": 0.0, "redis": 0.0}
    for pid, (role, seconds) in after.items():
        spent[role] += seconds - before.get(pid, (role, 0.0))[1]
    return spent
