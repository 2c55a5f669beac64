from __future__ import annotations

from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Catalog ingest"

    def ready(self) -> None:
        from ingest.services.albums import album_claims_release_of_task
        from opsconsole.jobs.control import job_revoke_cleanup_register

        # A terminated ingest run hands its claimed sources back (README "Stop a runaway task").
        job_revoke_cleanup_register("ingest_albums_from_sources", album_claims_release_of_task)
