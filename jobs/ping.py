"""Job ping URLs (healthchecks.io's protocol): `<url>/start` when a run starts, `<url>` on
success, `<url>/fail` on failure — so a monitor outside this stack notices when it is down.

Sent from one background thread per worker process, in order, with a short timeout: a slow
or dead monitor never slows a job, and nothing here can fail one.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from django.conf import settings

from core.netguard import url_check_target

logger = logging.getLogger(__name__)

SUFFIXES = {"start": "/start", "success": "", "fail": "/fail"}

_executor: ThreadPoolExecutor | None = None
_executor_pid = 0
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    # One thread keeps start → success/fail in order; a forked pool child makes its own.
    global _executor, _executor_pid
    with _executor_lock:
        if _executor is None or _executor_pid != os.getpid():
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job-ping")
            _executor_pid = os.getpid()
        return _executor


def ping_url_for(job_name: str) -> str:
    from jobs.models import JobPing

    row = JobPing.objects.filter(job_name=job_name).only("url").first()
    return row.url if row else ""


def _send(url: str, job_name: str, event: str) -> None:
    try:
        url_check_target(url)
        requests.get(url, timeout=float(settings.JOB_PING_TIMEOUT_SECONDS), allow_redirects=False)
    except Exception as exc:  # a monitor's trouble is never the job's
        logger.warning("job ping not delivered", extra={"job": job_name, "event": event, "error": type(exc).__name__})


def job_ping(job_name: str, event: str) -> None:
    """Queue the ping of `event` (start | success | fail) when the job has a ping URL."""
    try:
        base = ping_url_for(job_name)
        if base:
            _pool().submit(_send, base.rstrip("/") + SUFFIXES[event], job_name, event)
    except Exception as exc:
        logger.warning("job ping skipped", extra={"job": job_name, "event": event, "error": type(exc).__name__})
