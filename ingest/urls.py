from __future__ import annotations

from django.urls import path

from ingest import api

urlpatterns = [
    path("ingest/albums", api.AlbumSubmitView.as_view(), name="ingest-albums"),
    path("tracks", api.TrackListView.as_view(), name="tracks-list"),
    path("tracks/re-enrich", api.TracksReenrichView.as_view(), name="tracks-reenrich"),
    path("dlq/stats", api.DeadLetterStatsView.as_view(), name="dlq-stats"),
    path("dlq/errors/grouped", api.DeadLetterErrorsGroupedView.as_view(), name="dlq-errors-grouped"),
    path("dlq/messages", api.DeadLetterMessagesView.as_view(), name="dlq-messages"),
    path("dlq/replay/batch", api.DeadLetterReplayBatchView.as_view(), name="dlq-replay-batch"),
    path("dlq/messages/before/<str:before>", api.DeadLetterPurgeBeforeView.as_view(), name="dlq-purge-before"),
]
