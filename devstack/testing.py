"""pytest plugin loaded before pytest-django (`-p devstack.testing`): the environment.

Tests use the PostgreSQL and Redis that DATABASE_URL / REDIS_URL name, else the embedded
ones; Redis keys and Celery queues get a prefix of their own so a test run never meets a
running demo's.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsconsole.settings")
os.environ.setdefault("REDIS_KEY_PREFIX", f"opsconsole-test-{os.getpid()}")
os.environ.setdefault("CELERY_BROKER_KEY_PREFIX", os.environ["REDIS_KEY_PREFIX"] + ":celery:")
os.environ["HTTPS_ONLY"] = "false"
# The suite signs in with passwords alone; the two-factor tests turn it on with `settings`.
os.environ["STAFF_2FA_REQUIRED"] = "false"
# Nothing in a test may reach the real Spotify: unroutable until the emulator fixture sets it.
os.environ["SPOTIFY_API_URL"] = "http://127.0.0.1:9/v1/"
os.environ["SPOTIFY_ACCOUNTS_URL"] = "http://127.0.0.1:9/"
os.environ.setdefault("SPOTIFY_CLIENT_ID", "test-client")
os.environ.setdefault("SPOTIFY_CLIENT_SECRET", "test-secret")
# Alert webhooks and job pings go to receivers on loopback (refused by default: SSRF).
os.environ["ALERT_WEBHOOK_ALLOW_PRIVATE"] = "true"
# Tests never sleep out a real backoff.
os.environ.setdefault("SPOTIFY_BACKOFF_BASE", "0.01")
os.environ.setdefault("SPOTIFY_MAX_SLEEP_SECONDS", "0.5")

from devstack.runtime import bootstrap, load_local_env, stop_started  # noqa: E402

load_local_env()
bootstrap()


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    """Stop the embedded PostgreSQL / Redis this session started (none when DATABASE_URL and
    REDIS_URL were set, or when it found them running, e.g. a demo's)."""
    stop_started()
