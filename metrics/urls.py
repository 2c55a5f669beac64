from django.urls import path

from metrics import api, jobs_api

urlpatterns: list = [
    path("jobs/list", jobs_api.JobListView.as_view(), name="jobs-list"),
    path("jobs/update", jobs_api.JobUpdateView.as_view(), name="jobs-update"),
    path("job-runs", api.JobRunListView.as_view(), name="job-runs"),
    path("metric-snapshots", api.MetricSnapshotListView.as_view(), name="metric-snapshots"),
]
