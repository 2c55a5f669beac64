from __future__ import annotations

from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Catalog ingest"

    def ready(self) -> None:
        from ingest.selectors import INGEST_JOB, ingest_stall_reason
        from ingest.services.albums import album_claims_release_of_task
        from jobs.control import job_revoke_cleanup_register
        from jobs.selectors import job_stall_probe_register

        # A terminated ingest run hands its claimed sources back (docs/runbooks/stop-runaway-task.md).
        job_revoke_cleanup_register(INGEST_JOB, album_claims_release_of_task)
        # A stalled album-source queue flags its job late whatever the schedule says.
        job_stall_probe_register(INGEST_JOB, ingest_stall_reason)
