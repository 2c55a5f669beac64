from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CoreConfig(AppConfig):
    name = "core"
    # The label the console's own models had before `core` left the project package: their tables,
    # permissions, migrations and admin URLs carry on unchanged.
    label = "opsconsole"
    verbose_name = "Console"
    default = True

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import post_migrate

        from core.groups import sync_after_migrate

        # Models added after the groups' first migration get their permissions on the next migrate.
        post_migrate.connect(sync_after_migrate, dispatch_uid="ops-groups-sync")

        from core.preferences import display_time_zone_load
        from core.sessions import session_stamp_login
        from core.stepup import auth_stamp
        from core.twofactor import twofactor_judge

        def load(sender: type, request: object, user: object, **_: object) -> None:
            if request is not None and hasattr(request, "session"):
                display_time_zone_load(request=request, user=user)  # type: ignore[arg-type]
                session_stamp_login(request)  # type: ignore[arg-type]
                # A password just checked: recent for step-up; does the session owe a second factor?
                auth_stamp(request)  # type: ignore[arg-type]
                twofactor_judge(request, user)  # type: ignore[arg-type]

        user_logged_in.connect(load, dispatch_uid="display-time-zone-load", weak=False)


class OpsAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the operations home as its default site (INSTALLED_APPS names it)."""

    default = False
    default_site = "core.admin_site.OpsAdminSite"
