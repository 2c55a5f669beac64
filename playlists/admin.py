"""Playlists in the admin: cheap lists, read-only history, actions that queue Celery work."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from accounts.admin import SpotifyAccountAdmin
from accounts.models import SpotifyAccount
from core.actors import request_actor
from core.admin_utils import FastChangelistMixin, dry_run_confirmation
from core.locks import LockBusy
from core.stepup import destructive
from ingest.parsing import looks_like_spotify_id
from jobs.models import JobRun
from playlists import selectors, services
from playlists.models import Playlist, PlaylistHistory, PlaylistPolicy
from playlists.templating import TEMPLATE_VARIABLES


def report_queued(modeladmin: admin.ModelAdmin, request: HttpRequest, result: dict[str, Any], what: str) -> None:
    """`message_user` with how many were queued and how many were skipped (unschedulable accounts)."""
    queued, skipped = result["queued"], result["skipped"]
    modeladmin.message_user(
        request,
        ngettext("%(count)d playlist queued for %(what)s.", "%(count)d playlists queued for %(what)s.", queued)
        % {"count": queued, "what": what},
        messages.SUCCESS if queued else messages.WARNING,
    )
    if skipped:
        modeladmin.message_user(
            request,
            ngettext(
                "%(count)d playlist skipped: its account is inactive, quarantined or needs re-authorization (see its history).",
                "%(count)d playlists skipped: their accounts are inactive, quarantined or need re-authorization (see their history).",
                skipped,
            )
            % {"count": skipped},
            messages.WARNING,
        )


def history_details_text(entry: PlaylistHistory) -> str:
    text = ", ".join(f"{k}={v}" for k, v in (entry.details or {}).items() if v not in ("", None, [], {}))
    return text[:200]


class SyncFailedFilter(admin.SimpleListFilter):
    title = "sync"
    parameter_name = "sync_problem"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("failed", "Sync failed"), ("retrying", "Retrying (rate limit / 5xx)"), ("never", "Not on Spotify yet")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Playlist]) -> QuerySet[Playlist]:
        if self.value() == "failed":
            return queryset.filter(sync_state=Playlist.SyncState.FAILED)
        if self.value() == "retrying":
            return queryset.filter(sync_error__startswith="retrying:")
        if self.value() == "never":
            return queryset.filter(spotify_playlist_id="", status=Playlist.Status.ACTIVE)
        return queryset


@admin.register(Playlist)
class PlaylistAdmin(FastChangelistMixin, admin.ModelAdmin):
    list_display = ["__str__", "account", "policy", "status", "sync_badge", "tracks", "next_reshuffle_at", "last_synced_at"]
    list_select_related = ["account", "policy", "current_snapshot"]
    list_filter = [SyncFailedFilter, "status", "sync_state", "frozen", "policy"]
    # A pasted playlist id (ours or Spotify's) is looked up by its index in get_search_results.
    search_fields = ["name", "account__display_name", "account__spotify_user_id"]
    raw_id_fields = ["account", "current_snapshot"]
    show_full_result_count = False
    list_per_page = 100

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Playlist], search_term: str
    ) -> tuple[QuerySet[Playlist], bool]:
        term = search_term.strip()
        if looks_like_spotify_id(term):
            return queryset.filter(spotify_playlist_id=term), False
        try:
            return queryset.filter(pk=uuid.UUID(term)), False
        except ValueError:
            return super().get_search_results(request, queryset, search_term)

    actions = ["reshuffle_now", "sync_now", "retire", "freeze", "unfreeze"]
    readonly_fields = [
        "id",
        "spotify_playlist_id",
        "name",
        "description",
        "sync_state",
        "sync_error",
        "last_synced_at",
        "current_snapshot",
        "snapshot_summary",
        "current_tracks",
        "created_at",
        "updated_at",
        "retired_at",
        "spotify_create_started_at",
        "status",
        "recent_history",
    ]
    fieldsets = [
        (None, {"fields": ["id", "account", "policy", "index", "status", "next_reshuffle_at"]}),
        (
            "On Spotify",
            {
                "fields": [
                    "spotify_playlist_id",
                    "name",
                    "description",
                    "sync_state",
                    "sync_error",
                    "last_synced_at",
                    "spotify_create_started_at",
                ]
            },
        ),
        ("Current snapshot", {"fields": ["current_snapshot", "snapshot_summary", "current_tracks"]}),
        ("History", {"fields": ["recent_history"]}),
        ("Times", {"fields": ["created_at", "updated_at", "retired_at"]}),
    ]

    @admin.display(description="Sync", ordering="sync_state")
    def sync_badge(self, obj: Playlist) -> str:
        colour = {"synced": "#2e7d32", "failed": "#c62828", "pending": "#ef6c00", "syncing": "#1565c0"}.get(
            obj.sync_state, "#555"
        )
        return format_html('<span style="color:{}" title="{}">{}</span>', colour, obj.sync_error, obj.get_sync_state_display())

    @admin.display(description="Tracks")
    def tracks(self, obj: Playlist) -> str:
        snapshot = obj.current_snapshot
        if snapshot is None:
            return "—"
        return f"{snapshot.track_count}" + (f" (short by {snapshot.notes['short_by']})" if snapshot.notes.get("short_by") else "")

    @admin.display(description="Summary")
    def snapshot_summary(self, obj: Playlist) -> str:
        snapshot = obj.current_snapshot
        if snapshot is None:
            return "No snapshot yet."
        notes = snapshot.notes or {}
        parts = [
            f"seed {snapshot.seed}",
            f"{snapshot.track_count} tracks",
            f"built {snapshot.created_at:%Y-%m-%d %H:%M}",
            f"synced {snapshot.synced_at:%Y-%m-%d %H:%M}" if snapshot.synced_at else "not synced yet",
        ]
        if notes.get("short_by"):
            parts.append(f"short by {notes['short_by']}: {notes.get('reason', '')}")
        for rule, ids in (notes.get("relaxed") or {}).items():
            parts.append(f"{rule} relaxed for {len(ids)} tracks")
        return "; ".join(parts)

    @admin.display(description="Tracks (read-only)")
    def current_tracks(self, obj: Playlist) -> str:
        snapshot = obj.current_snapshot
        if snapshot is None:
            return "—"
        items = snapshot.items.select_related("track__artist", "track__album").order_by("position")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            ((i.position, i.track.name, i.track.artist.name, i.track.album.name, i.track.spotify_id) for i in items),
        )
        return format_html(
            "<table><thead><tr><th>#</th><th>Track</th><th>Artist</th><th>Album</th><th>Spotify id</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Recent history")
    def recent_history(self, obj: Playlist) -> str:
        rows = obj.history.order_by("-created_at", "-id")[:20]
        link = reverse("admin:playlists_playlisthistory_changelist") + f"?playlist__id__exact={obj.pk}"
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((f"{h.created_at:%Y-%m-%d %H:%M:%S}", h.get_action_display(), h.actor, history_details_text(h)) for h in rows),
        )
        return format_html('<table><tbody>{}</tbody></table><a href="{}">All history of this playlist</a>', body, link)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # New playlists come from playlists_create (API, scaling), which numbers and queues them.
        return False

    @admin.action(description="Reshuffle now…", permissions=["change"])
    def reshuffle_now(self, request: HttpRequest, queryset: QuerySet[Playlist]) -> HttpResponse | None:
        playlists = list(queryset.filter(status=Playlist.Status.ACTIVE).select_related("account", "policy", "current_snapshot"))
        if request.POST.get("post") != "yes":
            # The confirmation is the dry run: what would be touched, its Spotify calls and their time.
            return dry_run_confirmation(
                self,
                request,
                preview=services.reshuffle_preview(playlists=playlists),
                title="Reshuffle playlists?",
                lead="Reshuffle: a new selection for each playlist, written to Spotify.",
                what="playlists",
                submit_label="Yes, reshuffle them",
            )
        with transaction.atomic():
            result = services.playlists_queue_reshuffle(
                playlists=playlists, actor=request_actor(request, door="admin"), trigger=JobRun.Trigger.ADMIN
            )
        report_queued(self, request, result, "reshuffle")
        return None

    @admin.action(description="Freeze (no reshuffle, no drift repair)", permissions=["change"])
    def freeze(self, request: HttpRequest, queryset: QuerySet[Playlist]) -> None:
        self._set_frozen(request, queryset, frozen=True)

    @admin.action(description="Unfreeze", permissions=["change"])
    def unfreeze(self, request: HttpRequest, queryset: QuerySet[Playlist]) -> None:
        self._set_frozen(request, queryset, frozen=False)

    def _set_frozen(self, request: HttpRequest, queryset: QuerySet[Playlist], *, frozen: bool) -> None:
        actor = request_actor(request, door="admin")
        changed = sum(services.playlist_set_frozen(playlist=p, frozen=frozen, actor=actor) for p in queryset)
        verb = "frozen" if frozen else "unfrozen"
        self.message_user(request, ngettext("%d playlist %s.", "%d playlists %s.", changed) % (changed, verb), messages.SUCCESS)

    @admin.action(description="Sync now (compare with Spotify and repair)", permissions=["change"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Playlist]) -> None:
        playlists = list(queryset.filter(status=Playlist.Status.ACTIVE).select_related("account"))
        with transaction.atomic():
            result = services.playlists_queue_sync(
                playlists=playlists, actor=request_actor(request, door="admin"), trigger=JobRun.Trigger.ADMIN
            )
        report_queued(self, request, result, "sync")

    @admin.action(description="Retire (unfollow on Spotify, keep history)…", permissions=["change"])
    @destructive
    def retire(self, request: HttpRequest, queryset: QuerySet[Playlist]) -> HttpResponse | None:
        playlists = list(queryset.filter(status=Playlist.Status.ACTIVE).select_related("account", "policy"))
        if request.POST.get("post") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Retire playlists?",
                "opts": self.model._meta,
                "playlists": playlists,
                "already_retired": queryset.count() - len(playlists),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            }
            return TemplateResponse(request, "admin/playlists/playlist/retire_confirmation.html", context)
        retired = 0
        with transaction.atomic():
            for playlist in playlists:
                retired += services.playlist_retire(
                    playlist=playlist, actor=request_actor(request, door="admin"), reason="admin action"
                )
        self.message_user(
            request,
            ngettext(
                "%(count)d playlist retired; its Spotify unfollow is queued.",
                "%(count)d playlists retired; their Spotify unfollows are queued.",
                retired,
            )
            % {"count": retired},
            messages.SUCCESS,
        )
        return None

    # --- Daily scaling: preview (dry run) and run now ----------------------------------

    def get_urls(self) -> list[Any]:
        return [
            path("scale/", self.admin_site.admin_view(self.scale_view), name="playlists_playlist_scale"),
            path("capacity/", self.admin_site.admin_view(self.capacity_view), name="playlists_playlist_capacity"),
            *super().get_urls(),
        ]

    def scale_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            return HttpResponseRedirect(reverse("admin:playlists_playlist_changelist"))
        if request.method == "POST":
            run = services.playlists_queue_scale(actor=request_actor(request, door="admin"), trigger=JobRun.Trigger.ADMIN)
            self.message_user(request, f"Scaling queued (task {run.task_id}); the plan it carries out lands in job history.")
            return HttpResponseRedirect(reverse("admin:playlists_playlist_changelist"))
        try:
            plan = services.playlists_scale_daily(dry_run=True, actor=request_actor(request, door="admin"))
        except LockBusy:
            self.message_user(request, "A scaling run is in progress; preview again in a minute.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:playlists_playlist_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Daily scaling plan (dry run)",
            "opts": self.model._meta,
            "plan": plan,
        }
        return TemplateResponse(request, "admin/playlists/playlist/scale_plan.html", context)

    def capacity_view(self, request: HttpRequest) -> HttpResponse:
        """Fleet capacity: the schedule's Spotify calls per app against its rate limits (services.fleet_capacity)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Fleet capacity",
            "opts": self.model._meta,
            "capacity": services.fleet_capacity(),
        }
        return TemplateResponse(request, "admin/playlists/playlist/capacity.html", context)


@admin.register(PlaylistPolicy)
class PlaylistPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "size",
        "cooldown_days",
        "artist_cap",
        "short_pool",
        "reshuffle_interval_days",
        "is_default",
        "active_playlists",
    ]
    list_filter = ["short_pool", "is_default"]
    search_fields = ["name"]
    fieldsets = [
        (
            None,
            {"fields": ["name", "is_default", "size", "cooldown_days", "artist_cap", "short_pool", "reshuffle_interval_days"]},
        ),
        (
            "Track filter",
            {
                "fields": ["feature_ranges", "tracks_without_features_pass", "source_filter"],
                "description": 'Feature ranges: {"energy": {"min": 0.3, "max": 0.9}, "tempo": {"min": 90}}. '
                'Source filter: {"labels": [...], "album_ids": [Spotify album ids], "source_ids": [...]}.',
            },
        ),
        (
            "Naming",
            {
                "fields": ["name_template", "description_template"],
                "description": "Django template syntax. Variables: "
                + ", ".join(TEMPLATE_VARIABLES)
                + ' (account.display_name, policy.name, date|date:"M j", top_artists|join:", ").',
            },
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PlaylistPolicy]:
        return (
            super().get_queryset(request).annotate(_active=Count("playlists", filter=Q(playlists__status=Playlist.Status.ACTIVE)))
        )

    @admin.display(description="Active playlists", ordering="_active")
    def active_playlists(self, obj: PlaylistPolicy) -> int:
        return obj._active  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: PlaylistPolicy, form: Any, change: bool) -> None:
        # A bigger playlist or a template that renames on every reshuffle costs Spotify calls: say
        # so when the edit makes a window of the schedule overflow an app's rate limit.
        new_warnings = services.capacity_change_warnings(changed_policy=obj) if change else []
        super().save_model(request, obj, form, change)
        for warning in new_warnings:
            self.message_user(request, f"Fleet capacity: {warning}", messages.WARNING)


@admin.register(PlaylistHistory)
class PlaylistHistoryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "playlist", "action", "actor", "short_details"]
    list_select_related = ["playlist"]
    list_filter = ["action"]
    search_fields = ["actor", "playlist__id", "playlist__name"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_per_page = 100

    @admin.display(description="Details")
    def short_details(self, obj: PlaylistHistory) -> str:
        return history_details_text(obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.action(description="Reshuffle all playlists…", permissions=["change"])
def reshuffle_account_playlists_action(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[SpotifyAccount]
) -> HttpResponse | None:
    """Queue a reshuffle of every active playlist of the selected accounts, healthy accounts first
    (after a confirmation that is its dry run)."""
    playlists = list(
        selectors.playlists_in_health_order(
            selectors.playlists_active().filter(account__in=queryset).select_related("account", "policy", "current_snapshot")
        )
    )
    if request.POST.get("post") != "yes":
        return dry_run_confirmation(
            modeladmin,
            request,
            preview=services.reshuffle_preview(playlists=playlists),
            title="Reshuffle every playlist of these accounts?",
            lead="Reshuffle: a new selection for each playlist, written to Spotify.",
            what="playlists",
            submit_label="Yes, reshuffle them",
        )
    with transaction.atomic():
        result = services.playlists_queue_reshuffle(
            playlists=playlists, actor=request_actor(request, door="admin"), trigger=JobRun.Trigger.ADMIN
        )
    report_queued(modeladmin, request, result, "reshuffle")
    return None


@admin.action(description="Create playlists…", permissions=["change"])
def create_playlists_action(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[SpotifyAccount]
) -> HttpResponse | None:
    """Create playlists on each selected account (playlists_create: rows now, Spotify through
    queued syncs), after a confirmation that asks how many and is its dry run."""
    accounts = list(queryset.select_related("app").order_by("display_name", "pk"))
    try:
        count = int(request.POST.get("count") or 1)
    except ValueError:
        count = 0
    if not 1 <= count <= settings.PLAYLISTS_PER_ACCOUNT_MAX:
        modeladmin.message_user(
            request, f"How many per account: a whole number from 1 to {settings.PLAYLISTS_PER_ACCOUNT_MAX}.", messages.ERROR
        )
        return None
    if request.POST.get("post") != "yes":
        return dry_run_confirmation(
            modeladmin,
            request,
            preview=services.create_preview_many(accounts=accounts, count=count),
            title="Create playlists?",
            lead="New playlists on each selected account (the default policy), created and filled on Spotify by queued syncs.",
            what="new playlists",
            submit_label="Yes, create them",
            count=count,
        )
    actor = request_actor(request, door="admin")
    created = 0
    for account in accounts:
        try:
            created += len(services.playlists_create(account=account, count=count, actor=actor))
        except ValidationError as exc:
            modeladmin.message_user(request, f"{account.display_name}: {' '.join(exc.messages)}", messages.WARNING)
    modeladmin.message_user(
        request,
        ngettext("%(n)d playlist created; its sync is queued.", "%(n)d playlists created; their syncs are queued.", created)
        % {"n": created},
        messages.SUCCESS if created else messages.WARNING,
    )
    return None


# Accounts sits below playlists and cannot import it: playlists mounts its actions on the account admin.
SpotifyAccountAdmin.actions = [*SpotifyAccountAdmin.actions, reshuffle_account_playlists_action, create_playlists_action]
