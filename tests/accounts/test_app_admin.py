"""The Spotify app changelist: health and its reason, and the health filter."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from accounts import services
from accounts.models import SpotifyApp
from tests.fixtures_clients import client_for

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:accounts_spotifyapp_changelist"
REASON = "403 on every call: album: Forbidden; then me: Forbidden"


def test_a_degraded_app_shows_its_reason_on_the_changelist(superuser: User) -> None:
    degraded = SpotifyApp.objects.create(name="no-premium", client_id="no-premium-client", client_secret="s")
    SpotifyApp.objects.create(name="fine", client_id="fine-client", client_secret="s")
    services.app_set_health(app=degraded, degraded=True, reason=REASON)

    page = client_for(superuser).get(reverse(CHANGELIST)).content.decode()

    assert f"Degraded</span>: {REASON}" in page
    assert "OK</span></td>" in page


def test_the_health_filter_lists_only_degraded_apps(superuser: User) -> None:
    degraded = SpotifyApp.objects.create(name="no-premium", client_id="no-premium-client", client_secret="s")
    SpotifyApp.objects.create(name="fine", client_id="fine-client", client_secret="s")
    services.app_set_health(app=degraded, degraded=True, reason=REASON)

    response = client_for(superuser).get(reverse(CHANGELIST), {"health__exact": "degraded"})

    assert [app.name for app in response.context["cl"].result_list] == ["no-premium"]
