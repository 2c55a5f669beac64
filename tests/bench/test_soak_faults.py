"""The soak's faults on accounts: while one fault acts on an account (its token revoked and
re-authorized, or deactivated and reactivated) no other fault picks it. Run 4 drew two revocations
of one account at once: the second found the first had already re-authorized it and failed."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest

from accounts.models import SpotifyAccount, SpotifyApp
from bench.soak.faults import Chaos, Fault

pytestmark = pytest.mark.django_db


def _chaos(accounts: dict[str, dict[str, Any]]) -> Chaos:
    fleet: Any = SimpleNamespace(accounts=accounts)
    none: Any = None
    return Chaos(config=none, stack=none, doors=none, emulator=none, fleet=fleet, rng=random.Random(1))


def test_an_account_a_fault_acts_on_is_not_picked_by_another_until_that_fault_ends(spotify_app: SpotifyApp) -> None:
    accounts = {}
    for n in range(2):
        account = SpotifyAccount.objects.create(app=spotify_app, display_name=f"A{n}", spotify_user_id=f"user-{n}")
        accounts[str(account.pk)] = {"user_id": f"user-{n}", "mode": "development", "app": spotify_app.name}
    chaos = _chaos(accounts)
    first, second, third = (
        Fault(kind="token_revoked", at=1),
        Fault(kind="account_deactivate", at=2),
        Fault(kind="token_revoked", at=3),
    )

    picked_first = chaos._pick_account(claim_for=first)
    picked_second = chaos._pick_account(claim_for=second)

    assert picked_first is not None and picked_second is not None
    assert {picked_first[0], picked_second[0]} == set(accounts)
    assert chaos._pick_account(claim_for=third) is None
    # Unclaimed picks (a playlist count change) also leave them alone.
    assert chaos._pick_account() is None
    chaos.claimed_accounts.discard(first.claimed_account)
    assert chaos._pick_account(claim_for=third) == picked_first
