"""`manage.py sso_discover https://idp.example.com/realms/staff`: the provider's OIDC_* settings from
its discovery document (docs/runbooks/staff-access.md), to paste into the environment."""

from __future__ import annotations

from typing import Any

import requests
from django.core.management.base import BaseCommand, CommandError, CommandParser

# Setting → the discovery document's field (OpenID Connect Discovery 1.0, section 3).
FIELDS = {
    "OIDC_OP_ISSUER": "issuer",
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}


class Command(BaseCommand):
    help = "Print the OIDC_OP_* settings of an OpenID provider, read from its discovery document."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("issuer", help="The provider's issuer URL, as its discovery document names it.")

    def handle(self, *args: Any, issuer: str, **options: Any) -> None:
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            response = requests.get(url, timeout=10)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise CommandError(f"No discovery document at {url}: {exc}") from None
        missing = [field for field in FIELDS.values() if not document.get(field)]
        if missing:
            raise CommandError(f"The discovery document lacks {', '.join(missing)}.")
        if document["issuer"] != issuer.rstrip("/") and document["issuer"] != issuer:
            raise CommandError(f"The document names another issuer: {document['issuer']} (use that one).")
        if "S256" not in document.get("code_challenge_methods_supported", ["S256"]):
            self.stderr.write("warning: the provider does not list PKCE S256 among its code challenge methods")
        for setting, field in FIELDS.items():
            self.stdout.write(f"{setting}={document[field]}")
