"""The built-in alert rules (alerts.rules); existing rules are never changed."""

from django.db import migrations


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    from alerts.rules import alert_rules_setup

    alert_rules_setup(apps=apps)


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
