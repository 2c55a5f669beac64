"""Accounts tests use the shared `spotify_app` and `make_account` fixtures of tests/conftest.py,
and the connect flow's `oauth_app` of tests/fixtures_oauth.py."""

from tests.fixtures_oauth import oauth_app

__all__ = ["oauth_app"]
