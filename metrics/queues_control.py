"""Doors of operator control: revoke/terminate a run, pause/resume a queue (admin page and API).

The work is in opsconsole.jobs.control; these views check input, name the actor and answer.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from metrics.api import JobRunSerializer
from opsconsole.actors import request_actor
from opsconsole.jobs.control import (
    RunFinished,
    UnknownQueue,
    celery_queue_names,
    job_run_revoke,
    queue_pause,
    queue_resume,
    queues_paused,
)
from opsconsole.jobs.models import JobRun
from opsconsole.permissions import user_can_operate


class RevokeSerializer(serializers.Serializer):
    terminate = serializers.BooleanField(
        required=False, default=False, help_text="Kill the task if it is running (its lock and claims are released)."
    )


class JobRunRevokeView(APIView):
    @extend_schema(
        request=RevokeSerializer,
        responses={200: JobRunSerializer, 409: inline_serializer("RunAlreadyFinished", {"detail": serializers.CharField()})},
        description="Operators only. Queued or running runs become `revoked`; a finished run answers 409.",
        tags=["jobs"],
    )
    def post(self, request: Request, pk: int) -> Response:
        run = JobRun.objects.filter(pk=pk).first()
        if run is None:
            raise NotFound(f"No job run {pk}.")
        serializer = RevokeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            run = job_run_revoke(
                run=run, terminate=serializer.validated_data["terminate"], actor=request_actor(request, door="api")
            )
        except RunFinished as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(JobRunSerializer(run).data)


QueueControlSerializer = inline_serializer(
    "QueueControl",
    {
        "name": serializers.CharField(),
        "paused": serializers.BooleanField(),
        "changed": serializers.BooleanField(),
        "workers": serializers.ListField(child=serializers.CharField()),
    },
)


class QueueControlView(APIView):
    operation = "pause"

    @extend_schema(
        request=None,
        responses={200: QueueControlSerializer},
        description="Operators only. Every worker stops (pause) or starts again (resume) consuming the queue; "
        "messages stay queued meanwhile, and a worker started while the queue is paused stays off it.",
        tags=["ops"],
    )
    def post(self, request: Request, name: str) -> Response:
        control = queue_pause if self.operation == "pause" else queue_resume
        try:
            result = control(name=name, actor=request_actor(request, door="api"))
        except UnknownQueue as exc:
            raise NotFound(str(exc)) from exc
        return Response({"name": result.name, "paused": result.paused, "changed": result.changed, "workers": result.workers})


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
    }
    return TemplateResponse(request, "admin/metrics/queues.html", context)


def queues_admin_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    """/admin/metrics/metricsnapshot/queues/ (README "Pause and resume a queue")."""
    return [
        path(
            "queues/",
            model_admin.admin_site.admin_view(lambda request: queues_admin_view(request, model_admin)),
            name="metrics_queues",
        )
    ]
