"""Token buckets in Redis: atomic under concurrency across OS processes, blocks shared."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from core.redis import get_redis, key
from devstack.emulator import SpotifyEmulator
from spotify import SpotifyClient, SpotifyRateLimited
from spotify.ratelimit import bucket_block, bucket_clear_block, bucket_state, bucket_take, bucket_try_take
from tests.fixtures_celery import BASE_DIR
from tests.fixtures_spotify import RecordingProvider

# The buckets read their rate and burst from the database settings (RateLimitSetting).
pytestmark = pytest.mark.django_db

_HAMMER = textwrap.dedent(
    """
    import sys, time
    import django
    django.setup()
    from core.redis import get_redis, key
    from spotify.ratelimit import bucket_try_take

    attempts, capacity, rate = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    redis = get_redis()
    # Start together: both processes wait for the test to open the gate.
    while not redis.exists(key("test-gate")):
        time.sleep(0.005)
    granted = sum(bucket_try_take("app", "hammered", capacity=capacity, rate=rate)[0] for _ in range(attempts))
    print(granted)
    """
)


def _redis_now() -> float:
    seconds, micros = get_redis().time()
    return float(seconds) + micros / 1_000_000


def test_two_processes_cannot_take_more_than_capacity_plus_refill() -> None:
    capacity, rate, attempts = 20, 5.0, 400
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "opsconsole.settings"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _HAMMER, str(attempts), str(capacity), str(rate)],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        started = _redis_now()
        get_redis().set(key("test-gate"), "1")
        outputs = [worker.communicate(timeout=120) for worker in workers]
        elapsed = _redis_now() - started
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert all(worker.returncode == 0 for worker in workers), [err for _, err in outputs]
    granted = [int(out.strip()) for out, _ in outputs]
    # The bound is in tokens: what the bucket held plus what it earned while they hammered.
    assert sum(granted) <= capacity + rate * elapsed + 1
    assert sum(granted) >= capacity
    assert sum(granted) < 2 * attempts, "the bucket refused some takes"


def test_bucket_grants_capacity_then_names_the_wait() -> None:
    results = [bucket_try_take("account", "acc-1", capacity=3, rate=0.01) for _ in range(4)]
    assert [granted for granted, _ in results] == [True, True, True, False]
    assert results[3][1] > 50  # a whole token at 0.01/s is ~100 s away


def test_bucket_take_parks_work_when_the_wait_exceeds_the_ceiling(settings: Any) -> None:
    settings.SPOTIFY_ACCOUNT_BURST = 1
    settings.SPOTIFY_ACCOUNT_RATE_PER_SECOND = 0.01
    bucket_take("account", "acc-2")
    with pytest.raises(SpotifyRateLimited) as raised:
        bucket_take("account", "acc-2", endpoint="me")
    assert raised.value.retry_after > 50
    assert raised.value.endpoint == "me"


def test_a_block_is_shared_and_can_be_cleared_by_an_operator() -> None:
    bucket_block("app", "app-9", 30)
    granted, wait = bucket_try_take("app", "app-9")
    assert not granted and 25 < wait <= 30
    state = bucket_state("app", "app-9")
    assert state["blocked_until"] is not None and state["last_429_at"] is not None
    assert set(state) == {"tokens", "capacity", "rate_per_second", "last_429_at", "blocked_until"}
    bucket_clear_block("app", "app-9")
    assert bucket_try_take("app", "app-9")[0]
    assert bucket_state("app", "app-9")["blocked_until"] is None


def test_the_account_bucket_limits_calls_of_one_account(spotify_emulator: SpotifyEmulator, settings: Any) -> None:
    settings.SPOTIFY_ACCOUNT_BURST = 2
    settings.SPOTIFY_ACCOUNT_RATE_PER_SECOND = 0.01
    user = spotify_emulator.create_user("ivy")
    client = SpotifyClient(
        app_key="a1",
        account_key="ivy",
        token_provider=RecordingProvider(client_id="a1", access_token=user["access_token"]),
    )
    client.current_user()
    client.current_user()
    with pytest.raises(SpotifyRateLimited):
        client.current_user()
    assert spotify_emulator.count("me") == 2
    # Another account on the same app is not held back.
    other = spotify_emulator.create_user("jay")
    SpotifyClient(
        app_key="a1",
        account_key="jay",
        token_provider=RecordingProvider(client_id="a1", access_token=other["access_token"]),
    ).current_user()
    assert spotify_emulator.count("me") == 3
