"""Work that cannot be queued (the broker away past the publish's retries) is never left `queued`
for good: its runs end `failed` with the reason, the API answers 503 with Retry-After, and a task
that queues follow-ups is retried. Found by the chaos soak: a bulk reshuffle sent during a Redis
restart left 180 runs waiting forever while the operator's retry queued them again."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from kombu.exceptions import OperationalError as KombuOperationalError
from rest_framework.test import APIClient

from accounts.models import SpotifyAccount, SpotifyApp
from jobs import services
from jobs.models import JobRun
from tests.factories import PlaylistFactory
from tests.fixtures_clients import api_key_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_away(monkeypatch: Any) -> list[str]:
    """The broker answers the first publish and none after it."""
    sent: list[str] = []

    def send_task(name: str, *args: Any, task_id: str = "", **kwargs: Any) -> None:
        if sent:
            raise KombuOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        sent.append(task_id)

    monkeypatch.setattr(services.current_app, "send_task", send_task)
    return sent


def test_runs_that_could_not_be_queued_end_failed_with_the_reason(
    broker_away: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    with pytest.raises(services.QueueUnavailable), django_capture_on_commit_callbacks(execute=True):
        runs = services.job_enqueue_many("metrics_snapshot", trigger=JobRun.Trigger.API, kwargs_list=[{}, {}, {}])
    states = dict(JobRun.objects.filter(pk__in=[r.pk for r in runs]).values_list("task_id", "status"))
    assert states == {runs[0].task_id: "queued", runs[1].task_id: "failed", runs[2].task_id: "failed"}
    failed = JobRun.objects.get(pk=runs[2].pk)
    assert failed.error.startswith("not queued: the broker was unreachable") and failed.finished_at is not None


def test_the_api_answers_503_with_retry_after_and_nothing_is_left_waiting(
    transactional_db: None, broker_away: list[str], operator: User, spotify_app: SpotifyApp
) -> None:
    # transactional_db: the view's commit runs the publish inside the request, as in production.
    account = SpotifyAccount.objects.create(app=spotify_app, display_name="Bulk", spotify_user_id="bulk")
    PlaylistFactory.create_batch(3, account=account)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(operator)}")

    response = api.post("/api/v1/playlists/reshuffle-bulk", {"mode": "all"}, format="json")

    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "30"
    assert "send the same request again" in response.json()["detail"]
    runs = JobRun.objects.filter(job_name="playlist_reshuffle_one")
    assert sorted(runs.values_list("status", flat=True)) == ["failed", "failed", "queued"]
    assert runs.filter(status="queued").get().task_id == broker_away[0]
