"""`python -m bench soak`: boot, build the fleet, run the faults and the workload, drain, count, stop."""

from __future__ import annotations

import contextlib
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from bench.soak.config import SoakConfig
from bench.soak.db import read
from bench.soak.stack import SoakStack


def say(started: float, text: str) -> None:
    print(f"  [{time.time() - started:6.0f} s] {text}", flush=True)


def _db(query: Any, default: Any = None) -> Any:
    """A read for progress and the drain: a database still away answers `default`."""
    try:
        return read(query, attempts=3)
    except Exception:
        return default


def drained(*, since: float, edits_ended: float) -> dict[str, Any]:
    """What still moves; empty when the stack is at rest."""
    from django.db.models import Q
    from django.utils import timezone

    from ingest.models import AlbumSource
    from jobs.models import JobRun
    from playlists.models import Playlist

    now = timezone.now()
    busy: dict[str, Any] = {}
    sources = AlbumSource.objects.filter(
        Q(status="processing") | Q(status="queued", not_before__isnull=True) | Q(status="queued", not_before__lte=now)
    ).count()
    if sources:
        busy["album sources waiting"] = sources
    runs = JobRun.objects.filter(status__in=["queued", "running"]).exclude(job_name="evaluate_alerts").count()
    if runs:
        busy["job runs queued or running"] = runs
    # A retry waiting for its countdown (a lock held, a 429 or 5xx) is work still to come.
    retrying = JobRun.objects.filter(status="retrying").exclude(job_name="evaluate_alerts").count()
    if retrying:
        busy["job runs waiting to retry"] = retrying
    pending = (
        Playlist.objects.filter(
            status="active",
            frozen=False,
            not_before__isnull=True,
            account__is_active=True,
            account__health__in=["ok", "degraded"],
        )
        .exclude(sync_state__in=["synced", "failed"])
        .count()
    )
    if pending:
        busy["playlists not synced"] = pending
    verified = JobRun.objects.filter(
        job_name="verify_playlists", status="success", started_at__gte=datetime.fromtimestamp(edits_ended, tz=UTC)
    ).exists()
    if not verified:
        busy["a verify run after the last edit on Spotify"] = "waiting"
    return busy


def main(argv: list[str]) -> int:
    config = SoakConfig.from_env()
    print(f"soak: seed {config.seed}, {config.minutes:g} min; replay with {config.replay}", flush=True)
    stack = SoakStack(config)
    started = time.time()
    code = 1
    try:
        code = _run(config, stack, started)
    except BaseException:
        traceback.print_exc()
        print(f"soak: the run itself failed (seed {config.seed}); logs in {stack.log_dir}", flush=True)
        code = 2
    finally:
        with contextlib.suppress(Exception):
            stack.shutdown_everything()
    return code


def _run(config: SoakConfig, stack: SoakStack, t0: float) -> int:
    stack.prepare()
    import django

    django.setup()
    import logging

    logging.getLogger("spotipy").setLevel(logging.CRITICAL)
    from bench.soak import fleet as fleet_module
    from bench.soak.faults import chaos_for
    from bench.soak.ledger import Ledger
    from bench.soak.report import render, write
    from bench.soak.workload import Workload
    from devstack.emulator import Catalog, EmulatorRemote

    say(t0, f"var dir {stack.var_dir}; web :{stack.ports['web']}, emulator :{stack.ports['emulator']}")
    stack.start_emulator()
    emulator = EmulatorRemote(stack.emulator_url)
    say(t0, f"emulator up ({config.albums + 20} albums, {config.latency_ms:g} ms a call)")
    fleet = fleet_module.fleet_prepare(config=config, emulator=emulator, env=stack.server_env)
    stack.start_runner()
    stack.wait_ready()
    say(t0, "stack up: web, " + ", ".join(stack.worker_names()) + ", beat, alerts")
    doors = fleet_module.fleet_connect(config=config, fleet=fleet, web_url=stack.web_url)
    say(t0, f"fleet: {len(fleet.apps)} apps, {len(fleet.accounts)} accounts connected through the OAuth flow")

    album_ids = emulator.album_ids()[: config.albums]
    workload = Workload(doors=doors, album_ids=album_ids, seed=config.seed)
    workload.first_wave()
    doors.api("POST", "jobs/update", json={"name": "ingest_albums_from_sources", "run_now": True})
    from ingest.models import AlbumSource

    fleet_module.wait_for(
        lambda: _db(lambda: AlbumSource.objects.filter(status="done").count() >= len(workload.first) * 0.9, False),
        seconds=300,
        what="the first wave of albums ingested",
    )
    say(t0, f"first wave: {len(workload.first)} albums ingested")
    doors.api("POST", "playlists/scale", json={"dry_run": False})
    from playlists.models import Playlist

    fleet_module.wait_for(
        lambda: _db(
            lambda: Playlist.objects.filter(status="active", sync_state="synced").count() >= config.playlists * 0.9, False
        ),
        seconds=600,
        what="the fleet's playlists created and synced",
        interval=5,
    )
    stagger = fleet_module.stagger_reshuffles(config=config)
    say(t0, f"{stagger} playlists on Spotify; reshuffles fall due through the run")

    # --- the run ---------------------------------------------------------------------------------------
    run_started = time.time()
    chaos = chaos_for(config=config, stack=stack, doors=doors, emulator=emulator, fleet=fleet)
    chaos.started = run_started
    plan = chaos.plan()
    say(t0, f"run: {len(plan)} faults of {len({f.kind for f in plan})} kinds over {config.fault_end_seconds:.0f} s")
    workload.start(seconds=config.fault_end_seconds * 0.9)
    chaos.run()
    still = chaos.join(seconds=600)
    workload.stop()
    emulator.clear_faults()
    faults_ended = time.time()
    say(t0, f"faults over ({'still running: ' + ', '.join(still) if still else 'all ended'}); draining")
    edits = [f.ended or faults_ended for f in chaos.faults if f.kind in ("playlist_edited", "playlist_deleted")]
    edits_ended = max(edits, default=run_started)
    deadline = time.time() + config.drain_seconds
    busy: dict[str, Any] = {"not checked yet": True}
    last_say = 0.0
    while time.time() < deadline:
        busy = _db(lambda: drained(since=run_started, edits_ended=edits_ended), {"database": "unreachable"})
        if not busy:
            break
        if time.time() - last_say > 20:
            say(t0, f"draining: {busy}")
            last_say = time.time()
        time.sleep(3)
    # The evaluator resolves what cleared: two of its rounds after the rest is at rest.
    time.sleep(2 * config.alert_interval_seconds + 2)
    run_ended = time.time()
    say(t0, f"drained in {run_ended - faults_ended:.0f} s{'' if not busy else f' (bound reached: {busy})'}")

    # --- the ledger -------------------------------------------------------------------------------------
    catalog = Catalog(config.seed, album_count=config.albums + 20, artist_count=max(30, (config.albums + 20) // 2))
    catalog_tracks = {album: len(catalog.album_track_ids(album)) for album in album_ids}
    secrets = _secrets(fleet)
    ledger = Ledger(
        run_started=run_started,
        run_ended=run_ended,
        faults=chaos.faults,
        seed=config.seed,
        emulator=emulator,
        catalog_tracks=catalog_tracks,
        submitted=workload.submitted,
        log_dir=stack.log_dir,
        secrets=secrets,
        full_stops=stack.full_stops,
    )
    ledger.run()
    # The final stop: the other way than the one taken mid-run.
    final = "systemd" if chaos.mid_run_stop == "stop_ctrl_c" else "ctrl-c"
    outcome = stack.stop_all(final)
    say(
        t0,
        f"stopped as {final} does in {outcome['seconds']} s; survivors {len(outcome['survivors'])}, ports taken {outcome['ports_taken']}",
    )
    ledger.check_full_stops()
    from bench.soak.logs import runner_events

    exits = [
        f"{event['server']}@{float(event['ts']) - run_started:.0f}s (exit {event.get('returncode')}, after {ledger.before(float(event['ts']))})"
        for event in runner_events(stack.log_dir)
        if event.get("event") == "exited"
    ]
    extra = {
        # A server that exited by itself (the runner started it again, as compose would): informational.
        "server_exits": exits,
        "drain": {"seconds": round(run_ended - faults_ended), "left": busy},
        "workload": workload.figures(),
        "door_calls": len(doors.calls),
    }
    print(render(ledger=ledger, config=config, extra=extra), flush=True)
    report_path = stack.var_dir / "report.json"
    write(path=report_path, ledger=ledger, config=config, extra=extra)
    print(f"report: {report_path}; logs: {stack.log_dir}", flush=True)
    stack.stop_emulator()
    return 0 if ledger.ok else 1


def _secrets(fleet: Any) -> dict[str, str]:
    import os

    values = {
        "SECRET_KEY": os.environ.get("SECRET_KEY", ""),
        "operator password": fleet.password,
        "operator API token": fleet.token,
    }
    for n, key in enumerate(os.environ.get("TOKEN_ENCRYPTION_KEYS", "").split(",")):
        values[f"TOKEN_ENCRYPTION_KEYS[{n}]"] = key.strip()
    for app in fleet.apps:
        values[f"client secret of {app['name']}"] = app["secret"]
    return values


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
