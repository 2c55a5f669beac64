"""The result backend waits out a database restart (jobs/result_backend.py).

Celery writes a task's state around its body; django-celery-results retried only InterfaceError, so
during a database restart (found by the chaos soak) the write failed outside the task's body and a
retry was reported as raised. Here new connections to the test database are refused and every open
one is ended, as while PostgreSQL restarts; a task's result written meanwhile lands once the
database is back.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections
from django_celery_results.models import TaskResult

from opsconsole.celery import app
from tests.jobs.test_task_base import _block_connections

pytestmark = [pytest.mark.slow]

DOWN_SECONDS = 3.0


def test_a_result_written_while_the_database_restarts_lands_once_it_is_back(transactional_db: None) -> None:
    errors: list[BaseException] = []

    def write() -> None:
        try:
            app.backend.store_result("soak-result-1", {"done": True}, "SUCCESS")
        except BaseException as exc:  # the assertion below names it
            errors.append(exc)
        finally:
            connections.close_all()

    writer = threading.Thread(target=write)
    try:
        _block_connections(False)
        writer.start()
        time.sleep(DOWN_SECONDS)
    finally:
        _block_connections(True)
    writer.join(timeout=120)
    assert not writer.is_alive()
    assert errors == []
    assert TaskResult.objects.filter(task_id="soak-result-1", status="SUCCESS").count() == 1
