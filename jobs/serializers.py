"""What a job run is to the API: the job history's rows (`job-runs`, its CSV) and a revoked run."""

from __future__ import annotations

from rest_framework import serializers

from jobs.models import JobRun


class JobRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobRun
        fields = [
            "id",
            "job_name",
            "task_name",
            "task_id",
            "trigger",
            "triggered_by",
            "correlation_id",
            "status",
            "queued_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "attempts",
            "summary",
            "error",
            "worker",
            "subject",
            "args",
            "kwargs",
        ]
        read_only_fields = fields
