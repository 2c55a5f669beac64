from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Jobs and metrics"

    def ready(self) -> None:
        from alerts.conditions import quality_tally_source_register
        from core.admin_site import home_strip_register
        from metrics.dashboard import home_strip
        from metrics.selectors import tracks_quality_latest

        home_strip_register(home_strip)
        quality_tally_source_register(tracks_quality_latest)
