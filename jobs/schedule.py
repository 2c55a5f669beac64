"""The schedule is code, upserted into django-celery-beat's tables."""

from __future__ import annotations

import json

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask, PeriodicTasks

from jobs.specs import JOBS


@transaction.atomic
def schedule_sync() -> dict[str, int]:
    """Upsert one PeriodicTask per job. Never touches `enabled` of an existing row."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for job in JOBS:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=job.minute, hour=job.hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
        )
        wanted = {
            "task": job.task,
            "crontab": crontab,
            "interval": None,
            "description": job.description,
            "expire_seconds": job.expires_seconds,
            "headers": json.dumps({"trigger": "schedule"}),
            "kwargs": json.dumps(job.kwargs),
        }
        task = PeriodicTask.objects.filter(name=job.name).first()
        if task is None:
            PeriodicTask.objects.create(name=job.name, enabled=True, **wanted)
            counts["created"] += 1
            continue
        changed = [name for name, value in wanted.items() if getattr(task, name) != value]
        if not changed:
            counts["unchanged"] += 1
            continue
        for name in changed:
            setattr(task, name, wanted[name])
        # save() bumps PeriodicTasks.last_update itself, so beat re-reads the schedule.
        task.save()
        counts["updated"] += 1
    if counts["created"] or counts["updated"]:
        PeriodicTasks.update_changed()
    return counts
