"""The Celery app: Redis broker, django-celery-results backend, DatabaseScheduler."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsconsole.settings")

from opsconsole.runtime import bootstrap  # noqa: E402

bootstrap()

app = Celery("opsconsole")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
