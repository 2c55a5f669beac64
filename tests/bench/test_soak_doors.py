"""The soak's operator uses the admin as a person does: the password, then the code of an
authenticator enrolled at the first sign-in, a fresh code at each sign-in after. Found by the
60-minute soak (run 4): the admin sent it to the enrolment page, its reactivations and playlist
count changes were silently not made, and the faults that depended on them were counted as done."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import SpotifyAccount
from bench.soak.doors import DoorError, Doors

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "soak-operator-password-1"


@pytest.fixture
def doors(live_server: Any, settings: Any) -> Doors:
    settings.STAFF_2FA_REQUIRED = True
    User.objects.create_superuser("soak-operator", email="soak@example.com", password=PASSWORD)
    return Doors(base_url=live_server.url, token="not-used-here", username="soak-operator", password=PASSWORD)


def test_the_operator_enrols_then_signs_in_again_with_a_fresh_code_and_its_admin_changes_are_made(
    doors: Doors, make_account: Callable[..., SpotifyAccount]
) -> None:
    account = make_account("owner-one")
    SpotifyAccount.objects.filter(pk=account.pk).update(is_active=False)

    said = doors.admin_action("accounts/spotifyaccount", "reactivate", [str(account.pk)])

    assert "Reactivate succeeded" in said
    account.refresh_from_db()
    assert account.is_active
    assert TOTPDevice.objects.get(user__username="soak-operator").confirmed

    # The session ends (cookies gone): the next change signs in again, this time with a code.
    assert doors.admin_session is not None
    doors.admin_session.cookies.clear()
    doors.admin_change("accounts/spotifyaccount", str(account.pk), {"playlist_capacity": "7"})

    account.refresh_from_db()
    assert account.playlist_capacity == 7
    assert TOTPDevice.objects.filter(user__username="soak-operator").count() == 1


def test_an_operator_the_admin_does_not_let_in_makes_no_change_and_says_so(
    doors: Doors, make_account: Callable[..., SpotifyAccount]
) -> None:
    account = make_account("owner-two")
    SpotifyAccount.objects.filter(pk=account.pk).update(is_active=False)
    doors.password = "not-the-password"

    with pytest.raises(DoorError, match="admin login failed"):
        doors.admin_action("accounts/spotifyaccount", "reactivate", [str(account.pk)])

    account.refresh_from_db()
    assert not account.is_active
