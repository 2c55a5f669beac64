"""The rest of seed 003's alert index on existing databases: EnrichmentSuccessRateLow,
DatabaseConnectionPoolHigh, DiskSpaceHigh, MemoryUsageHigh, APIGatewayErrorRateHigh (only the
missing rules are created). DataQualityScoreLow takes the runbook's threshold 70 where it still
has the 60 it shipped with; an operator's own threshold stays."""

from django.db import migrations

SHIPPED_DATA_QUALITY = {"threshold": 60, "min_tracks": 100}


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    from alerts.rules import alert_rules_setup

    alert_rules_setup(apps=apps)
    AlertRule = apps.get_model("alerts", "AlertRule")
    AlertRule.objects.filter(name="DataQualityScoreLow", params=SHIPPED_DATA_QUALITY).update(
        params={**SHIPPED_DATA_QUALITY, "threshold": 70}
    )


class Migration(migrations.Migration):
    dependencies = [("alerts", "0004_pending_silences_grouping")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
