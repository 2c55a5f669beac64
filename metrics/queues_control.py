"""The admin page that pauses and resumes queues (its API twin is jobs.api.QueueControlView);
the work is in jobs.control."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from core.actors import request_actor
from core.permissions import user_can_operate
from jobs.control import (
    UnknownQueue,
    celery_queue_names,
    kill_switch_state,
    queue_pause,
    queue_resume,
    queues_paused,
)


def queues_admin_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    if request.method == "POST":
        if not user_can_operate(request.user):
            raise PermissionDenied
        name, operation = request.POST.get("queue", ""), request.POST.get("operation", "")
        control = {"pause": queue_pause, "resume": queue_resume}.get(operation)
        if control is None:
            messages.error(request, "Choose pause or resume.")
        else:
            try:
                result = control(name=name, actor=request_actor(request, door="admin"))
                workers = ", ".join(result.workers) or "no worker was consuming it"
                messages.success(request, f"Queue {name} {'paused' if result.paused else 'resumed'} ({workers}).")
            except UnknownQueue as exc:
                messages.error(request, str(exc))
        return HttpResponseRedirect(reverse("admin:metrics_queues"))
    paused = queues_paused()
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Queues: pause and resume",
        "queues": [{"name": name, "paused": name in paused} for name in celery_queue_names()],
        "can_operate": user_can_operate(request.user),
        "kill_switch": kill_switch_state(),
    }
    return TemplateResponse(request, "admin/metrics/queues.html", context)


def queues_admin_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    """/admin/metrics/metricsnapshot/queues/ (docs/runbooks/pause-resume-queue.md)."""
    return [
        path(
            "queues/",
            model_admin.admin_site.admin_view(lambda request: queues_admin_view(request, model_admin)),
            name="metrics_queues",
        )
    ]
