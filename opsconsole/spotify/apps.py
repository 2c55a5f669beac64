from django.apps import AppConfig


class SpotifyConfig(AppConfig):
    name = "opsconsole.spotify"
    label = "spotify"
    verbose_name = "Spotify connectors"
