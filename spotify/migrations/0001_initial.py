"""ConnectorSetting moves from `ingest` to beside the Spotify client; its table stays.

State only: `ingest_connectorsetting` is kept as it is (Meta.db_table), and the content type
is relabelled so permissions already granted carry over.
"""

import django.core.validators
from django.db import migrations, models


def relabel_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="ingest", model="connectorsetting").update(app_label="spotify")


def restore_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="spotify", model="connectorsetting").update(app_label="ingest")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("ingest", "0006_drop_duplicate_artist_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ConnectorSetting',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(help_text='Breaker/telemetry name, e.g. spotify.albums.', max_length=100, unique=True)),
                        ('enabled', models.BooleanField(default=True, help_text='Off: jobs skip this operation and leave their work queued.')),
                        ('timeout_seconds', models.FloatField(help_text='HTTP timeout of one attempt.', validators=[django.core.validators.MinValueValidator(0.5), django.core.validators.MaxValueValidator(120)])),
                        ('batch_size', models.PositiveIntegerField(help_text="Items per job batch (capped by Spotify's own limits).", validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(1000)])),
                        ('max_attempts', models.PositiveSmallIntegerField(help_text='Attempts per call, retries of 429/5xx included.', validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(10)])),
                        ('cooldown_seconds', models.FloatField(help_text='First circuit-breaker cooldown after it opens.', validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(3600)])),
                        ('note', models.CharField(blank=True, default='', help_text='Why it was changed (incident link).', max_length=300)),
                        ('updated_by', models.CharField(blank=True, default='', max_length=150)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'ingest_connectorsetting',
                        'ordering': ['name'],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_type, restore_content_type),
    ]
