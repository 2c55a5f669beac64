"""The Celery queues as the broker holds them: their names and how many messages wait in each."""

from __future__ import annotations

import redis
from celery import current_app
from django.conf import settings

# kombu's Redis transport: one list per priority step, "<queue>\x06\x16<step>" for steps > 0.
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)


def _broker_prefix() -> str:
    return str(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", ""))


def _broker_client() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2)


def queue_lengths(names: list[str]) -> dict[str, int]:
    """Messages waiting in each queue (all priority lists summed)."""
    prefix = _broker_prefix()
    client = _broker_client()
    try:
        pipe = client.pipeline(transaction=False)
        for name in names:
            for step in PRIORITY_STEPS:
                pipe.llen(f"{prefix}{name}{PRIORITY_SEPARATOR}{step}" if step else f"{prefix}{name}")
        sizes = pipe.execute()
    finally:
        client.close()
    step_count = len(PRIORITY_STEPS)
    return {name: int(sum(sizes[i * step_count : (i + 1) * step_count])) for i, name in enumerate(names)}


def declared_queues() -> list[str]:
    app = current_app
    names = {app.conf.task_default_queue or "celery"}
    for queue in app.conf.task_queues or ():
        names.add(queue.name)
    routes = app.conf.task_routes or {}
    if isinstance(routes, dict):
        for route in routes.values():
            if isinstance(route, dict) and route.get("queue"):
                names.add(str(route["queue"]))
    return sorted(names)


def queue_of_task(task_name: str) -> str:
    app = current_app
    try:
        queue = app.amqp.router.route({}, task_name)["queue"]
        return str(getattr(queue, "name", queue))
    except Exception:
        return str(app.conf.task_default_queue)
