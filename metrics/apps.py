from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Jobs and metrics"

    def ready(self) -> None:
        from metrics import signals  # noqa: F401  (JobRun rows from Celery signals)
