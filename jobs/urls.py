from django.urls import path

from jobs import api

urlpatterns = [
    path("jobs/list", api.JobListView.as_view(), name="jobs-list"),
    path("jobs/update", api.JobUpdateView.as_view(), name="jobs-update"),
    path("job-runs", api.JobRunListView.as_view(), name="job-runs"),
    path("job-runs/<int:pk>/revoke", api.JobRunRevokeView.as_view(), name="job-run-revoke"),
    path("kill-switch", api.KillSwitchView.as_view(), name="kill-switch"),
    path("queues/<str:name>/pause", api.QueueControlView.as_view(operation="pause"), name="queue-pause"),
    path("queues/<str:name>/resume", api.QueueControlView.as_view(operation="resume"), name="queue-resume"),
]
