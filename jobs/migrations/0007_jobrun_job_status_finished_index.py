from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # Built without blocking writes: every task writes its JobRun, and the table holds months of runs.
    atomic = False

    dependencies = [
        ("jobs", "0006_killswitch"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="jobrun",
            index=models.Index(
                fields=["job_name", "status", "-finished_at"], include=("duration_ms",), name="jobrun_job_status_finished"
            ),
        ),
    ]
