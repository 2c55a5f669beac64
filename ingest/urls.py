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
    path("circuit-breakers", api.CircuitBreakerListView.as_view(), name="circuit-breakers"),
    path("circuit-breakers/<str:name>/reset", api.CircuitBreakerResetView.as_view(), name="circuit-breaker-reset"),
    path("connectors", api.ConnectorListView.as_view(), name="connectors"),
    path("connectors/reload", api.ConnectorReloadView.as_view(), name="connectors-reload"),
    path("connectors/<str:name>", api.ConnectorDetailView.as_view(), name="connector-detail"),
    path("circuit-breakers/reset-all", api.CircuitBreakerResetAllView.as_view(), name="circuit-breakers-reset-all"),
]
