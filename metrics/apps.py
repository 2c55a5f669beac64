from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Jobs and metrics"

    def ready(self) -> None:
        from metrics.groups import sync_after_migrate

        # Models added after migration 0002 get their group permissions on the next migrate.
        post_migrate.connect(sync_after_migrate, dispatch_uid="metrics.ops_groups_sync")
