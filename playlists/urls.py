from django.urls import path

from playlists import api

urlpatterns = [
    path("playlists", api.PlaylistListView.as_view(), name="playlists-list"),
    path("playlists/create", api.PlaylistCreateView.as_view(), name="playlists-create"),
    path("playlists/reshuffle-bulk", api.PlaylistReshuffleBulkView.as_view(), name="playlists-reshuffle-bulk"),
    path("playlists/scale", api.PlaylistScaleView.as_view(), name="playlists-scale"),
    path("playlists/history", api.PlaylistHistoryView.as_view(), name="playlists-history"),
    path("playlists/capacity", api.FleetCapacityView.as_view(), name="playlists-capacity"),
    path("playlists/<uuid:playlist_id>", api.PlaylistDetailView.as_view(), name="playlists-detail"),
    path("playlists/<uuid:playlist_id>/frozen", api.PlaylistFrozenView.as_view(), name="playlists-frozen"),
]
