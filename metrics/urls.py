from django.urls import path

from metrics import jobs_api

urlpatterns: list = [
    path("jobs/list", jobs_api.JobListView.as_view(), name="jobs-list"),
    path("jobs/update", jobs_api.JobUpdateView.as_view(), name="jobs-update"),
]
