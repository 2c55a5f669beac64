"""The soak's stack runner: `python -m bench.soak.runner <spec.json>`, what `make demo` is to a terminal.

It starts the embedded PostgreSQL and Redis (when the spec says so) and the servers of the spec
(web, workers, beat, the alert evaluator) through devstack.processes, and keeps them up as compose's
`restart: unless-stopped` does: a server that exits is started again a second later. SIGHUP makes it
re-read the spec (a worker's new concurrency, a server held down or given back). SIGINT or SIGTERM
stops everything on the stop path the demo uses: the runbooks' order, one signal each, a group kill
after the grace period, then Redis and the database. Every event is a JSON line on stdout
(the soak's var/soak/log/runner.log).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from devstack.processes import ServerSpec, Stack, alerts_spec, beat_spec, web_spec, worker_spec

RESTART_DELAY_SECONDS = 1.0


def say(event: str, **fields: Any) -> None:
    print(json.dumps({"ts": time.time(), "event": event, **fields}), flush=True)


def server_specs(spec: dict[str, Any]) -> dict[str, ServerSpec]:
    """The ServerSpec of every server the spec names."""
    base = dict(spec["env"])
    specs: dict[str, ServerSpec] = {}
    for row in spec["servers"]:
        name = row["name"]
        # Each process names itself to PostgreSQL: a fault can end exactly the workers' connections.
        env = {**base, "DATABASE_URL": f"{base['DATABASE_URL']}&application_name=soak-{name}"}
        kind = row["kind"]
        if kind == "web":
            specs[name] = web_spec(port=row["port"], workers=row.get("workers", 2), threads=row.get("threads", 4), env=env)
        elif kind == "worker":
            specs[name] = worker_spec(name=name, hostname=row["hostname"], concurrency=row["concurrency"], env=env)
        elif kind == "beat":
            specs[name] = beat_spec(schedule=Path(spec["var_dir"]) / "celerybeat-schedule", env=env)
        elif kind == "alerts":
            specs[name] = alerts_spec(interval=row.get("interval"), env=env)
        else:
            raise ValueError(f"unknown server kind {kind!r}")
    return specs


class Runner:
    def __init__(self, spec_path: Path) -> None:
        self.spec_path = spec_path
        self.spec: dict[str, Any] = json.loads(spec_path.read_text())
        self.stack = Stack(log_dir=Path(self.spec["log_dir"]), banner="soak runner")
        self.specs = server_specs(self.spec)
        self.held: set[str] = set(self.spec.get("held", []))
        self.exited_at: dict[str, float] = {}
        self.reload_wanted = False
        self.stop_wanted = ""

    def write_state(self) -> None:
        state = {
            name: {"pid": server.pid, "running": server.running(), "argv": list(server.spec.argv)}
            for name, server in self.stack.servers.items()
        }
        state_path = Path(self.spec["state_path"])
        state_path.with_suffix(".tmp").write_text(json.dumps(state))
        state_path.with_suffix(".tmp").replace(state_path)

    def start(self, name: str, *, event: str = "started") -> None:
        server = self.stack.start(self.specs[name])
        say(event, server=name, pid=server.pid)

    def stop(self, name: str, *, event: str = "stopped") -> None:
        server = self.stack.servers.get(name)
        if server is not None and server.stopped is None:
            outcome = self.stack.stop([name])[0]
            say(event, server=name, **outcome.as_dict())

    def boot(self) -> None:
        if self.spec.get("embedded"):
            from devstack.runtime import ensure_postgres, ensure_redis

            ensure_postgres()
            ensure_redis()
            say("embedded", servers=["postgres", "redis"])
        for name in self.specs:
            if name not in self.held:
                self.start(name)
        self.write_state()

    def reload(self) -> None:
        self.spec = json.loads(self.spec_path.read_text())
        specs = server_specs(self.spec)
        held = set(self.spec.get("held", []))
        for name, spec in specs.items():
            current = self.stack.servers.get(name)
            running = current is not None and current.stopped is None and current.running()
            if name in held:
                if current is not None:
                    self.stop(name, event="held")
            elif spec != self.specs.get(name) and current is not None:
                self.stop(name, event="stopped for a change")
                self.specs[name] = spec
                self.start(name, event="restarted with a change")
            elif not running:
                self.specs[name] = spec
                self.start(name, event="released")
        self.specs, self.held = specs, held
        self.write_state()

    def watch(self) -> None:
        now = time.monotonic()
        for server in self.stack.exited():
            name = server.name
            if name in self.held:
                continue
            if name not in self.exited_at:
                self.exited_at[name] = now
                say("exited", server=name, pid=server.pid, returncode=server.process.returncode)
            elif now - self.exited_at[name] >= RESTART_DELAY_SECONDS:
                del self.exited_at[name]
                self.start(name, event="restarted")
                self.write_state()

    def shutdown(self, how: str) -> None:
        say("stopping", how=how)
        for outcome in self.stack.stop():
            say("stopped", server=outcome.name, **outcome.as_dict())
        if self.spec.get("embedded"):
            from devstack.runtime import stop_postgres, stop_redis

            # The runbooks' order: Redis, then the database.
            stop_redis(wait=True)
            say("stopped", server="redis")
            stop_postgres(wait=True)
            say("stopped", server="postgres")
        self.write_state()
        say("done")

    def run(self) -> int:
        def on_stop(signum: int, _frame: Any) -> None:
            # Ignore the rest: a second signal must not cut the stop path short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.stop_wanted = signal.Signals(signum).name

        def on_reload(*_: Any) -> None:
            self.reload_wanted = True

        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGHUP, on_reload)
        self.boot()
        while not self.stop_wanted:
            if self.reload_wanted:
                self.reload_wanted = False
                self.reload()
            self.watch()
            time.sleep(0.2)
        self.shutdown(self.stop_wanted)
        return 0


def main(argv: list[str]) -> int:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return Runner(Path(argv[0])).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
