from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from accounts.models import SpotifyAccount, SpotifyApp
from accounts.services import account_onboard, app_get_or_create_default


@pytest.fixture
def spotify_app(db: None) -> SpotifyApp:
    app = app_get_or_create_default()
    app.user_cap = 50
    app.save(update_fields=["user_cap"])
    return app


@pytest.fixture
def make_account(spotify_emulator, spotify_app: SpotifyApp) -> Callable[..., SpotifyAccount]:  # type: ignore[no-untyped-def]
    """An account whose user exists on the emulator, with a real refresh token."""

    def make(user_id: str, *, authorized_at: datetime | None = None, expires_in: timedelta | None = None) -> SpotifyAccount:
        user = spotify_emulator.create_user(user_id, display_name=user_id.title(), authorized_at=authorized_at, client_id=spotify_app.client_id)
        account = account_onboard(
            app=spotify_app, spotify_user_id=user_id, display_name=user_id.title(),
            refresh_token=user["refresh_token"], authorized_at=authorized_at,
        )
        if expires_in is not None:
            account.access_token = user["access_token"]
            account.token_expires_at = timezone.now() + expires_in
            account.save()
        return account

    return make
