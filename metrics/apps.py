from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Jobs and metrics"

    def ready(self) -> None:
        from core.admin_site import home_strip_register
        from metrics.dashboard import home_strip

        home_strip_register(home_strip)
