from __future__ import annotations

from functools import partial
from typing import Any

from django.conf import settings
from django.db.models import BooleanField, ExpressionWrapper, F, Q, TextField, Value
from django.db.models.functions import Concat
from rest_framework import serializers

from core.rows import RowSerializer, related_column
from ingest.models import DeadLetter, Track


class AlbumSubmitSerializer(serializers.Serializer):
    urls = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=2000),
        allow_empty=False,
        max_length=settings.INGEST_SUBMIT_MAX,
        help_text="open.spotify.com/album/<id> links (query string and /intl-xx/ allowed), spotify:album:<id> URIs or bare 22-character ids.",
    )


class SubmitResultSerializer(serializers.Serializer):
    input = serializers.CharField()
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "invalid"])
    album_id = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)
    source_id = serializers.IntegerField(allow_null=True)


class SubmitResponseSerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField())
    results = SubmitResultSerializer(many=True)


class TrackFilterSerializer(serializers.Serializer):
    has_features = serializers.BooleanField(required=False, allow_null=True, default=None)
    artist = serializers.CharField(required=False, default="", max_length=300, help_text="Spotify artist id or name fragment.")
    album = serializers.CharField(required=False, default="", max_length=300, help_text="Spotify album id or name fragment.")
    search = serializers.CharField(
        required=False, default="", max_length=300, help_text="Track Spotify id, ISRC or name fragment."
    )
    quality = serializers.ChoiceField(
        choices=["good", "fair", "poor", "low", "unscored"],
        required=False,
        default="",
        help_text="Quality tier; `low` = fair or poor.",
    )


class TrackSerializer(serializers.ModelSerializer):
    artist = serializers.CharField(source="artist.name")
    artist_id = serializers.CharField(source="artist.spotify_id")
    album = serializers.CharField(source="album.name")
    album_id = serializers.CharField(source="album.spotify_id")
    has_features = serializers.SerializerMethodField()

    class Meta:
        model = Track
        fields = [
            "spotify_id",
            "uri",
            "name",
            "artist",
            "artist_id",
            "album",
            "album_id",
            "isrc",
            "duration_ms",
            "disc_number",
            "track_number",
            "explicit",
            "has_features",
            "audio_features",
            "features_fetched_at",
            "features_unavailable_until",
            "quality_score",
            "quality_tier",
            "quality_issues",
            "created_at",
        ]

    def get_has_features(self, track: Track) -> bool:
        return track.features_fetched_at is not None


# TrackSerializer's output from `.values()` rows (the tracks list; tests hold the two equal).
TRACK_ROWS = RowSerializer(
    TrackSerializer,
    computed={
        "uri": lambda row: f"spotify:track:{row['spotify_id']}",
        "has_features": lambda row: row["features_fetched_at"] is not None,
    },
    needs=["spotify_id", "features_fetched_at"],
    computed_sql={
        "uri": lambda: Concat(Value("spotify:track:"), F("spotify_id"), output_field=TextField()),
        "has_features": lambda: ExpressionWrapper(Q(features_fetched_at__isnull=False), output_field=BooleanField()),
    },
    lookups={
        column: partial(related_column, Track, column)
        for column in ("artist__name", "artist__spotify_id", "album__name", "album__spotify_id")
    },
)


class DeadLetterStatsSerializer(serializers.Serializer):
    total_messages = serializers.IntegerField()
    total_occurrences = serializers.IntegerField()
    oldest_message_age_minutes = serializers.FloatField(allow_null=True)
    newest_message_age_minutes = serializers.FloatField(allow_null=True)
    error_rate_per_minute = serializers.FloatField()
    error_rate_window_minutes = serializers.IntegerField()
    by_error_type = serializers.DictField(child=serializers.IntegerField())
    by_service = serializers.DictField(child=serializers.IntegerField())


class DeadLetterGroupSerializer(serializers.Serializer):
    error_type = serializers.CharField()
    source_service = serializers.CharField()
    count = serializers.IntegerField()
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    sample_messages = serializers.ListField(child=serializers.CharField())


class GroupedQuerySerializer(serializers.Serializer):
    detail = serializers.BooleanField(required=False, default=False)


class MessagesQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, default=50, min_value=1, max_value=1000)
    error_type = serializers.CharField(required=False, default="", max_length=100)
    source_service = serializers.CharField(required=False, default="", max_length=100)


class DeadLetterSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeadLetter
        fields = [
            "id",
            "source_service",
            "operation",
            "error_type",
            "error_message",
            "payload",
            "correlation_id",
            "retry_count",
            "occurrences",
            "status",
            "first_seen",
            "last_seen",
        ]


DEAD_LETTER_ROWS = RowSerializer(DeadLetterSerializer)


class ReplayRequestSerializer(serializers.Serializer):
    batch_size = serializers.IntegerField(required=False, default=100, min_value=1, max_value=1000)


class ReplayErrorSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    operation = serializers.CharField()
    error = serializers.CharField()


class ReplayResponseSerializer(serializers.Serializer):
    replayed_count = serializers.IntegerField()
    failed_count = serializers.IntegerField()
    errors = ReplayErrorSerializer(many=True)  # type: ignore[assignment]  # a field named like Serializer.errors


class PurgeBeforeSerializer(serializers.Serializer):
    before = serializers.DateField(input_formats=["%Y-%m-%d"])


class TracksReenrichSerializer(serializers.Serializer):
    """Either explicit track ids or a quality tier (worst first, up to `limit`)."""

    track_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=10000)
    quality = serializers.ChoiceField(choices=["low", "fair", "poor"], required=False)
    limit = serializers.IntegerField(min_value=1, max_value=10000, default=1000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("track_ids")) == bool(attrs.get("quality")):
            raise serializers.ValidationError({"non_field_errors": ["Send either track_ids or quality."]})
        return attrs
