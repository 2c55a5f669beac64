from django.apps import AppConfig


class PlaylistsConfig(AppConfig):
    name = "playlists"
    verbose_name = "Playlists"

    def ready(self) -> None:
        from accounts.selectors import account_annotation_register
        from jobs.control import job_revoke_cleanup_register
        from jobs.services import job_preview_register
        from playlists.selectors import playlists_active_count_per_account
        from playlists.services.capacity import schedule_demand
        from playlists.services.common import playlist_lock_release_of_task, playlist_locks_release_of_task
        from playlists.services.previews import verify_preview
        from spotify.previews import schedule_demand_register

        # Accounts sits below playlists and cannot import it: playlists adds its count to the accounts API.
        account_annotation_register("playlist_count", playlists_active_count_per_account)
        # A terminated sync, reshuffle or unfollow leaves its playlist unlocked (docs/runbooks/stop-runaway-task.md).
        for task_name in ("playlist_sync_one", "playlist_reshuffle_one", "playlist_retire_one"):
            job_revoke_cleanup_register(task_name, playlist_lock_release_of_task)
        job_revoke_cleanup_register("verify_playlists", playlist_locks_release_of_task)
        # jobs/update's dry run of a run now: jobs cannot see what a playlists job would do.
        job_preview_register("verify_playlists", verify_preview)
        # Every bulk door's dry run shows what the schedule asks of the same apps meanwhile.
        schedule_demand_register(schedule_demand)
