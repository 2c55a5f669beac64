"""Admin actions other apps' admins mount (the account admin belongs to the accounts app)."""

from __future__ import annotations

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import SpotifyAccount
from opsconsole.jobs.models import JobRun
from playlists import selectors, services
from playlists.admin import admin_actor, report_queued


@admin.action(description="Reshuffle all playlists", permissions=["change"])
def reshuffle_account_playlists_action(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[SpotifyAccount]
) -> None:
    """Queue a reshuffle of every active playlist of the selected accounts, healthy accounts first."""
    playlists = list(
        selectors.playlists_in_health_order(selectors.playlists_active().filter(account__in=queryset).select_related("account"))
    )
    with transaction.atomic():
        result = services.playlists_queue_reshuffle(playlists=playlists, actor=admin_actor(request), trigger=JobRun.Trigger.ADMIN)
    report_queued(modeladmin, request, result, "reshuffle")
