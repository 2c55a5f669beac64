from django.urls import path

from metrics import api, audit_views, jobs_api, queues_control
from metrics.alerts import api as alerts_api

urlpatterns: list = [
    path("jobs/list", jobs_api.JobListView.as_view(), name="jobs-list"),
    path("jobs/update", jobs_api.JobUpdateView.as_view(), name="jobs-update"),
    path("job-runs", api.JobRunListView.as_view(), name="job-runs"),
    path("job-runs/<int:pk>/revoke", queues_control.JobRunRevokeView.as_view(), name="job-run-revoke"),
    path("queues/<str:name>/pause", queues_control.QueueControlView.as_view(operation="pause"), name="queue-pause"),
    path("queues/<str:name>/resume", queues_control.QueueControlView.as_view(operation="resume"), name="queue-resume"),
    path("audit", audit_views.AuditEventListView.as_view(), name="audit"),
    path("metric-snapshots", api.MetricSnapshotListView.as_view(), name="metric-snapshots"),
    path("alerts", alerts_api.AlertListView.as_view(), name="alerts"),
    path("alerts/<int:pk>/acknowledge", alerts_api.AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("alerts/<int:pk>/snooze", alerts_api.AlertSnoozeView.as_view(), name="alert-snooze"),
    path("alerts/<int:pk>/resolve", alerts_api.AlertResolveView.as_view(), name="alert-resolve"),
    path("alert-channels", alerts_api.ChannelListCreateView.as_view(), name="alert-channels"),
    path("alert-channels/<int:pk>/test", alerts_api.ChannelTestView.as_view(), name="alert-channel-test"),
    path("alert-rules", alerts_api.AlertRuleListView.as_view(), name="alert-rules"),
]
