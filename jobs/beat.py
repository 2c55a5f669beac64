"""Beat's pulse: the scheduler writes a heartbeat to Redis on every tick.

django-celery-beat's DatabaseScheduler ticks at least every 5 s, so a heartbeat older than
a minute means beat is gone even though the schedule rows look fine. Health and queue
triage read `beat_status()`; when no heartbeat was ever written (beat started with another
scheduler class) they fall back to how recently any periodic task ran. The scheduler also
holds back every run while the kill switch is engaged and releases it at its time (jobs.control).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Max
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler
from redis.exceptions import RedisError

from core.redis import get_redis, key
from jobs.control import kill_switch_get, kill_switch_resume_due

logger = logging.getLogger(__name__)


def heartbeat_max_age() -> float:
    return float(getattr(settings, "BEAT_HEARTBEAT_MAX_AGE_SECONDS", 60))


# The most frequent job runs every 30 min; no run for longer than this means no beat.
PERIODIC_RUN_MAX_AGE = timedelta(minutes=45)


def _heartbeat_key() -> str:
    return key("beat", "heartbeat")


def beat_heartbeat(*, at: float | None = None) -> None:
    get_redis().set(_heartbeat_key(), str(at if at is not None else time.time()), ex=int(heartbeat_max_age() * 10))


class HeartbeatScheduler(DatabaseScheduler):
    """DatabaseScheduler that proves it is alive on every tick, and honours the kill switch:
    nothing is sent while it is engaged (a due run is skipped, not piled up for later), and the
    tick itself resumes it at its time — not a task, which the switch would hold back."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            kill_switch_resume_due()
        except Exception:
            # Never stops the schedule. Not released: asked again next tick. Released but the
            # broadcast failed: its audit row says so; `kill_switch off` broadcasts again.
            logger.exception("kill switch automatic resume failed")
        interval = super().tick(*args, **kwargs)
        try:
            beat_heartbeat()
        except RedisError:
            # A Redis blip must not stop the schedule; health will show the stale pulse.
            logger.warning("beat heartbeat not written", exc_info=True)
        return interval

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        try:
            engaged = kill_switch_get().engaged
        except DatabaseError:
            # The workers hold their queues under the switch anyway: what is sent waits there.
            logger.warning("kill switch unreadable; sending %s", entry.name, exc_info=True)
            engaged = False
        if engaged:
            logger.warning("kill switch engaged: %s not sent", entry.name, extra={"job": entry.task})
            return
        super().apply_entry(entry, producer=producer)


def beat_status(*, now: datetime | None = None) -> dict[str, Any]:
    """{healthy, last_beat_tick, age_s, source}: is exactly-one-beat alive?"""
    now = now or timezone.now()
    raw = get_redis().get(_heartbeat_key())
    if raw:
        tick = datetime.fromtimestamp(float(raw), tz=UTC)
        age = max(0.0, (now - tick).total_seconds())
        return {"healthy": age <= heartbeat_max_age(), "last_beat_tick": tick, "age_s": round(age, 1), "source": "heartbeat"}
    from django_celery_beat.models import PeriodicTask

    last = PeriodicTask.objects.filter(enabled=True).aggregate(last=Max("last_run_at"))["last"]
    if last is None:
        return {"healthy": False, "last_beat_tick": None, "age_s": None, "source": "none"}
    age = max(0.0, (now - last).total_seconds())
    return {
        "healthy": now - last <= PERIODIC_RUN_MAX_AGE,
        "last_beat_tick": last,
        "age_s": round(age, 1),
        "source": "periodic_tasks",
    }
