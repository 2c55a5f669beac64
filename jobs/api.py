"""The jobs' API: the schedule (`jobs/list`, `jobs/update`), the run history (`job-runs`) and
operator control (revoke or terminate a run, pause or resume a queue; the work is in jobs.control)."""

from __future__ import annotations

from typing import Any

from django_celery_beat.models import PeriodicTask
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.permissions import SAFE_METHODS
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from core.actors import request_actor
from core.netguard import TargetRefused, url_check_target
from core.permissions import ReadScopeRefused, StaffGroupPermission, token_scope, user_is_admin
from core.rows import JsonRowsListMixin
from core.serializers import PreviewSerializer, RefuseUnknownFields, dry_run_field, refuse_body
from core.stepup import DestructiveEndpoint
from jobs import services as job_services
from jobs.control import (
    REASON_MAX_LENGTH,
    KillSwitchInvalid,
    RunFinished,
    UnknownQueue,
    job_run_revoke,
    kill_switch_engage,
    kill_switch_input_errors,
    kill_switch_refused,
    kill_switch_release,
    kill_switch_state,
    queue_pause,
    queue_resume,
)
from jobs.filters import JobRunFilter
from jobs.job_runs import job_runs_csv_response
from jobs.models import JobRun
from jobs.selectors import jobs_overview
from jobs.serializers import JobRunSerializer


class CSVRenderer(BaseRenderer):
    """Lets `?format=csv` through content negotiation; the view streams the rows itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return b""


class JobRunListView(JsonRowsListMixin, ListAPIView):
    """Job history, newest first; filter by job, status, trigger, start date and subject
    (`playlist`, `account`, `album_source`); `?format=csv` streams the whole filtered list."""

    queryset = JobRun.objects.order_by("-started_at", "-id")
    serializer_class = JobRunSerializer
    filterset_class = JobRunFilter
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer]  # type: ignore[list-item]

    @extend_schema(tags=["jobs"], operation_id="job_runs_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        if request.accepted_renderer.format == "csv":
            return job_runs_csv_response(self.filter_queryset(self.get_queryset()))
        return super().get(request, *args, **kwargs)


class RevokeSerializer(RefuseUnknownFields, serializers.Serializer):
    terminate = serializers.BooleanField(
        required=False, default=False, help_text="Kill the task if it is running (its lock and claims are released)."
    )


# Destructive: a browser session needs a recent sign-in (core.stepup); tokens are not asked.
class JobRunRevokeView(DestructiveEndpoint, APIView):
    @extend_schema(
        request=RevokeSerializer,
        responses={200: JobRunSerializer, 409: inline_serializer("RunAlreadyFinished", {"detail": serializers.CharField()})},
        description="Operators only. Queued or running runs become `revoked`; a finished run answers 409.",
        tags=["jobs"],
    )
    def post(self, request: Request, pk: int) -> Response:
        serializer = RevokeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = JobRun.objects.filter(pk=pk).first()
        if run is None:
            raise NotFound(f"No job run {pk}.")
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
        refuse_body(request)
        control = queue_pause if self.operation == "pause" else queue_resume
        try:
            result = control(name=name, actor=request_actor(request, door="api"))
        except UnknownQueue as exc:
            raise NotFound(str(exc)) from exc
        return Response({"name": result.name, "paused": result.paused, "changed": result.changed, "workers": result.workers})


class JobSerializer(serializers.Serializer):
    name = serializers.CharField()
    task = serializers.CharField()
    enabled = serializers.BooleanField()
    description = serializers.CharField()
    schedule = serializers.CharField(help_text="Human-readable schedule (UTC).")
    crontab = serializers.CharField(allow_null=True, help_text="minute hour day-of-month month day-of-week")
    timezone = serializers.CharField()
    last_run_at = serializers.DateTimeField(allow_null=True)
    total_run_count = serializers.IntegerField()
    next_run_at = serializers.DateTimeField(allow_null=True, help_text="Estimated from the crontab.")
    last_status = serializers.CharField(allow_null=True)
    last_started_at = serializers.DateTimeField(allow_null=True)
    last_duration_ms = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    late = serializers.BooleanField(help_text="Its expected run did not start or finish within the grace period.")
    late_reason = serializers.CharField()
    late_expected_at = serializers.DateTimeField(allow_null=True)
    late_grace_minutes = serializers.IntegerField()
    ping_url_set = serializers.BooleanField(help_text="An outside monitor's ping URL is configured (never shown).")


class JobListView(APIView):
    @extend_schema(responses=inline_serializer("JobList", {"jobs": JobSerializer(many=True)}), tags=["jobs"])
    def get(self, request: Request) -> Response:
        return Response({"jobs": JobSerializer(jobs_overview(), many=True).data})


class JobUpdateSerializer(RefuseUnknownFields, serializers.Serializer):
    name = serializers.CharField(max_length=200)
    enabled = serializers.BooleanField(required=False)
    run_now = serializers.BooleanField(required=False, default=False)
    dry_run = dry_run_field()
    ping_url = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="healthchecks.io-style ping URL (`<url>/start`, `<url>`, `<url>/fail`); empty removes it.",
    )

    def validate_name(self, value: str) -> str:
        if not PeriodicTask.objects.filter(name=value).exists():
            raise serializers.ValidationError(f"No periodic task named {value!r}; see GET /api/v1/jobs/list.")
        return value

    def validate(self, attrs: dict) -> dict:
        if attrs["dry_run"] and (not attrs.get("run_now") or "enabled" in attrs or "ping_url" in attrs):
            raise serializers.ValidationError(
                {"dry_run": ["Only with run_now: true and nothing else: the dry run of a run now."]}
            )
        if "enabled" not in attrs and not attrs.get("run_now") and "ping_url" not in attrs:
            raise serializers.ValidationError({"enabled": ["Give `enabled` (true/false), `run_now: true` or `ping_url`."]})
        if attrs.get("ping_url"):
            try:
                url_check_target(attrs["ping_url"])
            except TargetRefused as exc:
                raise serializers.ValidationError({"ping_url": [str(exc)]}) from exc
        return attrs


class JobUpdateView(APIView):
    @extend_schema(
        request=JobUpdateSerializer,
        responses={
            200: PolymorphicProxySerializer(
                component_name="JobUpdatedOrPreview",
                serializers=[
                    inline_serializer(
                        "JobUpdated",
                        {
                            "name": serializers.CharField(),
                            "enabled": serializers.BooleanField(required=False),
                            "changed": serializers.BooleanField(required=False),
                            "ping_url_changed": serializers.BooleanField(required=False),
                        },
                    ),
                    PreviewSerializer,
                ],
                resource_type_field_name=None,
            ),
            202: inline_serializer(
                "JobQueued",
                {
                    "name": serializers.CharField(),
                    "task_id": serializers.CharField(),
                    "job_run_id": serializers.IntegerField(),
                    "correlation_id": serializers.CharField(),
                },
            ),
        },
        tags=["jobs"],
    )
    def post(self, request: Request) -> Response:
        serializer = JobUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name = serializer.validated_data["name"]
        if serializer.validated_data["dry_run"]:
            preview = job_services.job_preview(name=name)
            if preview is None:
                raise serializers.ValidationError({"dry_run": [f"{name} has no dry run."]})
            return Response({"name": name, "dry_run": True, **preview})
        actor = request_actor(request, door="api")
        body: dict[str, object] = {"name": name}
        if "enabled" in serializer.validated_data:
            enabled = serializer.validated_data["enabled"]
            body.update(enabled=enabled, changed=job_services.job_set_enabled(name=name, enabled=enabled, actor=actor))
        if "ping_url" in serializer.validated_data:
            task = PeriodicTask.objects.get(name=name)
            body["ping_url_changed"] = job_services.job_ping_set(
                name=task.task, url=serializer.validated_data["ping_url"], actor=actor
            )
        if serializer.validated_data["run_now"]:
            run = job_services.job_run_now(name=name, actor=actor, trigger=JobRun.Trigger.API)
            body.update(task_id=run.task_id, job_run_id=run.pk, correlation_id=run.correlation_id)
            return Response(body, status=status.HTTP_202_ACCEPTED)
        return Response(body)


class KillSwitchStateSerializer(serializers.Serializer):
    engaged = serializers.BooleanField()
    reason = serializers.CharField()
    by = serializers.CharField(help_text="Who threw it (`api:<user>`, `admin:<user>`, `cli:<login>`).")
    since = serializers.DateTimeField(allow_null=True)
    resume_at = serializers.DateTimeField(allow_null=True, help_text="Work resumes by itself at this time; null: by hand.")


class KillSwitchThrowSerializer(RefuseUnknownFields, serializers.Serializer):
    reason = serializers.CharField(max_length=REASON_MAX_LENGTH, help_text="Why all work stops; shown on every admin page.")
    resume_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Resume by itself at this time (ISO 8601 with a zone, in the future)."
    )

    def validate(self, attrs: dict) -> dict:
        errors = kill_switch_input_errors(reason=attrs["reason"], resume_at=attrs.get("resume_at"))
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class KillSwitchPermission(StaffGroupPermission):
    """Reading is for staff, as everywhere; throwing or resuming is the admin role's alone, with an
    `operate` token. A refused write is audited before it is answered."""

    message = "Only the admin role may throw or resume the kill switch."

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return super().has_permission(request, view)
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        action = "kill_switch.engage" if request.method == "POST" else "kill_switch.resume"
        if token_scope(request) == "read":
            kill_switch_refused(actor=request_actor(request, door="api"), action=action, why="read-scope token")
            raise ReadScopeRefused()
        if not user_is_admin(user):
            kill_switch_refused(actor=request_actor(request, door="api"), action=action, why="not in the admin role")
            return False
        return True


# Destructive: a browser session needs a recent sign-in (core.stepup); tokens need the operate scope.
class KillSwitchView(DestructiveEndpoint, APIView):
    """The kill switch: every queue's intake and beat's dispatch paused (jobs.control)."""

    permission_classes = [KillSwitchPermission]

    @extend_schema(responses={200: KillSwitchStateSerializer}, tags=["ops"], operation_id="kill_switch_state")
    def get(self, request: Request) -> Response:
        return Response(KillSwitchStateSerializer(kill_switch_state()).data)

    @extend_schema(
        request=KillSwitchThrowSerializer,
        responses={200: KillSwitchStateSerializer},
        description="Admin role only. Pause all work: no worker takes from any queue (queued messages wait, running "
        "tasks finish) and beat sends nothing, until DELETE or `resume_at`. Again while engaged: a new reason and time.",
        tags=["ops"],
        operation_id="kill_switch_engage",
    )
    def post(self, request: Request) -> Response:
        serializer = KillSwitchThrowSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            control = kill_switch_engage(
                reason=serializer.validated_data["reason"],
                resume_at=serializer.validated_data.get("resume_at"),
                actor=request_actor(request, door="api"),
            )
        except KillSwitchInvalid as exc:  # the resume time passed while the request was read
            raise serializers.ValidationError(exc.errors) from exc
        return Response(KillSwitchStateSerializer(kill_switch_state(control.switch)).data)

    @extend_schema(
        request=None,
        responses={200: KillSwitchStateSerializer},
        description="Admin role only. Resume all work: workers take their queues again (except queues paused on "
        "their own) and beat sends again.",
        tags=["ops"],
        operation_id="kill_switch_release",
    )
    def delete(self, request: Request) -> Response:
        refuse_body(request)
        control = kill_switch_release(actor=request_actor(request, door="api"))
        return Response(KillSwitchStateSerializer(kill_switch_state(control.switch)).data)
