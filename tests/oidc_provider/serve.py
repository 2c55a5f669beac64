"""`python -m tests.oidc_provider.serve PORT`: migrate the provider's own database, give it a signing
key and the console as a client (from OP_CLIENT_ID, OP_CLIENT_SECRET, OP_REDIRECT_URI), then serve
on 127.0.0.1:PORT until killed. Prints "ready" once it answers."""

from __future__ import annotations

import os
import sys


def main() -> None:
    port = int(sys.argv[1])
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.oidc_provider.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.core.servers.basehttp import run
    from oidc_provider.models import Client, ResponseType, RSAKey

    call_command("migrate", verbosity=0, interactive=False)
    if not RSAKey.objects.exists():
        call_command("creatersakey", stdout=open(os.devnull, "w"))  # noqa: SIM115
    code, _ = ResponseType.objects.get_or_create(value="code", defaults={"description": "code (Authorization Code Flow)"})
    client, _ = Client.objects.update_or_create(
        client_id=os.environ["OP_CLIENT_ID"],
        defaults={
            "name": "opsconsole",
            "client_type": "confidential",
            "client_secret": os.environ["OP_CLIENT_SECRET"],
            "jwt_alg": "RS256",
            "_redirect_uris": os.environ["OP_REDIRECT_URI"],
            "require_consent": False,
            "reuse_consent": True,
        },
    )
    client.response_types.set([code])

    from django.core.handlers.wsgi import WSGIHandler

    print("ready", flush=True)
    run("127.0.0.1", port, WSGIHandler(), ipv6=False, threading=True)


if __name__ == "__main__":
    main()
