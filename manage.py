#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsconsole.settings")
    if not os.environ.get("DATABASE_URL"):
        # A developer machine: var/local.env and the embedded PostgreSQL and Redis (README
        # "Configuration"). Production sets DATABASE_URL, and dev-time code is never imported.
        from devstack.runtime import bootstrap

        bootstrap()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
