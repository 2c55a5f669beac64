from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    label = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from jobs import signals  # noqa: F401  (JobRun rows from Celery signals)
