"""The scheduled jobs: name (= Celery task name), cadence (UTC crontab) and grace period.

`manage.py setup_periodic_tasks` upserts these into django-celery-beat; the grace period
says when a run that did not start or finish counts as late.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class JobSpec:
    name: str
    description: str
    minute: str = "0"
    hour: str = "*"
    grace_minutes: int = 30
    expires_seconds: int = 3600
    kwargs: dict[str, object] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.name

    @property
    def crontab_text(self) -> str:
        return f"{self.minute} {self.hour} * * *"


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        "scale_playlists_daily",
        "Target playlist counts per account; create/retire; move load off quarantined accounts",
        minute="0",
        hour="2",
        grace_minutes=60,
    ),
    # Every 30 min; refreshes what expires before the next run plus a margin.
    JobSpec(
        "refresh_tokens",
        "Refresh access tokens expiring before the next run",
        minute="0,30",
        hour="*",
        grace_minutes=10,
        expires_seconds=1500,
    ),
    JobSpec(
        "ingest_albums_from_sources", "Queued album URLs to albums, artists and tracks", minute="0", hour="3", grace_minutes=60
    ),
    JobSpec("fetch_audio_features", "Audio features for tracks without them", minute="30", hour="3", grace_minutes=60),
    JobSpec("build_playlist_snapshot", "Sample each active playlist", minute="0", hour="4", grace_minutes=30),
    JobSpec("ensure_playlist_for_account", "Create/update each playlist on Spotify", minute="10", hour="4", grace_minutes=60),
    JobSpec(
        "reshuffle_due_playlists",
        "Reshuffle playlists whose next_reshuffle_at has passed",
        minute="30",
        hour="4",
        grace_minutes=60,
    ),
    JobSpec(
        "verify_playlists",
        "One GET per playlist; repair what drifted on Spotify",
        minute="40",
        hour="*/6",
        grace_minutes=60,
        expires_seconds=3 * 3600,
    ),
    JobSpec(
        "resume_parked_playlists",
        "Sync or reshuffle playlists parked by an hours-long Retry-After once due",
        minute="*/10",
        grace_minutes=15,
        expires_seconds=540,
    ),
    JobSpec("metrics_snapshot", "Hourly counts for the dashboard", minute="0", hour="*", grace_minutes=15, expires_seconds=3000),
    JobSpec(
        "retention", "Prune old job runs, task results, snapshots and purged dead letters", minute="0", hour="5", grace_minutes=60
    ),
    # Every minute; a run older than its minute is stale (the next one is already queued).
    JobSpec(
        "evaluate_alerts",
        "Open, remind and resolve alerts; notify their channels",
        minute="*",
        hour="*",
        grace_minutes=5,
        expires_seconds=55,
    ),
)

JOBS_BY_NAME = {job.name: job for job in JOBS}
