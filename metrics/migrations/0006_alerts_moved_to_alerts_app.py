"""The alerting models now belong to the `alerts` app; their tables stay where they are."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('metrics', '0005_seed_alert_rules'),
        ('alerts', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='alert',
                    name='rule',
                ),
                migrations.RemoveField(
                    model_name='notification',
                    name='alert',
                ),
                migrations.RemoveField(
                    model_name='alertrule',
                    name='channels',
                ),
                migrations.RemoveField(
                    model_name='delivery',
                    name='channel',
                ),
                migrations.RemoveField(
                    model_name='delivery',
                    name='notification',
                ),
                migrations.RemoveField(
                    model_name='notification',
                    name='channel',
                ),
                migrations.DeleteModel(
                    name='AlertEvent',
                ),
                migrations.DeleteModel(
                    name='Alert',
                ),
                migrations.DeleteModel(
                    name='AlertRule',
                ),
                migrations.DeleteModel(
                    name='Delivery',
                ),
                migrations.DeleteModel(
                    name='Notification',
                ),
                migrations.DeleteModel(
                    name='NotificationChannel',
                ),
    
            ],
            database_operations=[],
        ),
    ]
