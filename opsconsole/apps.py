from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class OpsconsoleConfig(AppConfig):
    name = "opsconsole"
    verbose_name = "Console"
    default = True


class OpsAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the operations home as its default site (INSTALLED_APPS names it)."""

    default = False
    default_site = "opsconsole.admin_site.OpsAdminSite"
