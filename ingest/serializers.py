from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from core.serializers import RefuseUnknownFields, dry_run_field
from ingest.models import DeadLetter, Track


class AlbumSubmitSerializer(RefuseUnknownFields, serializers.Serializer):
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


class TrackSerializer(serializers.ModelSerializer):
    artist = serializers.CharField(source="artist.name")
    artist_id = serializers.CharField(source="artist.spotify_id")
    album = serializers.CharField(source="album.name")
    album_id = serializers.CharField(source="album.spotify_id")
    # Annotations of ingest.selectors.tracks_list.
    uri = serializers.CharField(read_only=True)
    has_features = serializers.BooleanField(read_only=True)

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


class ReplayRequestSerializer(RefuseUnknownFields, serializers.Serializer):
    batch_size = serializers.IntegerField(required=False, default=100, min_value=1, max_value=1000)
    dry_run = dry_run_field()


class ReplayErrorSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    operation = serializers.CharField()
    error = serializers.CharField()


class ReplayResponseSerializer(serializers.Serializer):
    replayed_count = serializers.IntegerField()
    failed_count = serializers.IntegerField()
    errors = ReplayErrorSerializer(many=True)  # type: ignore[assignment]  # a field named like Serializer.errors


class PurgeBeforeSerializer(RefuseUnknownFields, serializers.Serializer):
    before = serializers.DateField(input_formats=["%Y-%m-%d"])


class TracksReenrichSerializer(RefuseUnknownFields, serializers.Serializer):
    """Either explicit track ids or a quality tier (worst first, up to `limit`)."""

    track_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=10000)
    quality = serializers.ChoiceField(choices=["low", "fair", "poor"], required=False)
    limit = serializers.IntegerField(min_value=1, max_value=10000, default=1000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("track_ids")) == bool(attrs.get("quality")):
            raise serializers.ValidationError({"non_field_errors": ["Send either track_ids or quality."]})
        return attrs
