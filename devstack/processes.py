"""The servers of a local stack (the demo's, the soak's): started and stopped the same way.

Each server runs in a session (and process group) of its own, so a terminal's Ctrl-C (SIGINT to
its foreground process group) reaches only the runner, never the servers behind its back. The
runner stops them in the runbooks' order (docs/runbooks/start-stop-stack.md: web → scheduler →
worker → Redis → database) with one signal each, sent to the server's main process, which stops
its own children; whatever is left of the server's group after its grace period is killed as a
group. A second signal is never sent: gunicorn's worker re-entered its thread pool's shutdown on a
second quit signal and stayed behind, orphaned, when only its master was killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

BASE_DIR = Path(__file__).resolve().parent.parent
# The runbooks' shutdown order; a server is placed by its name up to the first "-" ("worker-2").
STOP_ORDER = ("web", "beat", "alerts", "worker", "emulator")
# How long a server may take to stop on its one signal before its group is killed.
GRACE_SECONDS = {"web": 35.0, "beat": 15.0, "alerts": 15.0, "worker": 60.0, "emulator": 5.0}
DEFAULT_GRACE_SECONDS = 15.0
# After SIGKILL: how long the kernel may take to tear a group down.
KILL_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class ServerSpec:
    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] | None = None
    stop_signal: signal.Signals = signal.SIGTERM
    grace_seconds: float | None = None

    @property
    def kind(self) -> str:
        return self.name.split("-", 1)[0]

    @property
    def grace(self) -> float:
        return self.grace_seconds if self.grace_seconds is not None else GRACE_SECONDS.get(self.kind, DEFAULT_GRACE_SECONDS)


@dataclass(frozen=True)
class StopOutcome:
    name: str
    signal: str
    seconds: float
    # The group outlived the grace period and was killed (SIGKILL to the whole group).
    killed: bool
    returncode: int | None

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "signal": self.signal,
            "seconds": self.seconds,
            "killed": self.killed,
            "returncode": self.returncode,
        }


@dataclass
class Server:
    spec: ServerSpec
    process: subprocess.Popen[bytes]
    log_path: Path
    log_start: int = 0
    stopped: StopOutcome | None = field(default=None)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def pgid(self) -> int:
        # The server leads a session of its own: its group id is its pid, also once it is gone.
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        with self.log_path.open("rb") as log:
            log.seek(self.log_start)
            return log.read().decode(errors="replace")


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of the group `pgid`."""
    import psutil

    members = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members


def _wait_group_gone(pgid: int, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return True
        time.sleep(0.1)
    return not group_members(pgid)


def server_start(spec: ServerSpec, *, log_dir: Path, cwd: Path = BASE_DIR, banner: str = "") -> Server:
    """Start `spec` in a session of its own, appending its output to <log_dir>/<name>.log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{spec.name}.log"
    log: IO[bytes]
    with log_path.open("ab") as log:
        if banner:
            log.write(f"\n=== {banner} {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
            log.flush()
        start = log.tell()
        process = subprocess.Popen(
            list(spec.argv),
            cwd=cwd,
            env=dict(spec.env) if spec.env is not None else None,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Server(spec=spec, process=process, log_path=log_path, log_start=start)


def server_stop(server: Server, *, grace: float | None = None, signal_to_send: signal.Signals | None = None) -> StopOutcome:
    """One signal to the server's main process; its whole group is killed once `grace` has passed."""
    sig = signal_to_send or server.spec.stop_signal
    grace = server.spec.grace if grace is None else grace
    started = time.monotonic()
    if server.running():
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=grace)
    # The main process is gone (or out of time); its children get what is left of the grace.
    left = max(grace - (time.monotonic() - started), 0.0)
    killed = False
    if server.running() or not _wait_group_gone(server.pgid, seconds=left):
        killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=KILL_WAIT_SECONDS)
        _wait_group_gone(server.pgid, seconds=KILL_WAIT_SECONDS)
    outcome = StopOutcome(
        name=server.name,
        signal=sig.name,
        seconds=round(time.monotonic() - started, 1),
        killed=killed,
        returncode=server.process.poll(),
    )
    server.stopped = outcome
    return outcome


def stop_rank(name: str) -> int:
    kind = name.split("-", 1)[0]
    return STOP_ORDER.index(kind) if kind in STOP_ORDER else len(STOP_ORDER)


class Stack:
    """The servers one runner started, by name; `stop()` stops them in the runbooks' order."""

    def __init__(self, *, log_dir: Path, banner: str = "") -> None:
        self.log_dir = log_dir
        self.banner = banner
        self.servers: dict[str, Server] = {}

    def start(self, spec: ServerSpec) -> Server:
        current = self.servers.get(spec.name)
        if current is not None and current.running():
            raise RuntimeError(f"{spec.name} is already running (pid {current.pid})")
        server = server_start(spec, log_dir=self.log_dir, banner=self.banner)
        self.servers[spec.name] = server
        return server

    def __getitem__(self, name: str) -> Server:
        return self.servers[name]

    def stop(self, names: Iterable[str] | None = None) -> list[StopOutcome]:
        """Stop the named servers (all by default) one after the other, in STOP_ORDER."""
        chosen = list(self.servers) if names is None else [n for n in names if n in self.servers]
        order = sorted(chosen, key=lambda name: (stop_rank(name), name))
        return [server_stop(self.servers[name]) for name in order]

    def exited(self) -> list[Server]:
        """Servers whose main process ended without being stopped."""
        return [s for s in self.servers.values() if s.stopped is None and not s.running()]


# --- the servers of opsconsole ------------------------------------------------------------------


def web_spec(*, port: int, workers: int = 2, threads: int = 4, env: Mapping[str, str] | None = None) -> ServerSpec:
    """gunicorn on loopback. SIGTERM is its graceful stop (requests in flight finish)."""
    argv = (
        *(sys.executable, "-m", "gunicorn", "opsconsole.wsgi:application", "--bind", f"127.0.0.1:{port}"),
        *("--config", "python:opsconsole.gunicorn_conf", "--workers", str(workers), "--threads", str(threads)),
    )
    return ServerSpec(name="web", argv=argv, env=env)


def worker_spec(*, name: str = "worker", hostname: str, concurrency: int = 2, env: Mapping[str, str] | None = None) -> ServerSpec:
    """A prefork Celery worker. SIGTERM is its warm shutdown (running tasks finish; acks_late
    hands back what a killed one held)."""
    argv = (
        *(sys.executable, "-m", "celery", "-A", "opsconsole", "worker", "--loglevel", "INFO"),
        *("--concurrency", str(concurrency), "--hostname", hostname),
    )
    return ServerSpec(name=name, argv=argv, env=env)


def beat_spec(*, schedule: Path, env: Mapping[str, str] | None = None) -> ServerSpec:
    argv = (sys.executable, "-m", "celery", "-A", "opsconsole", "beat", "--loglevel", "INFO", "--schedule", str(schedule))
    return ServerSpec(name="beat", argv=argv, env=env)


def alerts_spec(*, interval: float | None = None, env: Mapping[str, str] | None = None) -> ServerSpec:
    """The evaluator outside the workers: NoWorkers and BeatGone need one (same lock as the job)."""
    argv: tuple[str, ...] = (sys.executable, "manage.py", "evaluate_alerts", "--loop")
    if interval is not None:
        argv += ("--interval", str(interval))
    return ServerSpec(name="alerts", argv=argv, env=env)


def emulator_spec(*, port: int, seed: int | str, extra: Iterable[str] = (), env: Mapping[str, str] | None = None) -> ServerSpec:
    argv = (sys.executable, "manage.py", "run_spotify_emulator", "--port", str(port), "--seed", str(seed), *extra)
    return ServerSpec(name="emulator", argv=argv, env=env)
