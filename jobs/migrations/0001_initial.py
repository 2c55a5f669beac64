"""JobRun moves from `metrics` to the job plumbing in the base layer; its table stays.

State only: the table `metrics_jobrun` is kept as it is (Meta.db_table), and the content type
is relabelled so permissions already granted on job runs carry over.
"""

from django.db import migrations, models


def relabel_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="metrics", model="jobrun").update(app_label="jobs")


def restore_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="jobs", model="jobrun").update(app_label="metrics")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("metrics", "0002_ops_groups"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='JobRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('job_name', models.CharField(db_index=True, max_length=100)),
                        ('task_name', models.CharField(max_length=200)),
                        ('task_id', models.CharField(max_length=255, unique=True)),
                        ('trigger', models.CharField(choices=[('schedule', 'Schedule'), ('admin', 'Admin'), ('api', 'API'), ('chain', 'Queued by another job'), ('manual', 'Command line')], default='schedule', max_length=20)),
                        ('triggered_by', models.CharField(blank=True, default='', max_length=150)),
                        ('correlation_id', models.CharField(blank=True, db_index=True, default='', max_length=64)),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('success', 'Success'), ('failed', 'Failed'), ('retrying', 'Retrying')], default='queued', max_length=20)),
                        ('args', models.JSONField(blank=True, default=list)),
                        ('kwargs', models.JSONField(blank=True, default=dict)),
                        ('queued_at', models.DateTimeField(blank=True, null=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('duration_ms', models.PositiveIntegerField(blank=True, null=True)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('summary', models.JSONField(blank=True, default=dict)),
                        ('error', models.TextField(blank=True, default='')),
                        ('worker', models.CharField(blank=True, default='', max_length=200)),
                    ],
                    options={
                        'db_table': 'metrics_jobrun',
                        'ordering': ['-started_at', '-id'],
                        'indexes': [models.Index(fields=['job_name', '-started_at'], name='metrics_job_job_nam_b44b12_idx'), models.Index(fields=['status', '-started_at'], name='metrics_job_status_8995c3_idx'), models.Index(fields=['-started_at'], name='metrics_job_started_0ce29f_idx')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_type, restore_content_type),
    ]
