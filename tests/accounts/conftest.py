"""Accounts tests use the shared `spotify_app` and `make_account` fixtures of tests/conftest.py."""
