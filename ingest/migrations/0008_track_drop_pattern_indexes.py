# Track.spotify_id and Track.isrc keep their unique constraint and index under the same names,
# now declared in Meta; only the two `varchar_pattern_ops` indexes `unique=`/`db_index=` added
# on PostgreSQL go (no LIKE 'prefix%' lookup uses them; every insert paid for them). Nothing is
# rebuilt.

from django.db import migrations, models

PATTERN_INDEXES = {
    "ingest_track_spotify_id_12dc77b5_like": "spotify_id",
    "ingest_track_isrc_96705df9_like": "isrc",
}


class Migration(migrations.Migration):

    dependencies = [
        ("ingest", "0007_connectorsetting_moved_to_spotify"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(model_name="track", name="spotify_id", field=models.CharField(max_length=64)),
                migrations.AlterField(model_name="track", name="isrc", field=models.CharField(blank=True, default="", max_length=20)),
                migrations.AddConstraint(
                    model_name="track",
                    constraint=models.UniqueConstraint(fields=("spotify_id",), name="ingest_track_spotify_id_key"),
                ),
                migrations.AddIndex(model_name="track", index=models.Index(fields=["isrc"], name="ingest_track_isrc_96705df9")),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{name}" ON "ingest_track" ("{column}" varchar_pattern_ops)',
                )
                for name, column in PATTERN_INDEXES.items()
            ],
        ),
    ]
