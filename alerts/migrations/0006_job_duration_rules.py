"""The job-duration rules, JobSlow and JobFast, on databases seeded before them (docs/runbooks/job-durations.md)."""

from django.db import migrations


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    from alerts.rules import alert_rules_setup

    alert_rules_setup(apps=apps, names=["JobSlow", "JobFast"])


class Migration(migrations.Migration):
    dependencies = [("alerts", "0005_seed_index_rules")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
