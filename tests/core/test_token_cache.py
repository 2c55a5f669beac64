"""API tokens are cached per process, and whatever takes access away is seen on the next request.

The cache (core.authentication) saves the token and group lookups of every API call;
these tests hold that it never outlives a revocation.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from core.authentication import token_cache
from core.models import ApiToken
from core.redis import get_redis, key
from tests.fixtures_clients import api_key_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("short_probe_timeouts")]

PATH = "/api/v1/job-runs"
# SessionAuthentication comes first, so DRF answers a refused token 403 with its reason.
INVALID = (403, "Invalid token.")


@pytest.fixture(autouse=True)
def cache_on(settings) -> None:  # type: ignore[no-untyped-def]
    settings.API_TOKEN_CACHE_SECONDS = 60
    token_cache.forget_all()


def _client(user: User, keyword: str = "Token") -> tuple[Client, ApiToken]:
    api_key = api_key_for(user)
    return Client(HTTP_AUTHORIZATION=f"{keyword} {api_key}"), ApiToken.objects.get(digest=ApiToken.digest_of(api_key))


def _denied(client: Client) -> tuple[int, str]:
    response = client.get(PATH)
    return response.status_code, response.json()["detail"]


def _queries(client: Client) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        status = client.get(PATH).status_code
    return status, len(queries.captured_queries)


def test_a_cached_token_skips_the_token_and_group_lookups(viewer: User) -> None:
    client, _ = _client(viewer)
    first_status, first = _queries(client)
    second_status, second = _queries(client)
    assert first_status == second_status == 200
    # token + user, the viewer's groups and the token's first `last_used_at`: the lookups are
    # answered from the cache the second time, and last use is written once a minute at most.
    assert first - second == 3


def test_a_deleted_token_is_refused_at_once(viewer: User) -> None:
    client, token = _client(viewer)
    assert client.get(PATH).status_code == 200
    assert client.get(PATH).status_code == 200  # from the cache
    token.delete()
    assert _denied(client) == INVALID


def test_a_bearer_token_deleted_through_a_queryset_is_refused_at_once(viewer: User) -> None:
    client, _ = _client(viewer, keyword="Bearer")
    assert client.get(PATH).status_code == 200
    ApiToken.objects.filter(user=viewer).delete()
    assert _denied(client) == INVALID


def test_a_token_revoked_in_this_process_answers_401_with_the_reason_on_its_next_request(
    operator: User,
) -> None:
    from audit.api_tokens import api_tokens_revoke

    client, token = _client(operator, keyword="Bearer")
    assert client.get(PATH).status_code == 200
    assert client.get(PATH).status_code == 200  # from the cache
    api_tokens_revoke(tokens=[token], actor="cli:test")
    response = client.get(PATH)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]
    assert response["WWW-Authenticate"] == "Token"


def test_a_user_deactivated_or_removed_from_the_group_loses_access_at_once(viewer: User) -> None:
    client, _ = _client(viewer)
    assert client.get(PATH).status_code == 200
    viewer.groups.remove(Group.objects.get(name="viewers"))
    assert _denied(client)[0] == 403
    viewer.groups.add(Group.objects.get(name="viewers"))
    assert client.get(PATH).status_code == 200
    viewer.is_active = False
    viewer.save()
    assert _denied(client) == (403, "User inactive or deleted.")


def test_another_process_revoking_a_token_is_seen_through_the_epoch(viewer: User) -> None:
    client, token = _client(viewer)
    assert client.get(PATH).status_code == 200
    # What a revocation in another process leaves here: the row gone, this process's cache
    # untouched, the shared epoch moved.
    ApiToken.objects.filter(pk=token.pk)._raw_delete(connection.alias)  # type: ignore[attr-defined]
    assert client.get(PATH).status_code == 200  # still cached: nothing told this process
    get_redis().incr(key("auth", "epoch"))
    assert _denied(client) == INVALID


def test_with_the_cache_off_every_request_asks_the_database(settings, viewer: User) -> None:  # type: ignore[no-untyped-def]
    settings.API_TOKEN_CACHE_SECONDS = 0
    client, _ = _client(viewer)
    _queries(client)  # the token's first use writes `last_used_at`
    assert _queries(client)[1] == _queries(client)[1]
