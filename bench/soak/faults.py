"""The fault catalogue and its seeded scheduler.

Every kind of fault is one function: it injects the fault, keeps it for its duration, ends it and
does what the runbooks tell an operator to do afterwards (re-enable, resume, re-authorize), always
through the doors. The schedule is drawn from the seed: every kind once, then more drawn by weight,
at random times inside the fault window; faults overlap freely, except the ones that take a server
of the stack away (`EXCLUSIVE`), which queue behind each other. Each one records when it ran and
what it did, for the ledger: an alert, a traceback or a redelivery after a fault is that fault's.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench.soak.config import BASE_DIR, SoakConfig
from bench.soak.db import read
from bench.soak.doors import DoorError, Doors
from bench.soak.fleet import Fleet, account_reauthorize
from bench.soak.stack import SoakStack

logger = logging.getLogger("soak")

# Faults that take a server of the stack away: one at a time.
EXCLUSIVE = {"redis_restart", "postgres_restart", "stop_ctrl_c", "stop_systemd", "worker_outage", "beat_outage"}
# Only in runs long enough for the alert's pending period (NoWorkers, BeatGone: 3 min).
LONG_ONLY = {"worker_outage", "beat_outage"}
LONG_RUN_MINUTES = 15
# How long an operator keeps sending fresh re-authorization links after failure pages.
REAUTHORIZE_SECONDS = 420
WEIGHTS = {
    "worker_sigkill": 4,
    "worker_sigterm": 2,
    "worker_resize": 1,
    "redis_restart": 1,
    "postgres_restart": 1,
    "pg_terminate": 2,
    "spotify_429_short": 3,
    "spotify_429_long": 1,
    "spotify_5xx": 3,
    "spotify_latency": 2,
    "spotify_timeout": 2,
    "token_revoked": 1,
    "playlist_deleted": 2,
    "playlist_edited": 2,
    "connector_toggle": 1,
    "queue_pause": 1,
    "job_revoke": 2,
    "job_terminate": 2,
    "reshuffle_bulk": 1,
    "playlist_count_change": 1,
    "account_deactivate": 1,
    "stop_ctrl_c": 0,
    "stop_systemd": 0,
    "worker_outage": 0,
    "beat_outage": 0,
}
# Spotify's write endpoints (the emulator's names) and those a timeout may hit.
PLAYLIST_ENDPOINTS = ("create_playlist", "playlist_details", "playlist_items_put", "playlist_items_get", "playlist_get")
CATALOG_ENDPOINTS = ("albums", "album", "album_tracks", "audio_features")


@dataclass
class Fault:
    kind: str
    at: float  # seconds into the run it was scheduled for
    started: float | None = None  # wall clock
    ended: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # What the ledger must see: [{"rule": "ConnectorDisabled", "subject": "spotify.playlists"}], with
    # "since" (wall clock) when the cause began later than the fault (it waited for another one).
    expect_alerts: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    # The account this fault acts on for its whole length: no other fault picks it meanwhile.
    claimed_account: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": round(self.at, 1),
            "started": self.started,
            "ended": self.ended,
            "details": self.details,
            "expect_alerts": self.expect_alerts,
            "error": self.error,
        }


@dataclass
class Chaos:
    config: SoakConfig
    stack: SoakStack
    doors: Doors
    emulator: Any
    fleet: Fleet
    rng: random.Random
    started: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    exclusive: threading.Lock = field(default_factory=threading.Lock)
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    connector_locks: dict[str, threading.Lock] = field(
        default_factory=lambda: {name: threading.Lock() for name in ("spotify.playlists", "spotify.albums")}
    )
    switch_offs: dict[str, list[float]] = field(default_factory=lambda: {"spotify.playlists": [], "spotify.albums": []})
    # Accounts a fault is acting on (a revoked token being re-authorized, an account deactivated):
    # two faults on one account undo each other (run 4: a second revocation of an account the first
    # had just re-authorized found nothing to re-authorize).
    claimed_accounts: set[str] = field(default_factory=set)
    claims: threading.Lock = field(default_factory=threading.Lock)
    # Full stops already taken mid-run (the final stop takes the other way).
    mid_run_stop: str = ""

    # --- the schedule ------------------------------------------------------------------------------
    def plan(self) -> list[Fault]:
        long_run = self.config.minutes >= LONG_RUN_MINUTES
        stop_kind = self.rng.choice(["stop_ctrl_c", "stop_systemd"])
        self.mid_run_stop = stop_kind
        kinds = [k for k, w in WEIGHTS.items() if w > 0] + [stop_kind]
        if long_run:
            kinds += ["worker_outage", "beat_outage", "stop_ctrl_c" if stop_kind == "stop_systemd" else "stop_systemd"]
        window_start = self.config.warmup_seconds
        window_end = self.config.fault_end_seconds
        total = max(len(kinds), int((window_end - window_start) / 12))
        population = [k for k, w in WEIGHTS.items() if w > 0]
        weights = [WEIGHTS[k] for k in population]
        extra = self.rng.choices(population, weights=weights, k=total - len(kinds))
        chosen = kinds + extra
        self.rng.shuffle(chosen)
        times = sorted(self.rng.uniform(window_start, window_end) for _ in chosen)
        # The long outages and the full stop start early enough to end inside the run.
        plan = [Fault(kind=kind, at=at) for kind, at in zip(chosen, times, strict=True)]
        for fault in plan:
            if fault.kind in LONG_ONLY or fault.kind.startswith("stop_"):
                fault.at = min(fault.at, max(window_start, window_end - 300 if fault.kind in LONG_ONLY else window_end - 60))
        plan.sort(key=lambda f: f.at)
        self.faults = plan
        return plan

    def run(self) -> None:
        """Start each fault at its time (a thread each); returns once the last has started."""
        for fault in self.faults:
            delay = self.started + fault.at - time.time()
            if self.stop_event.wait(max(0.0, delay)):
                return
            thread = threading.Thread(target=self._run_one, args=(fault,), name=f"fault-{fault.kind}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def join(self, *, seconds: float) -> list[str]:
        """Wait for every fault to end; returns the kinds still running after `seconds`."""
        deadline = time.monotonic() + seconds
        for thread in self.threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))
        return [t.name for t in self.threads if t.is_alive()]

    def _run_one(self, fault: Fault) -> None:
        from django.db import connections

        action = getattr(self, f"_{fault.kind}")
        lock = self.exclusive if fault.kind in EXCLUSIVE else contextlib.nullcontext()
        with lock:
            fault.started = time.time()
            self.say(fault, "start")
            try:
                action(fault)
            except Exception as exc:  # a fault that could not be injected is reported, never hidden
                fault.error = f"{type(exc).__name__}: {exc}"
                fault.details["traceback"] = traceback.format_exc()[-2000:]
            finally:
                # This thread's database connection may have died with a restart: never reused.
                connections.close_all()
                with self.claims:
                    self.claimed_accounts.discard(fault.claimed_account)
            fault.ended = time.time()
            self.say(fault, "end")

    def say(self, fault: Fault, what: str) -> None:
        elapsed = time.time() - self.started
        note = f" ERROR {fault.error}" if what == "end" and fault.error else ""
        brief = {k: v for k, v in fault.details.items() if k != "traceback"}
        print(f"  [{elapsed:6.0f} s] fault {fault.kind} {what} {brief if what == 'end' else ''}{note}", flush=True)

    def hold(self, seconds: float) -> None:
        self.stop_event.wait(seconds)

    # --- the stack's processes ------------------------------------------------------------------------
    def _active_tasks(self) -> dict[str, list[dict[str, Any]]]:
        from opsconsole.celery import app

        with contextlib.suppress(Exception):
            return app.control.inspect(timeout=2.0).active() or {}
        return {}

    def _busy_child(self, worker: str) -> tuple[psutil.Process | None, dict[str, Any] | None]:
        """The pool process of `worker` running a task, and the task (a random child when idle)."""
        hostname = f"soak-{worker}@localhost"
        active = self._active_tasks().get(hostname) or []
        children = {p.pid: p for p in self.stack.pool_children(worker)}
        running = [t for t in active if t.get("worker_pid") in children]
        if running:
            task = self.rng.choice(running)
            return children[task["worker_pid"]], task
        if children:
            return self.rng.choice(sorted(children.values(), key=lambda p: p.pid)), None
        return None, None

    def _running_worker(self, fault: Fault) -> str | None:
        running = [name for name in self.stack.worker_names() if self.stack.server_pid(name) is not None]
        if not running:
            fault.details["skipped"] = "no worker running"
            return None
        return str(self.rng.choice(running))

    def _worker_sigkill(self, fault: Fault) -> None:
        worker = self._running_worker(fault)
        if worker is None:
            return
        child, task = self._busy_child(worker)
        if child is None:
            fault.details["skipped"] = f"{worker} has no pool process"
            return
        child.send_signal(signal.SIGKILL)
        fault.details.update(worker=worker, pid=child.pid, task=(task or {}).get("name"), task_id=(task or {}).get("id"))

    def _worker_sigterm(self, fault: Fault) -> None:
        """SIGTERM to a worker's main process mid-task: its warm shutdown, then the runner restarts it."""
        worker = self._running_worker(fault)
        if worker is None:
            return
        pid = self.stack.server_pid(worker)
        active = self._active_tasks().get(f"soak-{worker}@localhost") or []
        if pid is None:
            fault.details["skipped"] = f"{worker} is not running"
            return
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).send_signal(signal.SIGTERM)
        fault.details.update(worker=worker, pid=pid, tasks=[t.get("name") for t in active])
        self._wait_worker_back(worker, fault, old_pid=pid)

    def _wait_worker_back(self, worker: str, fault: Fault, *, old_pid: int | None, seconds: float = 240) -> None:
        """Until the runner has started `worker` again (a new process) and it says it is ready."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pid = self.stack.server_pid(worker)
            if pid is not None and pid != old_pid and self.stack.worker_ready(worker):
                fault.details["back_after"] = round(time.time() - (fault.started or time.time()), 1)
                return
            time.sleep(1.0)
        fault.details["back_after"] = None

    def _worker_resize(self, fault: Fault) -> None:
        worker = self._running_worker(fault)
        if worker is None:
            return
        current = next(r["concurrency"] for r in self.stack.spec["servers"] if r["name"] == worker)
        new = self.rng.choice([n for n in (1, 2, 3) if n != current])
        pid = self.stack.server_pid(worker)
        self.stack.write_spec(workers={worker: new})
        self.stack.reload_runner()
        fault.details.update(worker=worker, concurrency_from=current, concurrency_to=new)
        self._wait_worker_back(worker, fault, old_pid=pid)

    def _hold_servers(self, fault: Fault, names: list[str], seconds: float) -> None:
        pids = {name: self.stack.server_pid(name) for name in names}
        self.stack.write_spec(held=names)
        self.stack.reload_runner()
        fault.details.update(held=names, seconds=round(seconds))
        self.hold(seconds)
        self.stack.write_spec(held=[])
        self.stack.reload_runner()
        for name in names:
            if name.startswith("worker"):
                self._wait_worker_back(name, fault, old_pid=pids[name])

    def _outage_seconds(self, rule: str, noticed_after: float) -> float:
        """Long enough for `rule` to fire: its condition is seen `noticed_after` seconds into the
        outage, then holds for the rule's pending period, then an evaluator round or two (run 3's
        BeatGone never opened for a 200 s beat outage: 60 s stale + 180 s pending)."""
        from alerts.rules import RULES

        pending = next(spec.pending_minutes for spec in RULES if spec.name == rule) * 60
        return noticed_after + pending + 2 * self.config.alert_interval_seconds + self.rng.uniform(15, 60)

    def _worker_outage(self, fault: Fault) -> None:
        from jobs.heartbeat import heartbeat_ttl

        seconds = self._outage_seconds("NoWorkers", noticed_after=heartbeat_ttl())
        self._hold_servers(fault, self.stack.worker_names(), seconds)
        fault.expect_alerts.append({"rule": "NoWorkers", "subject": "workers"})

    def _beat_outage(self, fault: Fault) -> None:
        from jobs.beat import heartbeat_max_age

        seconds = self._outage_seconds("BeatGone", noticed_after=heartbeat_max_age())
        self._hold_servers(fault, ["beat"], seconds)
        fault.expect_alerts.append({"rule": "BeatGone", "subject": "beat"})

    def _run_python(self, code: str) -> None:
        subprocess.run(
            [sys.executable, "-c", code], cwd=BASE_DIR, env=self.stack.server_env, check=True, capture_output=True, timeout=120
        )

    def _redis_restart(self, fault: Fault) -> None:
        from devstack.runtime import stop_redis

        down = self.rng.uniform(3, 15)
        stop_redis(wait=True)
        fault.details["down_seconds"] = round(down, 1)
        self.hold(down)
        self._run_python("from devstack.runtime import ensure_redis; ensure_redis()")

    def _postgres_restart(self, fault: Fault) -> None:
        from django.db import connections

        from devstack.runtime import stop_postgres

        down = self.rng.uniform(3, 10)
        connections.close_all()
        stop_postgres(wait=True)
        fault.details["down_seconds"] = round(down, 1)
        self.hold(down)
        self._run_python("from devstack.runtime import ensure_postgres; ensure_postgres()")

    def _pg_terminate(self, fault: Fault) -> None:
        from django.db import connection

        def terminate() -> list[Any]:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT application_name, pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name LIKE 'soak-worker%%' AND pid <> pg_backend_pid()"
                )
                return list(cursor.fetchall())

        ended = read(terminate)
        connection.close()
        fault.details["connections_ended"] = len(ended)

    def _stop(self, fault: Fault, how: str) -> None:
        outcome = self.stack.stop_all(how)
        fault.details.update({k: v for k, v in outcome.items() if k != "how"})
        self.stack.start_runner()
        self.stack.wait_ready(seconds=240)
        fault.details["back_after"] = round(time.time() - (fault.started or time.time()), 1)

    def _stop_ctrl_c(self, fault: Fault) -> None:
        self._stop(fault, "ctrl-c")

    def _stop_systemd(self, fault: Fault) -> None:
        self._stop(fault, "systemd")

    # --- Spotify (the emulator) ---------------------------------------------------------------------
    def _spotify_429_short(self, fault: Fault) -> None:
        retry_after, times, seconds = self.rng.randint(1, 3), self.rng.randint(20, 60), self.rng.uniform(10, 30)
        self.emulator.fault("*", status=429, retry_after=retry_after, times=times, seconds=seconds)
        fault.details.update(retry_after=retry_after, times=times)
        self.hold(seconds)

    def _spotify_429_long(self, fault: Fault) -> None:
        """An app's rolling window spent for hours: every call answers 429 with an hours-long Retry-After."""
        app = self.rng.choice([a["name"] for a in self.fleet.apps if a["name"] != "soak-extended-1"])
        seconds = self.rng.uniform(20, 40)
        self.emulator.set_rate_limit(app, 1, window_seconds=7200)
        fault.details.update(app=app, window_seconds=7200)
        self.hold(seconds)
        self.emulator.set_rate_limit(app, None)

    def _spotify_5xx(self, fault: Fault) -> None:
        status = self.rng.choice([500, 502, 503])
        endpoint = self.rng.choice(["*", *PLAYLIST_ENDPOINTS, *CATALOG_ENDPOINTS, "token"])
        times, seconds = self.rng.randint(10, 40), self.rng.uniform(10, 40)
        self.emulator.fault(endpoint, status=status, times=times, seconds=seconds)
        fault.details.update(endpoint=endpoint, status=status, times=times)
        self.hold(seconds)

    def _spotify_latency(self, fault: Fault) -> None:
        latency, times, seconds = round(self.rng.uniform(1, 3), 1), self.rng.randint(20, 60), self.rng.uniform(10, 30)
        self.emulator.fault("*", status=None, latency=latency, times=times, seconds=seconds)
        fault.details.update(latency=latency, times=times)
        self.hold(seconds)

    def _spotify_timeout(self, fault: Fault) -> None:
        """Answers slower than the client waits (SPOTIFY_REQUEST_TIMEOUT): Spotify may still have done the write."""
        from django.conf import settings

        endpoint = self.rng.choice([*PLAYLIST_ENDPOINTS, *CATALOG_ENDPOINTS])
        times, seconds = self.rng.randint(1, 4), self.rng.uniform(20, 40)
        latency = float(settings.SPOTIFY_REQUEST_TIMEOUT) + 2
        self.emulator.fault(endpoint, status=None, latency=latency, times=times, seconds=seconds)
        fault.details.update(endpoint=endpoint, latency=latency, times=times)
        self.hold(seconds)

    def _pick_account(self, *, mode: str | None = None, claim_for: Fault | None = None) -> tuple[str, dict[str, Any]] | None:
        """A healthy active account no other fault is acting on; `claim_for` keeps it that fault's
        until the fault ends."""
        from accounts.models import SpotifyAccount

        healthy = set(
            read(
                lambda: [
                    str(pk) for pk in SpotifyAccount.objects.filter(is_active=True, health="ok").values_list("pk", flat=True)
                ]
            )
        )
        # In the owners' order, not the ids' (random UUIDs): the seed replays the same picks.
        with self.claims:
            choices = sorted(
                (
                    (pk, row)
                    for pk, row in self.fleet.accounts.items()
                    if pk in healthy and pk not in self.claimed_accounts and (mode is None or row["mode"] == mode)
                ),
                key=lambda item: item[1]["user_id"],
            )
            picked = self.rng.choice(choices) if choices else None
            if picked is not None and claim_for is not None:
                self.claimed_accounts.add(picked[0])
                claim_for.claimed_account = picked[0]
            return picked

    def _token_revoked(self, fault: Fault) -> None:
        """The account's owner removes our access on Spotify; the console notices on its next call
        (invalid_grant), flags it, alerts; the operator sends a re-authorization link and the owner agrees."""
        from accounts.models import SpotifyAccount

        picked = self._pick_account(claim_for=fault)
        if picked is None:
            fault.details["skipped"] = "no healthy account"
            return
        account_id, row = picked
        revoked = self.emulator.revoke_user(row["user_id"])
        fault.details.update(account=account_id, user=row["user_id"], refresh_tokens_revoked=revoked)
        # Noticed on the account's next call to Spotify (verify_playlists calls for every account),
        # unless Spotify told its app to wait for hours: then nothing calls for it until after the run.
        deadline = time.monotonic() + REAUTHORIZE_SECONDS
        noticed = False
        while time.monotonic() < deadline and not self.stop_event.is_set():
            noticed = bool(read(lambda: SpotifyAccount.objects.filter(pk=account_id, health="reauth_required").exists()))
            if noticed:
                break
            time.sleep(3)
        fault.details["noticed_after"] = round(time.time() - (fault.started or time.time()), 1) if noticed else None
        if not noticed:
            blocked = self._app_blocked(row["app"])
            if blocked or self.stop_event.is_set():
                # The operator has nothing to act on: the console has not called Spotify for it since.
                fault.details["not_noticed_while"] = {"app": row["app"], "blocked_until": blocked}
                return
            raise DoorError(f"{account_id}: its revoked access was not noticed in {REAUTHORIZE_SECONDS} s")
        fault.expect_alerts.append({"rule": "AccountReauthRequired", "subject": account_id})
        # Long enough for the evaluator to see it (and page) before the owner agrees again.
        self.hold(3 * self.config.alert_interval_seconds)
        # The owner agrees again; a failure page (Spotify's token exchange answered 429 or 5xx, or
        # its circuit is open) is followed, as a person would, by a fresh link a little later: once
        # the token endpoint's circuit has closed (its cooldown doubles up to minutes under
        # overlapping 5xx faults), within REAUTHORIZE_SECONDS.
        deadline = time.monotonic() + REAUTHORIZE_SECONDS
        attempt = 0
        while True:
            attempt += 1
            try:
                account_reauthorize(doors=self.doors, account_id=account_id, user_id=row["user_id"])
            except DoorError as exc:
                fault.details[f"reauthorize_attempt_{attempt}"] = str(exc)[:160]
                blocked = self._app_blocked(row["app"])
                if blocked:
                    # Spotify told the app to wait for hours (spotify_429_long): the operator reads the
                    # rate limiter's page and sends the next link after that, past this run's end.
                    fault.details["reauthorize_waits_for"] = {"app": row["app"], "blocked_until": blocked}
                    return
                if time.monotonic() >= deadline:
                    raise DoorError(f"{account_id} could not be re-authorized in {attempt} attempts") from exc
                self.hold(10 + self._token_circuit_cooldown())
                continue
            fault.details["reauthorized"] = attempt
            return

    def _token_circuit_cooldown(self) -> float:
        """Seconds left before the token endpoint's circuit lets a call through (the operator reads
        the circuit breakers' page)."""
        answer = self.doors.api("GET", "circuit-breakers")
        return max(
            (float(b.get("remaining_cooldown") or 0) for b in answer.get("breakers", []) if b.get("name") == "spotify.token"),
            default=0.0,
        )

    def _app_blocked(self, app_name: str) -> str | None:
        """When the rate limiter says `app_name` may call Spotify again, if that is past the run's end."""
        from datetime import datetime

        answer = self.doors.api("GET", "ratelimits", params={"blocked": "true"})
        for row in answer.get("apps", []):
            if row.get("name") == app_name and row.get("blocked_until"):
                until = datetime.fromisoformat(row["blocked_until"]).timestamp()
                end = self.started + self.config.seconds + self.config.drain_seconds
                if until > end:
                    return str(row["blocked_until"])
        return None

    def _synced_playlist(self) -> tuple[str, str] | None:
        from playlists.models import Playlist

        rows = read(
            lambda: list(
                Playlist.objects.filter(status="active", sync_state="synced", frozen=False)
                .exclude(spotify_playlist_id="")
                .values_list("pk", "spotify_playlist_id")
                .order_by("account__spotify_user_id", "index", "pk")
            )
        )
        if not rows:
            return None
        pk, spotify_id = self.rng.choice(rows)
        return str(pk), spotify_id

    def _playlist_deleted(self, fault: Fault) -> None:
        picked = self._synced_playlist()
        if picked is None:
            fault.details["skipped"] = "no synced playlist"
            return
        playlist_id, spotify_id = picked
        # Unfollowed in Spotify's app ("delete" for its owner), or gone for good.
        gone = self.rng.random() < 0.5
        if gone:
            self.emulator.edit_playlist(spotify_id, deleted=True)
        else:
            self.emulator.edit_playlist(spotify_id, followed=False)
        fault.details.update(playlist=playlist_id, spotify_id=spotify_id, how="deleted" if gone else "unfollowed")

    def _playlist_edited(self, fault: Fault) -> None:
        picked = self._synced_playlist()
        if picked is None:
            fault.details["skipped"] = "no synced playlist"
            return
        playlist_id, spotify_id = picked
        current = self.emulator.playlist(spotify_id) or {}
        uris = list(current.get("uris") or [])
        self.rng.shuffle(uris)
        edit: dict[str, Any] = {"uris": uris[: max(1, len(uris) - self.rng.randint(0, 10))]}
        if self.rng.random() < 0.5:
            edit["name"] = "Edited by its owner"
        self.emulator.edit_playlist(spotify_id, **edit)
        fault.details.update(playlist=playlist_id, spotify_id=spotify_id, edited=sorted(edit))

    # --- operators ---------------------------------------------------------------------------------------
    def _connector_toggle(self, fault: Fault) -> None:
        from django.conf import settings

        from alerts.evaluator import FLAP_WINDOW

        name = self.rng.choice(["spotify.playlists", "spotify.albums"])
        seconds = self.rng.uniform(max(25, 3 * self.config.alert_interval_seconds), 60)
        # One operator's switch-off at a time per connector: a second one while it is off would
        # open no alert of its own, and the first one's switch-on would end it early.
        with self.connector_locks[name]:
            # More open-and-resolve rounds than ALERT_FLAP_THRESHOLD in FLAP_WINDOW and the product
            # holds the alert open as flapping, by design (run 5): the operator stops toggling it.
            recent = [t for t in self.switch_offs[name] if t > time.time() - FLAP_WINDOW.total_seconds()]
            if len(recent) >= int(settings.ALERT_FLAP_THRESHOLD):
                fault.details["skipped"] = f"{name} switched off {len(recent)} times within {FLAP_WINDOW}: a flapping alert"
                return
            since = time.time()
            self.switch_offs[name].append(since)
            self.doors.api("PATCH", f"connectors/{name}", json={"enabled": False, "note": "soak: switched off"})
            fault.details.update(connector=name, seconds=round(seconds))
            fault.expect_alerts.append({"rule": "ConnectorDisabled", "subject": name, "since": since})
            self.hold(seconds)
            fault.details["switch_on_sent"] = self._connector_switch_on(name)
            # The next switch-off waits until this one's alert has resolved (the evaluator's rounds).
            self.hold(3 * self.config.alert_interval_seconds)

    def _connector_switch_on(self, name: str) -> int:
        """Switch `name` back on as an operator does: send it, read it back, send it again until the
        row says enabled (run 3 left a connector off after a switch-on during a Redis restart).
        Returns how many times it was sent."""
        for attempt in range(1, 6):
            self.doors.api("PATCH", f"connectors/{name}", json={"enabled": True, "note": ""})
            if self.doors.api("GET", f"connectors/{name}").get("enabled"):
                return attempt
            self.hold(5)
        raise DoorError(f"connector {name} still off after {attempt} switch-ons")

    def _queue_pause(self, fault: Fault) -> None:
        seconds = self.rng.uniform(15, 45)
        answer = self.doors.api("POST", "queues/default/pause")
        fault.details.update(seconds=round(seconds), workers=answer.get("workers"))
        self.hold(seconds)
        self.doors.api("POST", "queues/default/resume")

    def _pick_run(self, status: str) -> dict[str, Any] | None:
        answer = self.doors.api("GET", "job-runs", params={"status": status})
        rows = [r for r in answer.get("results", []) if r.get("job_name") != "evaluate_alerts"]
        return self.rng.choice(rows) if rows else None

    def _job_revoke(self, fault: Fault) -> None:
        run = self._pick_run("queued")
        if run is None:
            fault.details["skipped"] = "no queued run"
            return
        answer = self.doors.api("POST", f"job-runs/{run['id']}/revoke", json={"terminate": False}, ok=(409,))
        fault.details.update(run=run["id"], job=run["job_name"], status=(answer or {}).get("status", "finished already"))

    def _job_terminate(self, fault: Fault) -> None:
        run = self._pick_run("running")
        if run is None:
            fault.details["skipped"] = "no running run"
            return
        answer = self.doors.api("POST", f"job-runs/{run['id']}/revoke", json={"terminate": True}, ok=(409,))
        fault.details.update(run=run["id"], job=run["job_name"], status=(answer or {}).get("status", "finished already"))

    def _reshuffle_bulk(self, fault: Fault) -> None:
        mode = self.rng.choice(["account", "all", "due"])
        body: dict[str, Any] = {"mode": mode}
        if mode == "account":
            picked = self._pick_account()
            if picked is None:
                fault.details["skipped"] = "no healthy account"
                return
            body["account_id"] = picked[0]
        answer = self.doors.api("POST", "playlists/reshuffle-bulk", json=body)
        fault.details.update(mode=mode, queued=answer.get("queued"), skipped=answer.get("skipped"))

    def _playlist_count_change(self, fault: Fault) -> None:
        """The operator changes an account's playlist count in the admin, then runs the scale job from the API."""
        from accounts.models import SpotifyAccount

        picked = self._pick_account()
        if picked is None:
            fault.details["skipped"] = "no healthy account"
            return
        account_id = picked[0]
        capacity = read(lambda: SpotifyAccount.objects.get(pk=account_id).playlist_capacity)
        new = max(1, capacity + self.rng.choice([-3, -2, 2, 3]))
        self.doors.admin_change("accounts/spotifyaccount", account_id, {"playlist_capacity": str(new)})
        answer = self.doors.api("POST", "playlists/scale", json={"dry_run": False})
        fault.details.update(account=account_id, capacity_from=capacity, capacity_to=new, scale=answer)

    def _account_deactivate(self, fault: Fault) -> None:
        """An account deactivated from the API (its playlists move to healthy accounts at the next
        scale), reactivated later from the admin."""
        picked = self._pick_account(claim_for=fault)
        if picked is None:
            fault.details["skipped"] = "no healthy account"
            return
        account_id = picked[0]
        self.doors.api("DELETE", f"accounts/{account_id}")
        self.doors.api("POST", "playlists/scale", json={"dry_run": False})
        seconds = self.rng.uniform(20, 60)
        fault.details.update(account=account_id, seconds=round(seconds))
        self.hold(seconds)
        said = self.doors.admin_action("accounts/spotifyaccount", "reactivate", [account_id])
        fault.details["admin"] = said
        if "Reactivate succeeded" not in said:
            raise DoorError(f"{account_id} not reactivated: {said}")
        self.doors.api("POST", "playlists/scale", json={"dry_run": False})


def chaos_for(*, config: SoakConfig, stack: SoakStack, doors: Doors, emulator: Any, fleet: Fleet) -> Chaos:
    return Chaos(config=config, stack=stack, doors=doors, emulator=emulator, fleet=fleet, rng=random.Random(config.seed))
