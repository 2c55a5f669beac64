from django.apps import AppConfig


class SpotifyConfig(AppConfig):
    name = "spotify"
    label = "spotify"
    verbose_name = "Spotify connectors"

    def ready(self) -> None:
        from spotify import checks  # noqa: F401 - registers the system checks
