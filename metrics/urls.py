from django.urls import path

from metrics import api

urlpatterns = [
    path("metric-snapshots", api.MetricSnapshotListView.as_view(), name="metric-snapshots"),
    path("timeline", api.TimelineView.as_view(), name="timeline"),
]
