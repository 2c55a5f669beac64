"""Deploy markers: each process of the stack records its start (version, host, pid) at boot."""

from __future__ import annotations

import logging
import os
import socket

from django.db import DatabaseError, connection, transaction

from core.models import ProcessStart
from core.version import running_version

logger = logging.getLogger(__name__)


def process_start_record(*, kind: str, name: str = "") -> ProcessStart | None:
    """Record this process's start. A database that is not there yet must not stop a boot
    (the process retries its own connections later): the marker is lost, with a warning."""
    version = running_version()
    try:
        with transaction.atomic():
            # Processes of one kind booting together (gunicorn's workers) take turns: each reads the
            # start before its own, so one deploy is one marker, not one per worker.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"process-start:{kind}"])
            previous = (
                ProcessStart.objects.filter(kind=kind).order_by("-started_at", "-id").values_list("version", flat=True).first()
            )
            start = ProcessStart.objects.create(
                kind=kind,
                version=version,
                previous_version=previous or "",
                hostname=socket.gethostname()[:255],
                name=name[:255],
                pid=os.getpid(),
            )
    except DatabaseError as exc:
        logger.warning("process start not recorded: %s", exc, extra={"kind": kind})
        return None
    logger.info("process started", extra={"kind": kind, "version": version, "deploy": start.is_deploy})
    return start
