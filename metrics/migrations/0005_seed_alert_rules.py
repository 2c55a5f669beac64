"""Seeded the built-in alert rules while they lived in `metrics`; alerts/migrations/0002 does it now."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("metrics", "0004_alerts")]

    operations: list = []
