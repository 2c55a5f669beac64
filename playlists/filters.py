"""The playlists' list filters (`GET playlists`, `GET playlists/history`)."""

from __future__ import annotations

from django_filters import rest_framework as filters

from playlists.models import Playlist, PlaylistHistory


class PlaylistFilter(filters.FilterSet):
    account = filters.UUIDFilter(field_name="account_id", help_text="Account UUID")
    status = filters.ChoiceFilter(choices=Playlist.Status.choices)
    sync_state = filters.ChoiceFilter(choices=Playlist.SyncState.choices)

    class Meta:
        model = Playlist
        fields: list[str] = []


class PlaylistHistoryFilter(filters.FilterSet):
    playlist = filters.UUIDFilter(field_name="playlist_id", help_text="Playlist UUID")
    action = filters.ChoiceFilter(choices=PlaylistHistory.Action.choices)

    class Meta:
        model = PlaylistHistory
        fields: list[str] = []
