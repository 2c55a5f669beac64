"""Alert rules, alerts, channels, notifications and deliveries move from `metrics` to their own app.

State only: the tables keep their `metrics_*` names (Meta.db_table), and the content types are
relabelled so the permissions already granted on them carry over.
"""

import core.crypto
import datetime
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


MODELS = ("alert", "alertevent", "alertrule", "delivery", "notification", "notificationchannel")


def relabel_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="metrics", model__in=MODELS).update(app_label="alerts")


def restore_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="alerts", model__in=MODELS).update(app_label="metrics")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("metrics", "0005_seed_alert_rules"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Alert',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('subject', models.CharField(help_text='What fires: a job name, breaker, account id, queue...', max_length=200)),
                        ('subject_label', models.CharField(blank=True, default='', max_length=300)),
                        ('severity', models.CharField(choices=[('critical', 'Critical'), ('warning', 'Warning')], max_length=10)),
                        ('state', models.CharField(choices=[('open', 'Open'), ('acknowledged', 'Acknowledged'), ('snoozed', 'Snoozed'), ('resolved', 'Resolved')], default='open', max_length=15)),
                        ('summary', models.TextField(blank=True, default='')),
                        ('details', models.JSONField(blank=True, default=dict)),
                        ('opened_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('last_seen_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('last_notified_at', models.DateTimeField(blank=True, null=True)),
                        ('acknowledged_at', models.DateTimeField(blank=True, null=True)),
                        ('acknowledged_by', models.CharField(blank=True, default='', max_length=150)),
                        ('snoozed_until', models.DateTimeField(blank=True, null=True)),
                        ('snooze_reason', models.CharField(blank=True, default='', max_length=300)),
                        ('snoozed_by', models.CharField(blank=True, default='', max_length=150)),
                        ('resolved_at', models.DateTimeField(blank=True, null=True)),
                        ('resolved_by', models.CharField(blank=True, default='', help_text='An operator, or `evaluator`.', max_length=150)),
                    ],
                    options={
                        'db_table': 'metrics_alert',
                        'ordering': ['-opened_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='AlertRule',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(help_text='e.g. DLQDepthCritical, CircuitBreakerOpen.', max_length=100, unique=True)),
                        ('kind', models.CharField(choices=[('job_failed', 'Job failed N times in a row'), ('job_late', 'Job late'), ('circuit_open', 'Circuit open longer than X minutes'), ('dead_letters', 'Dead letters pending above N'), ('ingest_stalled', 'Ingest stalled'), ('account_reauth_required', 'Account needs re-authorization'), ('account_reauth_due', 'Account re-authorization due within N days'), ('account_quarantined', 'Account quarantined'), ('connector_disabled', 'Connector disabled'), ('no_workers', 'No workers'), ('beat_gone', 'Beat gone'), ('queue_length', 'Queue length above N'), ('data_quality', 'Data-quality average below N')], max_length=30)),
                        ('params', models.JSONField(blank=True, default=dict, help_text='Kind parameters, e.g. {"threshold": 1000}.')),
                        ('severity', models.CharField(choices=[('critical', 'Critical'), ('warning', 'Warning')], default='warning', max_length=10)),
                        ('reminder_interval', models.DurationField(default=datetime.timedelta(seconds=3600), help_text='Remind every interval while open and unacknowledged (e.g. 01:00:00).')),
                        ('enabled', models.BooleanField(default=True)),
                        ('description', models.TextField(blank=True, default='')),
                        ('last_evaluated_at', models.DateTimeField(blank=True, null=True)),
                        ('last_error', models.TextField(blank=True, default='', help_text='Why the last evaluation could not read its condition.')),
                    ],
                    options={
                        'db_table': 'metrics_alertrule',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='NotificationChannel',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100, unique=True)),
                        ('kind', models.CharField(choices=[('email', 'Email'), ('slack', 'Slack incoming webhook'), ('webhook', 'Signed webhook')], max_length=10)),
                        ('target', core.crypto.EncryptedTextField(help_text='Email address, or the webhook URL.')),
                        ('secret', core.crypto.EncryptedTextField(blank=True, default='', help_text='Webhook only: the HMAC-SHA256 signing key.')),
                        ('enabled', models.BooleanField(default=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('last_success_at', models.DateTimeField(blank=True, null=True)),
                        ('failing_since', models.DateTimeField(blank=True, help_text='First failed attempt since the last success (empty: not failing).', null=True)),
                        ('last_error', models.TextField(blank=True, default='')),
                    ],
                    options={
                        'verbose_name': 'notification channel',
                        'db_table': 'metrics_notificationchannel',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='AlertEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('kind', models.CharField(choices=[('opened', 'Opened'), ('notified', 'Notification queued'), ('acknowledged', 'Acknowledged'), ('snoozed', 'Snoozed'), ('unsnoozed', 'Snooze ended'), ('resolved', 'Resolved')], max_length=15)),
                        ('actor', models.CharField(blank=True, default='', max_length=150)),
                        ('note', models.TextField(blank=True, default='')),
                        ('alert', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='events', to='alerts.alert')),
                    ],
                    options={
                        'db_table': 'metrics_alertevent',
                        'ordering': ['at', 'id'],
                    },
                ),
                migrations.AddField(
                    model_name='alert',
                    name='rule',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='alerts', to='alerts.alertrule'),
                ),
                migrations.CreateModel(
                    name='Notification',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('opened', 'Opened'), ('reminder', 'Reminder'), ('resolved', 'Resolved'), ('test', 'Test')], max_length=10)),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent')], default='pending', max_length=10)),
                        ('payload', models.JSONField(default=dict, help_text='The message as it was when queued.')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                        ('alert', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to='alerts.alert')),
                        ('channel', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to='alerts.notificationchannel')),
                    ],
                    options={
                        'db_table': 'metrics_notification',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='Delivery',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('ok', models.BooleanField()),
                        ('status_code', models.PositiveIntegerField(blank=True, null=True)),
                        ('error', models.TextField(blank=True, default='')),
                        ('duration_ms', models.PositiveIntegerField(default=0)),
                        ('notification', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='alerts.notification')),
                        ('channel', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='alerts.notificationchannel')),
                    ],
                    options={
                        'verbose_name_plural': 'deliveries',
                        'db_table': 'metrics_delivery',
                        'ordering': ['-at', '-id'],
                    },
                ),
                migrations.AddField(
                    model_name='alertrule',
                    name='channels',
                    field=models.ManyToManyField(blank=True, related_name='rules', to='alerts.notificationchannel'),
                ),
                migrations.AddIndex(
                    model_name='alert',
                    index=models.Index(fields=['state', '-opened_at'], name='metrics_ale_state_9a5d17_idx'),
                ),
                migrations.AddConstraint(
                    model_name='alert',
                    constraint=models.UniqueConstraint(condition=models.Q(('state', 'resolved'), _negated=True), fields=('rule', 'subject'), name='alert_one_unresolved_per_rule_subject'),
                ),
                migrations.AddIndex(
                    model_name='notification',
                    index=models.Index(fields=['status', 'next_attempt_at'], name='metrics_not_status_7d483b_idx'),
                ),
                migrations.AddIndex(
                    model_name='delivery',
                    index=models.Index(fields=['channel', '-at'], name='metrics_del_channel_91c3f3_idx'),
                ),
    
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_types, restore_content_types),
    ]
