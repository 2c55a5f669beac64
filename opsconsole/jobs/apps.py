from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "opsconsole.jobs"
    label = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from opsconsole.jobs import signals  # noqa: F401  (JobRun rows from Celery signals)
