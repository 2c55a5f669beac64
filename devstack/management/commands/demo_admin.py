from __future__ import annotations

import os
from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create or update the demo superuser from DJANGO_SUPERUSER_USERNAME/_PASSWORD/_EMAIL (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        username = os.environ["DJANGO_SUPERUSER_USERNAME"]
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"email": os.environ.get("DJANGO_SUPERUSER_EMAIL", ""), "is_staff": True, "is_superuser": True},
        )
        user.set_password(os.environ["DJANGO_SUPERUSER_PASSWORD"])
        user.is_staff = user.is_superuser = True
        user.save()
        operators, _ = Group.objects.get_or_create(name="operators")
        user.groups.add(operators)
        self.stdout.write(f"admin user {username} {'created' if created else 'updated'}")
