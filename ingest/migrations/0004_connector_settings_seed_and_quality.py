from __future__ import annotations

from typing import Any

from django.db import migrations


def seed_connectors(apps: Any, schema_editor: Any) -> None:
    from spotify.connectors import connector_defaults

    ConnectorSetting = apps.get_model("ingest", "ConnectorSetting")
    for name, values in connector_defaults().items():
        ConnectorSetting.objects.get_or_create(name=name, defaults={**values, "updated_by": "migration"})


def score_existing_tracks(apps: Any, schema_editor: Any) -> None:
    from ingest.quality import tracks_quality_refresh_all

    tracks_quality_refresh_all()


class Migration(migrations.Migration):
    dependencies = [("ingest", "0003_connector_settings_and_track_quality")]

    operations = [
        migrations.RunPython(seed_connectors, migrations.RunPython.noop),
        migrations.RunPython(score_existing_tracks, migrations.RunPython.noop),
    ]
