"""django-celery-results' database backend (`django-db`), waiting out a database gone for a moment.

Celery writes a task's state (retry, failure, success) to the result backend around the task's
body. django-celery-results retries only InterfaceError; a database restart or failover raises
OperationalError ("the connection is closed", "connection refused"), Celery then fails outside the
task's body, and a worker's main process keeps its dead connection for good. Here both close the
connection and try again, a bounded number of times (result_backend_max_retries).
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError, connection
from django_celery_results.backends.database import DatabaseBackend as BaseDatabaseBackend


class DatabaseBackend(BaseDatabaseBackend):  # type: ignore[misc]
    def exception_safe_to_retry(self, exc: BaseException) -> bool:
        if isinstance(exc, (InterfaceError, OperationalError)):
            # The next try opens a new connection.
            connection.close()
            return True
        return False
