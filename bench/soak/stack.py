"""The soak's stack, seen from the driver: where it lives, how it is started, and the handles faults use.

var/soak/ (SOAK_VAR_DIR) is the soak's own: its PostgreSQL, Redis, secrets, logs and spec, never a
demo's. The emulator plays Spotify: it runs for the whole soak in a process of its own and is no
part of "our" stack (a full stop leaves it up, as Spotify stays up when we go down). Everything
else is started by the runner (runner.py), which the driver starts in a session of its own, as a
shell starts a foreground job.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.soak.config import BASE_DIR, SoakConfig

RUN_MARK = "SOAK_RUN"
ROLE_MARK = "SOAK_ROLE"
REDIS_KEY_PREFIX = "opsconsole-soak"
# What the soak's processes are given to compress hours into minutes; RELIABILITY.md lists them.
TIME_SCALE_ENV = {
    # A source that failed transiently comes back after 5 s, 10 s, 20 s... instead of minutes.
    "INGEST_RETRY_BASE_SECONDS": "5",
    # An ingest run hands over to a fresh one after 30 s (a warm shutdown then waits that long at most).
    "INGEST_RUN_SECONDS": "30",
    "INGEST_CLAIM_STALE_MINUTES": "3",
    "BREAKER_BASE_COOLDOWN_SECONDS": "5",
    "BREAKER_MAX_COOLDOWN_SECONDS": "60",
}


def free_port() -> int:
    from devstack.runtime import _free_port

    return _free_port()


def wait_http(url: str, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except Exception:
            time.sleep(0.3)
    return False


@dataclass
class SoakStack:
    config: SoakConfig
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    runner: subprocess.Popen[bytes] | None = None
    emulator: Any = None  # devstack.processes.Server
    server_env: dict[str, str] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    full_stops: list[dict[str, Any]] = field(default_factory=list)

    @property
    def var_dir(self) -> Path:
        return self.config.var_dir

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    @property
    def spec_path(self) -> Path:
        return self.var_dir / "runner-spec.json"

    @property
    def state_path(self) -> Path:
        return self.var_dir / "runner-state.json"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['web']}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['emulator']}"

    # --- environment ---------------------------------------------------------------------------
    def prepare(self) -> None:
        """A fresh var/soak (a leftover soak's servers stopped first), the embedded servers up, and
        this process's environment pointed at them: the driver reads the database for the ledger."""
        os.environ["OPSCONSOLE_VAR_DIR"] = str(self.var_dir)
        from devstack import runtime

        if runtime.VAR_DIR.resolve() != self.var_dir.resolve():
            # Imported before the soak chose its var dir: it would stop and wipe a demo's servers.
            raise RuntimeError(f"devstack.runtime points at {runtime.VAR_DIR}, not the soak's {self.var_dir}")
        if self.var_dir.exists():
            runtime.stop_embedded(wait=True)
            shutil.rmtree(self.var_dir)
        self.var_dir.mkdir(parents=True)
        self.log_dir.mkdir()
        for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
            os.environ.pop(name, None)
        os.environ[RUN_MARK] = self.run_id
        self.ports = {"web": self.config.web_port or free_port(), "emulator": self.config.emulator_port or free_port()}
        web = self.web_url
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "opsconsole.settings",
                "REDIS_KEY_PREFIX": REDIS_KEY_PREFIX,
                "CELERY_BROKER_KEY_PREFIX": f"{REDIS_KEY_PREFIX}:celery:",
                "HTTPS_ONLY": "false",
                "DEBUG": "false",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "SPOTIFY_API_URL": f"{self.emulator_url}/v1/",
                "SPOTIFY_ACCOUNTS_URL": f"{self.emulator_url}/",
                "SPOTIFY_CLIENT_ID": "soak-extended-1",
                "SPOTIFY_CLIENT_SECRET": f"soak-secret-{uuid.uuid4().hex}",
                "SPOTIFY_REDIRECT_URI": f"{web}/oauth/spotify/callback",
                "EMAIL_URL": f"filemail:///{(self.var_dir / 'mail').resolve()}",
                "ALERT_WEBHOOK_ALLOW_PRIVATE": "true",
                "ALERT_CONSOLE_URL": web,
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
                # The fleet's accounts hold this many playlists at most (each account's capacity is its share).
                "PLAYLISTS_PER_ACCOUNT_MAX": str(self.config.playlists_per_account + 4),
                **TIME_SCALE_ENV,
                **self.config.extra_env,
            }
        )
        runtime.bootstrap()
        self.server_env = {k: v for k, v in os.environ.items() if k != ROLE_MARK}

    # --- the emulator ----------------------------------------------------------------------------
    def start_emulator(self) -> None:
        from devstack.processes import emulator_spec, server_start

        extra = ("--albums", str(self.config.albums + 20), "--latency-ms", str(self.config.latency_ms))
        env = {**self.server_env, ROLE_MARK: "spotify"}
        spec = emulator_spec(port=self.ports["emulator"], seed=self.config.seed, extra=extra, env=env)
        self.emulator = server_start(spec, log_dir=self.log_dir, banner="soak")
        if not wait_http(f"{self.emulator_url}/_emulator/counts", seconds=60):
            raise RuntimeError(f"the emulator did not start; see {self.log_dir / 'emulator.log'}")

    def stop_emulator(self) -> None:
        from devstack.processes import server_stop

        if self.emulator is not None:
            server_stop(self.emulator)

    # --- the runner ------------------------------------------------------------------------------
    def write_spec(self, *, workers: dict[str, int] | None = None, held: list[str] | None = None) -> None:
        if not self.spec:
            self.spec = {
                "var_dir": str(self.var_dir),
                "log_dir": str(self.log_dir),
                "state_path": str(self.state_path),
                "embedded": True,
                "env": self.server_env,
                "held": [],
                "servers": [
                    {"name": "web", "kind": "web", "port": self.ports["web"], "workers": 2, "threads": 4},
                    *(
                        {"name": f"worker-{n}", "kind": "worker", "hostname": f"soak-worker-{n}@localhost", "concurrency": c}
                        for n, c in enumerate(self.config.workers, start=1)
                    ),
                    {"name": "beat", "kind": "beat"},
                    {"name": "alerts", "kind": "alerts", "interval": self.config.alert_interval_seconds},
                ],
            }
        for row in self.spec["servers"]:
            if workers and row["name"] in workers:
                row["concurrency"] = workers[row["name"]]
        if held is not None:
            self.spec["held"] = held
        tmp = self.spec_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.spec, indent=1))
        tmp.replace(self.spec_path)

    def start_runner(self) -> None:
        self.write_spec()
        log = (self.log_dir / "runner.log").open("ab")
        env = {**self.server_env, "PYTHONUNBUFFERED": "1"}
        # A session of its own: the runner leads its group as a shell's foreground job does.
        self.runner = subprocess.Popen(
            [sys.executable, "-m", "bench.soak.runner", str(self.spec_path)],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def wait_ready(self, *, seconds: float = 180) -> None:
        """Web answers and every worker not held down says it is ready."""
        if not wait_http(f"{self.web_url}/live", seconds=seconds):
            raise RuntimeError(f"web did not start; see {self.log_dir / 'web.log'}")
        deadline = time.monotonic() + seconds
        for name in self.worker_names():
            if name in self.spec.get("held", []):
                continue
            while not self.worker_ready(name):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not get ready; see {self.log_dir / (name + '.log')}")
                time.sleep(0.5)

    def worker_names(self) -> list[str]:
        return [row["name"] for row in self.spec["servers"] if row["kind"] == "worker"]

    def state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_path.read_text()))
        except (OSError, ValueError):
            return {}

    def worker_ready(self, name: str) -> bool:
        """The worker's current process logged `ready` since it started."""
        pid = self.state().get(name, {}).get("pid")
        if not pid:
            return False
        try:
            started = psutil.Process(pid).create_time()
        except psutil.NoSuchProcess:
            return False
        from bench.soak.logs import worker_ready_since

        return worker_ready_since(self.log_dir / f"{name}.log", started)

    def reload_runner(self) -> None:
        if self.runner is not None and self.runner.poll() is None:
            os.kill(self.runner.pid, signal.SIGHUP)

    def server_pid(self, name: str) -> int | None:
        entry = self.state().get(name) or {}
        pid = entry.get("pid")
        if pid and entry.get("running", True):
            with contextlib.suppress(psutil.NoSuchProcess):
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    return int(pid)
        return None

    def pool_children(self, name: str) -> list[psutil.Process]:
        pid = self.server_pid(name)
        if pid is None:
            return []
        try:
            return psutil.Process(pid).children()
        except psutil.NoSuchProcess:
            return []

    # --- the full stop, as a terminal or as systemd does it --------------------------------------------
    def ours(self) -> list[psutil.Process]:
        """Every live process of this soak's stack (the driver and the emulator, "Spotify", aside)."""
        found = []
        me = os.getpid()
        for process in psutil.process_iter(["pid", "status"]):
            if process.pid == me or process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            try:
                env = process.environ()
            except (psutil.Error, OSError):
                continue
            if env.get(RUN_MARK) == self.run_id and env.get(ROLE_MARK) != "spotify":
                found.append(process)
        return found

    def stop_all(self, how: str, *, grace: float = 120.0) -> dict[str, Any]:
        """Stop the whole stack as a terminal's Ctrl-C does ("ctrl-c": SIGINT to the runner's process
        group) or as systemd does ("systemd": SIGTERM to every process of the unit at once, SIGKILL to
        what is left after TimeoutStopSec). Returns what survived and which ports stayed taken."""
        from devstack.runtime import _port_free

        assert self.runner is not None
        started = time.monotonic()
        before = self.ours()
        if how == "ctrl-c":
            os.killpg(self.runner.pid, signal.SIGINT)
        elif how == "systemd":
            for process in before:
                with contextlib.suppress(psutil.Error):
                    process.send_signal(signal.SIGTERM)
        else:
            raise ValueError(how)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.runner.wait(timeout=grace)
        survivors = [p for p in self.ours() if p.is_running()]
        killed = []
        if how == "systemd" and survivors:
            # TimeoutStopSec passed: systemd kills what is left of the unit.
            for process in survivors:
                with contextlib.suppress(psutil.Error):
                    killed.append(f"{process.pid} {' '.join(process.cmdline()[:6])}")
                    process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.runner.wait(timeout=10)
        time.sleep(1.0)
        left = []
        for process in self.ours():
            with contextlib.suppress(psutil.Error):
                left.append(f"{process.pid} {' '.join(process.cmdline()[:6])}")
        ports = {name: port for name, port in self.ports.items() if name != "emulator"}
        redis_port = self.redis_port()
        if redis_port:
            ports["redis"] = redis_port
        taken = {name: port for name, port in ports.items() if not _port_free(port)}
        postgres_socket = any(self.var_dir.glob("pg/.s.PGSQL.*"))
        outcome = {
            "how": how,
            "seconds": round(time.monotonic() - started, 1),
            "processes_before": len(before),
            "runner_exit": self.runner.poll(),
            "killed_after_timeout": killed,
            "survivors": left,
            "ports_taken": taken,
            "postgres_socket_left": postgres_socket,
        }
        self.full_stops.append(outcome)
        return outcome

    def redis_port(self) -> int | None:
        port_file = self.var_dir / "redis" / "port"
        return int(port_file.read_text()) if port_file.exists() else None

    def shutdown_everything(self) -> None:
        """Last resort on the way out (an exception in the driver): nothing of ours may stay behind."""
        if self.runner is not None and self.runner.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.runner.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.runner.wait(timeout=150)
        for process in self.ours():
            with contextlib.suppress(psutil.Error):
                process.kill()
        self.stop_emulator()
        from devstack.runtime import stop_embedded

        stop_embedded(wait=True)
