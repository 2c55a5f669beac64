from django.apps import AppConfig


class PlaylistsConfig(AppConfig):
    name = "playlists"
    verbose_name = "Playlists"

    def ready(self) -> None:
        from accounts.selectors import account_annotation_register
        from playlists.selectors import playlists_active_count_per_account

        # Accounts sits below playlists and cannot import it: playlists adds its count to the accounts API.
        account_annotation_register("playlist_count", playlists_active_count_per_account)
