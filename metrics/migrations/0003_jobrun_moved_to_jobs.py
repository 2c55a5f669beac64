"""JobRun now belongs to the `jobs` app (jobs); the table stays where it is."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("metrics", "0002_ops_groups"),
        ("jobs", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="JobRun")],
            database_operations=[],
        ),
    ]
