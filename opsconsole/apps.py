from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class OpsconsoleConfig(AppConfig):
    name = "opsconsole"
    verbose_name = "Console"
    default = True

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from opsconsole.preferences import display_time_zone_load

        def load(sender: type, request: object, user: object, **_: object) -> None:
            if request is not None and hasattr(request, "session"):
                display_time_zone_load(request=request, user=user)  # type: ignore[arg-type]

        user_logged_in.connect(load, dispatch_uid="display-time-zone-load", weak=False)


class OpsAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the operations home as its default site (INSTALLED_APPS names it)."""

    default = False
    default_site = "opsconsole.admin_site.OpsAdminSite"
