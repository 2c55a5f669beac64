from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.db import connection
from django.utils import timezone

from accounts import services
from accounts.models import SpotifyAccount
from accounts.tasks import refresh_tokens
from spotify.errors import SpotifyInvalidGrant


def _raw_tokens(account: SpotifyAccount) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM accounts_spotifyaccount WHERE id = %s", [account.pk])
        return cursor.fetchone()


def test_tokens_are_encrypted_at_rest(make_account) -> None:  # type: ignore[no-untyped-def]
    account = make_account("alice")
    services.account_refresh_token(account=account)
    account.refresh_from_db()
    raw_access, raw_refresh = _raw_tokens(account)
    assert account.access_token and account.refresh_token
    assert account.access_token not in raw_access and account.refresh_token not in raw_refresh
    assert raw_refresh.startswith("gAAAA")  # Fernet token


def test_key_rotation_reencrypts_every_token_under_the_new_key(make_account, settings) -> None:  # type: ignore[no-untyped-def]
    account = make_account("bob")
    old_key = settings.TOKEN_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [new_key, old_key]

    assert services.accounts_reencrypt_tokens() == 1

    _, raw_refresh = _raw_tokens(account)
    assert Fernet(new_key.encode()).decrypt(raw_refresh.encode()).decode() == account.refresh_token
    with pytest.raises(InvalidToken):
        Fernet(old_key.encode()).decrypt(raw_refresh.encode())
    # The old key can now be dropped.
    settings.TOKEN_ENCRYPTION_KEYS = [new_key]
    assert SpotifyAccount.objects.get(pk=account.pk).refresh_token == account.refresh_token


def test_a_wrong_key_fails_loudly_instead_of_returning_ciphertext(make_account, settings) -> None:  # type: ignore[no-untyped-def]
    account = make_account("carol")
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(InvalidToken):
        SpotifyAccount.objects.get(pk=account.pk)


def test_refresh_window_covers_the_next_run_plus_a_margin(make_account, settings) -> None:  # type: ignore[no-untyped-def]
    settings.TOKEN_REFRESH_MARGIN_MINUTES = 15
    soon = make_account("soon", expires_in=timedelta(minutes=40))  # lapses before the run after next
    later = make_account("later", expires_in=timedelta(minutes=50))
    never_refreshed = make_account("fresh")  # no token yet
    gone = make_account("gone", expires_in=timedelta(minutes=1))
    services.account_set_health(account=gone, health=SpotifyAccount.Health.REAUTH_REQUIRED, reason="test")
    inactive = make_account("inactive", expires_in=timedelta(minutes=1))
    services.account_deactivate(account=inactive)

    due = set(services.accounts_due_for_refresh().values_list("spotify_user_id", flat=True))

    assert due == {soon.spotify_user_id, never_refreshed.spotify_user_id}
    assert later.spotify_user_id not in due


def test_refresh_job_marks_a_revoked_account_and_refreshes_the_others(make_account, spotify_emulator) -> None:  # type: ignore[no-untyped-def]
    healthy = [make_account(f"user{n}") for n in range(3)]
    revoked = make_account("revoked")
    spotify_emulator.revoke(revoked.refresh_token)

    summary = refresh_tokens.apply().get()

    assert summary == {"refreshed": 3, "failed": 1, "checked": 4}
    assert spotify_emulator.count("token") == 4
    revoked.refresh_from_db()
    assert revoked.health == SpotifyAccount.Health.REAUTH_REQUIRED
    assert "invalid_grant" in revoked.health_reason
    for account in healthy:
        account.refresh_from_db()
        assert account.health == SpotifyAccount.Health.OK
        assert account.token_expires_at > timezone.now() + timedelta(minutes=50)


def test_a_refresh_token_past_six_months_needs_reauthorization(make_account) -> None:  # type: ignore[no-untyped-def]
    account = make_account("old", authorized_at=timezone.now() - timedelta(days=190))
    assert account.reauth_due_soon
    with pytest.raises(SpotifyInvalidGrant):
        services.account_refresh_token(account=account)
    account.refresh_from_db()
    assert account.health == SpotifyAccount.Health.REAUTH_REQUIRED


def test_rotated_refresh_token_is_kept_and_a_missing_one_keeps_the_old(make_account, spotify_emulator) -> None:  # type: ignore[no-untyped-def]
    account = make_account("rotator")
    original = account.refresh_token
    services.account_refresh_token(account=account)
    account.refresh_from_db()
    assert account.refresh_token == original  # the emulator sent no new refresh token

    spotify_emulator.set_rotate_refresh_tokens(True)
    services.account_refresh_token(account=account, force=True)
    account.refresh_from_db()
    assert account.refresh_token != original
    # The rotated token is the one that works now.
    services.account_refresh_token(account=account, force=True)


def test_client_refreshes_just_in_time_and_once_more_on_a_401(make_account, spotify_emulator) -> None:  # type: ignore[no-untyped-def]
    account = make_account("jit")  # no access token stored yet
    client = services.spotify_client_for_account(account)

    assert client.current_user()["id"] == "jit"
    assert spotify_emulator.count("token") == 1

    # Spotify expired the token early; our clock still believes in it.
    spotify_emulator.expire_access_tokens()
    assert client.current_user()["id"] == "jit"
    assert spotify_emulator.count("token") == 2
    assert spotify_emulator.count("me") == 3  # ok, 401, ok


def test_refresh_job_skips_while_the_token_connector_is_disabled(make_account, spotify_emulator) -> None:  # type: ignore[no-untyped-def]
    from spotify.connectors import connector_cache_invalidate, connector_settings_seed
    from spotify.models import ConnectorSetting

    connector_settings_seed()  # a transactional test elsewhere may have flushed the migration's rows
    make_account("paused")
    ConnectorSetting.objects.filter(name="spotify.token").update(enabled=False)
    connector_cache_invalidate()

    assert refresh_tokens.apply().get()["skipped"] == "disabled"
    assert spotify_emulator.count("token") == 0

    ConnectorSetting.objects.filter(name="spotify.token").update(enabled=True)
    connector_cache_invalidate()
    assert refresh_tokens.apply().get()["refreshed"] == 1
