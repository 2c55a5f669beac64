"""Deploy markers: each process records its start (version, host, pid) at boot; a start running
another version than the last one of its kind is a deploy."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core.deploys import process_start_record
from core.models import ProcessStart
from devstack.runtime import BASE_DIR
from tests.fixtures_celery import database_url_for_tests
from tests.fixtures_web import gunicorn_serving


def test_a_start_on_another_version_is_a_deploy_and_a_restart_is_not(db: None, settings: Any) -> None:
    settings.OPSCONSOLE_VERSION = "4f2c9ab"
    first = process_start_record(kind="worker", name="worker@a")
    restart = process_start_record(kind="worker", name="worker@a")
    beat = process_start_record(kind="beat")
    settings.OPSCONSOLE_VERSION = "77d01e3"
    upgraded = process_start_record(kind="worker", name="worker@a")
    assert first and restart and beat and upgraded
    assert (first.version, first.previous_version, first.is_deploy) == ("1.0.0+4f2c9ab", "", True)
    assert (restart.is_deploy, beat.is_deploy) == (False, True)  # each kind has its own history
    assert (upgraded.previous_version, upgraded.version, upgraded.is_deploy) == ("1.0.0+4f2c9ab", "1.0.0+77d01e3", True)
    assert first.pid == os.getpid() and first.hostname


def test_the_web_server_records_its_start_at_boot(tmp_path: Path, transactional_db: None) -> None:
    with gunicorn_serving(tmp_path / "web.log", workers=2, env={"OPSCONSOLE_VERSION": "build-42"}) as (_, server):
        # Both workers load the application; one answered, the other may still be booting.
        deadline = time.monotonic() + 60
        while ProcessStart.objects.filter(kind="web").count() < 2:
            assert time.monotonic() < deadline, (tmp_path / "web.log").read_text()
            time.sleep(0.2)
    starts = list(ProcessStart.objects.filter(kind="web").order_by("id"))
    assert [start.version for start in starts] == ["1.0.0+build-42"] * 2
    assert len({start.pid for start in starts}) == 2 and server.pid not in {start.pid for start in starts}
    assert [start.is_deploy for start in starts] == [True, False]


def test_the_alert_evaluator_records_its_start_when_it_runs_as_a_process(tmp_path: Path, transactional_db: None) -> None:
    log = tmp_path / "evaluator.log"
    with log.open("w") as out:
        evaluator = subprocess.Popen(
            [sys.executable, "manage.py", "evaluate_alerts", "--loop", "--interval", "3600"],
            cwd=BASE_DIR,
            env={**os.environ, "DATABASE_URL": database_url_for_tests()},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while not ProcessStart.objects.filter(kind="evaluator").exists():
                assert evaluator.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        finally:
            evaluator.terminate()
            evaluator.wait(timeout=30)
    assert ProcessStart.objects.get(kind="evaluator").pid == evaluator.pid


def test_processes_of_one_kind_starting_together_record_one_deploy(transactional_db: None, settings: Any) -> None:
    """Found by CI under load: gunicorn's two workers booted at once, each read no earlier start,
    and the timeline showed two deploys for one."""
    import threading

    from django.db import connections

    settings.OPSCONSOLE_VERSION = "c0ffee1"
    barrier = threading.Barrier(6)

    def boot() -> None:
        try:
            barrier.wait()
            process_start_record(kind="web")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=boot) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    starts = list(ProcessStart.objects.filter(kind="web").order_by("id"))
    assert len(starts) == 6
    assert [start.is_deploy for start in starts].count(True) == 1
