"""The two staff groups: `operators` act, `viewers` read.

The API checks group membership (core.permissions); the admin checks model
permissions, granted here. Grants are only ever added, never removed, so permissions an
administrator gave a group by hand survive every deploy. Run by migration 0002 and again
after every `migrate` (post_migrate) so models added later get their permissions too.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps

OPERATORS = "operators"
VIEWERS = "viewers"

GROUP_APPS = (
    "accounts",
    "ingest",
    "playlists",
    "alerts",
    "metrics",
    "jobs",
    "spotify",
    "audit",
    # Login lockouts: viewers see them, operators clear them (docs/runbooks/staff-access.md).
    "axes",
    "django_celery_beat",
    "django_celery_results",
)
# Operators delete only what is disposable; accounts are deactivated and playlists retired, never deleted.
OPERATOR_DELETABLE = {
    ("ingest", "deadletter"),
    ("ingest", "albumsource"),
    ("django_celery_beat", "periodictask"),
    ("django_celery_beat", "crontabschedule"),
    ("django_celery_beat", "intervalschedule"),
    ("django_celery_beat", "clockedschedule"),
    ("django_celery_beat", "solarschedule"),
    ("django_celery_results", "taskresult"),
    ("django_celery_results", "groupresult"),
}


def _wanted(app_label: str, model: str, codename: str) -> set[str]:
    action = codename.split("_", 1)[0]
    groups = set()
    if action == "view":
        groups.update({VIEWERS, OPERATORS})
    elif action in ("add", "change") or (action == "delete" and (app_label, model) in OPERATOR_DELETABLE):
        groups.add(OPERATORS)
    return groups


def ops_groups_sync(*, apps: Any = global_apps) -> dict[str, int]:
    """Create both groups and add their model permissions; returns permissions added per group."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in (OPERATORS, VIEWERS)}
    wanted: dict[str, list[int]] = {name: [] for name in groups}
    for perm in Permission.objects.filter(content_type__app_label__in=GROUP_APPS).select_related("content_type"):
        for group in _wanted(perm.content_type.app_label, perm.content_type.model, perm.codename):
            wanted[group].append(perm.pk)
    added: dict[str, int] = {}
    for name, group in groups.items():
        have = set(group.permissions.values_list("pk", flat=True))
        missing = [pk for pk in wanted[name] if pk not in have]
        group.permissions.add(*missing)
        added[name] = len(missing)
    return added


def sync_after_migrate(sender: Any, **kwargs: Any) -> None:
    # Sent once per installed app with models; only the last one matters (every model exists by then).
    last = [config for config in global_apps.get_app_configs() if config.models_module is not None][-1]
    if getattr(sender, "label", "") != last.label:
        return
    ops_groups_sync(apps=kwargs.get("apps") or global_apps)
