from django.apps import AppConfig


class SpotifyConfig(AppConfig):
    name = "opsconsole.spotify"
    label = "spotify"
    verbose_name = "Spotify connectors"

    def ready(self) -> None:
        from opsconsole.spotify import checks  # noqa: F401 - registers the system checks
