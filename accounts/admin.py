from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts import selectors, services
from accounts.admin_connect import SpotifyAccountConnectMixin, SpotifyAppConnectMixin
from accounts.models import AccountHealthChange, SpotifyAccount, SpotifyApp, reauth_due_soon_q
from audit.services import audit_record
from core.actors import request_actor
from core.admin_utils import FastChangelistMixin
from core.stepup import destructive
from spotify.errors import SpotifyError


@admin.register(SpotifyApp)
class SpotifyAppAdmin(SpotifyAppConnectMixin, admin.ModelAdmin):
    list_display = ["name", "client_id", "mode", "app_health", "user_cap", "active_accounts", "capabilities"]
    list_filter = ["health", "mode"]
    search_fields = ["name", "client_id"]
    readonly_fields = ["capabilities", "rate_limiter", "created_at"]
    # The secret is write-only in the admin: the form never shows the stored value.
    exclude = ["client_secret"]
    actions = ["clear_rate_limit_block"]

    @admin.display(description="Rate limiter")
    def rate_limiter(self, obj: SpotifyApp) -> str:
        return _rate_limiter_html(selectors.ratelimit_state_for_app(obj))

    @admin.action(description="Clear rate-limit block", permissions=["change"])
    def clear_rate_limit_block(self, request: HttpRequest, queryset: QuerySet[SpotifyApp]) -> None:
        for app in queryset:
            services.ratelimit_clear_block(kind="app", ident=str(app.pk), actor=request_actor(request, door="admin"))
        self.message_user(request, f"Rate-limit block cleared for {queryset.count()} app(s).", messages.SUCCESS)

    def get_queryset(self, request: HttpRequest) -> QuerySet[SpotifyApp]:
        return super().get_queryset(request).annotate(_active=Count("accounts", filter=Q(accounts__is_active=True)))

    @admin.display(description="Active accounts", ordering="_active")
    def active_accounts(self, obj: SpotifyApp) -> str:
        return f"{obj._active} / {obj.user_cap}"  # type: ignore[attr-defined]

    @admin.display(description="Health", ordering="health")
    def app_health(self, obj: SpotifyApp) -> str:
        # Degraded: Spotify refuses every call (e.g. a Development Mode app whose owner lost Premium).
        return format_html(
            '<span style="color:{};font-weight:bold">{}</span>{}',
            HEALTH_COLOURS.get(obj.health, "#000"),
            obj.get_health_display(),
            format_html(": {}", obj.health_reason) if obj.health_reason else "",
        )


class TokenExpiryFilter(admin.SimpleListFilter):
    title = "token"
    parameter_name = "token"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("expired", "Expired"), ("expiring", "Expiring within 1 hour"), ("reauth_soon", "Re-authorization due soon")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[SpotifyAccount]) -> QuerySet[SpotifyAccount]:
        now = timezone.now()
        if self.value() == "expired":
            return queryset.filter(Q(token_expires_at__lte=now) | Q(token_expires_at__isnull=True))
        if self.value() == "expiring":
            return queryset.filter(token_expires_at__gt=now, token_expires_at__lte=now + timedelta(hours=1))
        if self.value() == "reauth_soon":
            return queryset.filter(reauth_due_soon_q(now=now))
        return queryset


def _rate_limiter_html(state: dict) -> str:
    return format_html(
        "{} of {} tokens (refill {}/s) · last 429: {} · blocked until: {}",
        state["tokens"],
        int(state["capacity"]),
        state["rate_per_second"],
        state["last_429_at"] or "never",
        state["blocked_until"] or "not blocked",
    )


HEALTH_COLOURS = {"ok": "#2e7d32", "degraded": "#ef6c00", "quarantined": "#c62828", "reauth_required": "#6a1b9a"}


def _audit(request: HttpRequest, account: SpotifyAccount, message: str, *, action: str | None, ok: bool) -> None:
    assert request.user.pk is not None  # admin views require a logged-in user
    if action is not None:  # None: the service it called recorded the action itself
        audit_record(
            actor=request_actor(request, door="admin"),
            action=action,
            target=account,
            target_repr=account.display_name,
            outcome="ok" if ok else "failed",
            details={"result": message},
        )
    LogEntry.objects.log_actions(
        user_id=request.user.pk, queryset=[account], action_flag=CHANGE, change_message=message, single_object=True
    )


def _per_row(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    accounts: Iterable[SpotifyAccount],
    verb: str,
    operation: Callable[[SpotifyAccount], tuple[bool, str]],
    *,
    action: str | None,
) -> None:
    """Run an operation per account, audit each, and report each row's outcome."""
    done: list[str] = []
    failed: list[str] = []
    for account in accounts:
        try:
            ok, detail = operation(account)
        except (SpotifyError, ValueError) as exc:
            ok, detail = False, str(exc)
        _audit(request, account, f"{verb}: {'ok' if ok else 'failed'} — {detail}", action=action, ok=ok)
        (done if ok else failed).append(f"{account.display_name}: {detail}")
    if done:
        modeladmin.message_user(request, f"{verb} succeeded for {len(done)}: " + "; ".join(done), messages.SUCCESS)
    if failed:
        modeladmin.message_user(request, f"{verb} failed for {len(failed)}: " + "; ".join(failed), messages.ERROR)


@admin.register(SpotifyAccount)
class SpotifyAccountAdmin(SpotifyAccountConnectMixin, FastChangelistMixin, admin.ModelAdmin):
    list_display = [
        "display_name",
        "spotify_user_id",
        "app",
        "health_badge",
        "is_active",
        "token_expires_at",
        "reauth_due",
        "consecutive_failures",
        "last_error_short",
        "last_error_at",
    ]
    list_filter = ["health", "is_active", TokenExpiryFilter, "app"]
    search_fields = ["display_name", "spotify_user_id", "=id"]
    list_select_related = ["app"]
    raw_id_fields = ["app"]
    show_full_result_count = False
    readonly_fields = [
        "rate_limiter",
        "id",
        "health",
        "health_reason",
        "health_changed_at",
        "health_history",
        "consecutive_failures",
        "last_error",
        "last_error_at",
        "last_refreshed_at",
        "token_expires_at",
        "created_at",
        "updated_at",
    ]
    # Tokens never appear on an admin page.
    exclude = ["access_token", "refresh_token"]
    actions = [
        "refresh_tokens",
        "reauthorize",
        "deactivate",
        "reactivate",
        "release_quarantine",
        "clear_rate_limit_block",
        # Apps above accounts mount their own actions here (playlists: "Reshuffle all playlists").
    ]

    @admin.display(description="Rate limiter")
    def rate_limiter(self, obj: SpotifyAccount) -> str:
        return _rate_limiter_html(selectors.ratelimit_state_for_account(obj))

    @admin.display(description="Health history")
    def health_history(self, obj: SpotifyAccount) -> str:
        url = reverse("admin:accounts_accounthealthchange_changelist")
        return format_html('<a href="{}?account__id__exact={}">every health change</a>', url, obj.pk)

    @admin.action(description="Clear rate-limit block", permissions=["change"])
    def clear_rate_limit_block(self, request: HttpRequest, queryset: QuerySet[SpotifyAccount]) -> None:
        def run(account: SpotifyAccount) -> tuple[bool, str]:
            services.ratelimit_clear_block(kind="account", ident=str(account.pk), actor=request_actor(request, door="admin"))
            return True, "block cleared"

        _per_row(self, request, queryset, "Clear rate-limit block", run, action=None)

    @admin.display(description="Health", ordering="health")
    def health_badge(self, obj: SpotifyAccount) -> str:
        return format_html(
            '<span style="color:{};font-weight:bold" title="{}">{}</span>',
            HEALTH_COLOURS.get(obj.health, "#000"),
            obj.health_reason,
            obj.get_health_display(),
        )

    @admin.display(description="Re-authorize by", ordering="authorized_at")
    def reauth_due(self, obj: SpotifyAccount) -> str:
        due = obj.reauth_due_at.date().isoformat()
        return format_html('<span style="color:#c62828">{} (soon)</span>', due) if obj.reauth_due_soon else due

    @admin.display(description="Last error")
    def last_error_short(self, obj: SpotifyAccount) -> str:
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    @admin.action(description="Refresh tokens now", permissions=["change"])
    def refresh_tokens(self, request: HttpRequest, queryset: QuerySet[SpotifyAccount]) -> None:
        def refresh(account: SpotifyAccount) -> tuple[bool, str]:
            [result] = services.accounts_refresh_tokens(accounts=[account], force=True)
            return result.ok, result.detail

        _per_row(self, request, queryset.select_related("app"), "Token refresh", refresh, action="account.refresh_token")

    @admin.action(description="Deactivate (soft, history kept)", permissions=["change"])
    @destructive
    def deactivate(self, request: HttpRequest, queryset: QuerySet[SpotifyAccount]) -> None:
        def run(account: SpotifyAccount) -> tuple[bool, str]:
            changed = services.account_deactivate(account=account, reason=f"deactivated by {request.user}")
            return True, "deactivated" if changed else "already inactive"

        _per_row(self, request, queryset, "Deactivate", run, action="account.deactivate")

    @admin.action(description="Reactivate", permissions=["change"])
    def reactivate(self, request: HttpRequest, queryset: QuerySet[SpotifyAccount]) -> None:
        def run(account: SpotifyAccount) -> tuple[bool, str]:
            changed = services.account_reactivate(account=account)
            return True, "reactivated" if changed else "already active"

        _per_row(self, request, queryset.select_related("app"), "Reactivate", run, action="account.reactivate")

    @admin.action(description="Release quarantine", permissions=["change"])
    def release_quarantine(self, request: HttpRequest, queryset: QuerySet[SpotifyAccount]) -> None:
        def run(account: SpotifyAccount) -> tuple[bool, str]:
            if services.account_release_quarantine(account=account, actor=request_actor(request, door="admin")):
                return True, "released to ok"
            return False, f"not quarantined or degraded (health is {account.health})"

        _per_row(self, request, queryset, "Release quarantine", run, action="account.release_quarantine")


@admin.register(AccountHealthChange)
class AccountHealthChangeAdmin(admin.ModelAdmin):
    """Every health move of every account (accounts.services.account_health_record): read-only."""

    list_display = ["at", "account", "from_health", "to_health", "reason", "actor"]
    list_select_related = ["account"]
    list_filter = ["to_health", "from_health"]
    raw_id_fields = ["account"]
    search_fields = ["=account__id", "account__display_name"]
    search_help_text = "Account id (exact) or display name."
    readonly_fields = [f.name for f in AccountHealthChange._meta.fields]
    ordering = ["-at", "-id"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AccountHealthChange | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AccountHealthChange | None = None) -> bool:
        return False
