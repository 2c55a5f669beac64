"""A real OpenID provider for the single sign-on tests: django-oidc-provider in a small project of
its own, run as a separate process on loopback by tests/fixtures_oidc.py. Never imported by the
console (it is a different Django project, with its own settings and database)."""
