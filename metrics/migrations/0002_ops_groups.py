"""Create the `operators` and `viewers` groups with their model permissions."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def create_groups(apps: Any, schema_editor: Any) -> None:
    from django.contrib.auth.management import create_permissions

    from core.groups import ops_groups_sync

    # Permissions are normally created after all migrations (post_migrate): make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    ops_groups_sync(apps=apps)


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0001_initial"),
        ("accounts", "0001_initial"),
        ("ingest", "0001_initial"),
        ("playlists", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("django_celery_results", "0014_alter_taskresult_status"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
