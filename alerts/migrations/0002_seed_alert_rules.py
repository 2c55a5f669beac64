"""Each rule names its runbook; the built-in rules are created (existing rules are never changed,
but a built-in rule without a runbook gets its shipped one)."""

from django.db import migrations, models


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    from alerts.rules import alert_rules_runbooks_fill, alert_rules_setup

    alert_rules_setup(apps=apps)
    alert_rules_runbooks_fill(apps=apps)


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="alertrule",
            name="runbook",
            field=models.CharField(
                blank=True,
                default="",
                help_text="What the on-call does: a file under docs/runbooks/ (e.g. stalled-ingest.md) or a full URL.",
                max_length=300,
            ),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
