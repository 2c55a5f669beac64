"""`manage.py evaluate_alerts --loop` outlives a restart of Redis and of PostgreSQL.

The loop is the one process left to notice NoWorkers and BeatGone, and `make demo` does not start
it again when it exits. The chaos soak saw it exit on every Redis restart (the evaluation's lock)
and every PostgreSQL restart (a connection the server ended). A real evaluator process runs here
against a private Redis that is killed and started again, and its database connection is ended
with pg_terminate_backend; it must log the failed round and go on evaluating.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from tests.drills.test_redis_restarted import PrivateRedis
from tests.fixtures_celery import BASE_DIR, database_url_for_tests
from tests.fixtures_drills import wait_for

pytestmark = pytest.mark.slow

APPLICATION_NAME = "test-alert-evaluator"
ROUND = '"rules":'
FAILED = "alert evaluation failed"


class Evaluator:
    def __init__(self, log: Path, process: subprocess.Popen[bytes]) -> None:
        self.log = log
        self.process = process

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def rounds(self) -> int:
        return self.text().count(ROUND)

    def failures(self) -> int:
        return self.text().count(FAILED)


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    with tempfile.TemporaryDirectory(prefix="evaluator-redis-") as workdir:
        server = PrivateRedis(Path(workdir))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def evaluator(transactional_db: None, redis_server: PrivateRedis, tmp_path: Path) -> Iterator[Evaluator]:
    url = database_url_for_tests()
    env = {
        **os.environ,
        "DATABASE_URL": f"{url}{'&' if '?' in url else '?'}application_name={APPLICATION_NAME}",
        "REDIS_URL": redis_server.url,
        "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
        "CONN_MAX_AGE": "600",  # one connection kept across rounds, as in production
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "alerts.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "evaluate_alerts", "--loop", "--interval", "5"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Evaluator(log, process)
    finally:
        process.kill()
        process.wait(timeout=10)


def _alive_and_evaluating(evaluator: Evaluator, *, after: int, what: str) -> None:
    wait_for(
        lambda: evaluator.rounds() > after or evaluator.process.poll() is not None,
        timeout=60,
        interval=0.2,
        what=what,
    )
    assert evaluator.process.poll() is None, f"the evaluator exited ({what}):\n{evaluator.text()[-3000:]}"
    assert evaluator.rounds() > after


def test_the_evaluator_loop_outlives_a_redis_restart_and_a_database_restart(
    evaluator: Evaluator, redis_server: PrivateRedis
) -> None:
    _alive_and_evaluating(evaluator, after=0, what="a first round")

    redis_server.stop()
    wait_for(
        lambda: evaluator.failures() >= 1 or evaluator.process.poll() is not None,
        timeout=60,
        interval=0.2,
        what="a round while Redis is away",
    )
    assert evaluator.process.poll() is None, f"the evaluator exited with Redis away:\n{evaluator.text()[-3000:]}"
    assert evaluator.failures() >= 1
    redis_server.start()
    _alive_and_evaluating(evaluator, after=evaluator.rounds(), what="a round after Redis came back")

    # PostgreSQL ends the evaluator's connection, as a restart or pg_terminate_backend does.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", [APPLICATION_NAME])
        ended: list[Any] = cursor.fetchall()
    assert ended, "the evaluator holds a database connection between rounds"
    _alive_and_evaluating(evaluator, after=evaluator.rounds(), what="a round after its connection was ended")
