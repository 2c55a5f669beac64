"""ConnectorSetting now belongs to the `spotify` app (spotify); the table stays."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("ingest", "0006_drop_duplicate_artist_index"),
        ("spotify", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ConnectorSetting")],
            database_operations=[],
        ),
    ]
