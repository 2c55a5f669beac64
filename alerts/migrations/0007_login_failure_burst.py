"""LoginFailureBurst: failed staff sign-ins in a burst (docs/runbooks/staff-access.md)."""

from django.db import migrations, models


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    from alerts.rules import alert_rules_setup

    alert_rules_setup(apps=apps, names=["LoginFailureBurst"])


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0006_job_duration_rules"),
    ]

    operations = [
        migrations.AlterField(
            model_name="alertrule",
            name="kind",
            field=models.CharField(
                choices=[
                    ("job_failed", "Job failed N times in a row"),
                    ("job_late", "Job late"),
                    ("circuit_open", "Circuit open longer than X minutes"),
                    ("dead_letters", "Dead letters pending above N"),
                    ("ingest_stalled", "Ingest stalled"),
                    ("account_reauth_required", "Account needs re-authorization"),
                    ("account_reauth_due", "Account re-authorization due within N days"),
                    ("account_quarantined", "Account quarantined"),
                    ("connector_disabled", "Connector disabled"),
                    ("no_workers", "No workers"),
                    ("beat_gone", "Beat gone"),
                    ("queue_length", "Queue length above N"),
                    ("data_quality", "Data-quality average below N"),
                    ("job_slow", "Job slower than k × its recent p95"),
                    ("job_fast", "Job finished suspiciously fast"),
                    ("enrichment_success_low", "Spotify call success rate below N %"),
                    ("db_connections_high", "Database connections above N % of max_connections"),
                    ("disk_space_high", "Disk usage above N %"),
                    ("memory_high", "Memory usage above N %"),
                    ("api_error_rate_high", "API 5xx rate above N %"),
                    ("login_failure_burst", "N failed sign-ins within M minutes"),
                ],
                max_length=30,
            ),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
