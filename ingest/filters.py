"""The tracks' and dead letters' list filters (`GET tracks`, `GET dlq/messages`)."""

from __future__ import annotations

from django.db.models import QuerySet
from django_filters import rest_framework as filters

from core.filters import BooleanFilter
from ingest.models import DeadLetter, Track
from ingest.parsing import looks_like_spotify_id
from ingest.quality import QUALITY_FILTERS
from ingest.selectors import tracks_matching


class TrackFilter(filters.FilterSet):
    """`artist`/`album` take a Spotify id or a name fragment; `search` matches a Spotify id or ISRC
    exactly, else the track name."""

    has_features = BooleanFilter(method="filter_has_features")
    artist = filters.CharFilter(method="filter_artist", max_length=300, help_text="Spotify artist id or name fragment.")
    album = filters.CharFilter(method="filter_album", max_length=300, help_text="Spotify album id or name fragment.")
    search = filters.CharFilter(method="filter_search", max_length=300, help_text="Track Spotify id, ISRC or name fragment.")
    quality = filters.ChoiceFilter(
        choices=[(name, name) for name in QUALITY_FILTERS],
        method="filter_quality",
        help_text="Quality tier; `low` = fair or poor.",
    )

    class Meta:
        model = Track
        fields: list[str] = []

    def filter_has_features(self, queryset: QuerySet[Track], name: str, value: bool) -> QuerySet[Track]:
        return queryset.filter(features_fetched_at__isnull=not value)

    def filter_artist(self, queryset: QuerySet[Track], name: str, value: str) -> QuerySet[Track]:
        if looks_like_spotify_id(value):
            return queryset.filter(artist__spotify_id=value)
        return queryset.filter(artist__name__icontains=value)

    def filter_album(self, queryset: QuerySet[Track], name: str, value: str) -> QuerySet[Track]:
        if looks_like_spotify_id(value):
            return queryset.filter(album__spotify_id=value)
        return queryset.filter(album__name__icontains=value)

    def filter_search(self, queryset: QuerySet[Track], name: str, value: str) -> QuerySet[Track]:
        return tracks_matching(queryset, value)

    def filter_quality(self, queryset: QuerySet[Track], name: str, value: str) -> QuerySet[Track]:
        return queryset.filter(quality_tier__in=QUALITY_FILTERS[value])


class DeadLetterFilter(filters.FilterSet):
    error_type = filters.CharFilter(max_length=100)
    source_service = filters.CharFilter(max_length=100)

    class Meta:
        model = DeadLetter
        fields: list[str] = []
