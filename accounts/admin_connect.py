"""The admin's side of the connect flow: *Connect a Spotify account* (from an app's page or the
accounts list), *Re-authorize* for accounts due, and the authorization requests with *Revoke*.

Links are shown once, on the page that made them: the console keeps only a hash of the state
they carry (docs/runbooks/connect-account.md).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import ngettext

from accounts.models import AuthorizationRequest, SpotifyAccount, SpotifyApp
from accounts.oauth import (
    AuthorizationLink,
    AuthorizationRefused,
    accounts_reauthorize_split,
    authorization_request_create,
    authorization_request_revoke,
    authorization_requests_by_status,
    reauthorize_preview,
)
from accounts.services import app_free_slots
from core.actors import request_actor
from core.admin_utils import dry_run_confirmation
from core.stepup import destructive

CONNECT_PERMISSION = "accounts.add_spotifyaccount"


def _links_page(
    model_admin: admin.ModelAdmin, request: HttpRequest, links: list[AuthorizationLink], *, title: str
) -> TemplateResponse:
    return TemplateResponse(
        request,
        "admin/accounts/authorization_links.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": title,
            "links": links,
            "requests_url": reverse("admin:accounts_authorizationrequest_changelist"),
        },
    )


def _connect(model_admin: admin.ModelAdmin, request: HttpRequest, app: SpotifyApp) -> HttpResponse:
    try:
        link = authorization_request_create(app=app, actor=request_actor(request, door="admin"))
    except AuthorizationRefused as exc:
        model_admin.message_user(request, f"Not connected: {exc}.", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())
    return _links_page(model_admin, request, [link], title=f"Connect a Spotify account to {app.name}")


class ConnectAppForm(forms.Form):
    app = forms.ModelChoiceField(queryset=SpotifyApp.objects.order_by("name"), empty_label=None, label="Spotify app")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["app"]
        field.label_from_instance = lambda app: (
            f"{app.name} ({app.get_mode_display()}, {app_free_slots(app=app)} of {app.user_cap} free)"
        )


class SpotifyAppConnectMixin(admin.ModelAdmin):
    """On a Spotify app's page: *Connect a Spotify account* to this app."""

    change_form_template = "admin/accounts/spotifyapp/change_form.html"

    def get_urls(self) -> list[URLPattern]:
        model_admin: Any = self
        extra = [
            path(
                "<int:app_id>/connect/",
                model_admin.admin_site.admin_view(self.connect_view),
                name="accounts_spotifyapp_connect",
            )
        ]
        return extra + super().get_urls()

    def connect_view(self, request: HttpRequest, app_id: int) -> HttpResponse:
        if not request.user.has_perm(CONNECT_PERMISSION):
            raise PermissionDenied
        app = get_object_or_404(SpotifyApp, pk=app_id)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:accounts_spotifyapp_change", args=[app.pk]))
        return _connect(self, request, app)


class SpotifyAccountConnectMixin(admin.ModelAdmin):
    """On the accounts list: *Connect a Spotify account* (choosing the app) instead of *Add*,
    which would save an account without tokens; and the *Re-authorize* action."""

    change_list_template = "admin/accounts/spotifyaccount/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        model_admin: Any = self
        extra = [path("connect/", model_admin.admin_site.admin_view(self.connect_view), name="accounts_spotifyaccount_connect")]
        return extra + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_connect": request.user.has_perm(CONNECT_PERMISSION)}
        return super().changelist_view(request, extra_context)

    def connect_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(CONNECT_PERMISSION):
            raise PermissionDenied
        model_admin: Any = self
        form = ConnectAppForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            return _connect(model_admin, request, form.cleaned_data["app"])
        return TemplateResponse(
            request,
            "admin/accounts/spotifyaccount/connect.html",
            {
                **model_admin.admin_site.each_context(request),
                "opts": model_admin.model._meta,
                "title": "Connect a Spotify account",
                "form": form,
            },
        )

    @admin.action(description="Re-authorize (a link per account)…", permissions=["change"])
    def reauthorize(self, request: HttpRequest, queryset: QuerySet[SpotifyAccount]) -> HttpResponse | None:
        """One link per account in reauth_required or within REAUTH_WARNING_DAYS of its six-month end,
        after a confirmation that is its dry run."""
        model_admin: Any = self
        if request.POST.get("post") != "yes":
            return dry_run_confirmation(
                model_admin,
                request,
                preview=reauthorize_preview(accounts=queryset),
                title="Re-authorize Spotify accounts?",
                lead="Re-authorize: a link for each account's owner to grant access again.",
                what="accounts",
                submit_label="Yes, make the links",
            )
        due, not_due = accounts_reauthorize_split(queryset)
        skipped = [account.display_name for account in not_due]
        actor = request_actor(request, door="admin")
        links = [authorization_request_create(app=account.app, account=account, actor=actor) for account in due]
        if skipped:
            model_admin.message_user(
                request,
                ngettext(
                    "%(n)d account is not due for re-authorization: %(names)s.",
                    "%(n)d accounts are not due for re-authorization: %(names)s.",
                    len(skipped),
                )
                % {"n": len(skipped), "names": ", ".join(skipped)},
                messages.WARNING,
            )
        if not links:
            return None
        model_admin.message_user(
            request,
            ngettext("%d re-authorization link made.", "%d re-authorization links made.", len(links)) % len(links),
            messages.SUCCESS,
        )
        return _links_page(model_admin, request, links, title="Re-authorize Spotify accounts")


class StatusFilter(admin.SimpleListFilter):
    """Status as people read it: a pending request past its expiry is expired."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(AuthorizationRequest.Status.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuthorizationRequest]) -> QuerySet[AuthorizationRequest]:
        return authorization_requests_by_status(queryset, self.value())


@admin.register(AuthorizationRequest)
class AuthorizationRequestAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "kind",
        "app",
        "account",
        "created_by",
        "expires_at",
        "status_badge",
        "status_reason",
        "spotify_user_id",
    ]
    list_filter = [StatusFilter, "kind", "app"]
    list_select_related = ["app", "account"]
    search_fields = ["created_by", "spotify_user_id", "account__display_name", "=id"]
    # The state hash and the verifier never appear; the rest is the record of what happened.
    fields = readonly_fields = (
        "id",
        "kind",
        "app",
        "account",
        "scopes",
        "redirect_uri",
        "created_by",
        "created_at",
        "expires_at",
        "status",
        "status_reason",
        "completed_at",
        "spotify_user_id",
    )
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuthorizationRequest | None = None) -> bool:
        return False

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: AuthorizationRequest) -> str:
        status = obj.current_status
        colour = {"pending": "#1565c0", "completed": "#2e7d32", "expired": "#757575"}.get(status, "#c62828")
        return format_html('<span style="color:{};font-weight:bold">{}</span>', colour, AuthorizationRequest.Status(status).label)

    @admin.action(description="Revoke (the link stops working)", permissions=["change"])
    @destructive
    def revoke(self, request: HttpRequest, queryset: QuerySet[AuthorizationRequest]) -> None:
        actor = request_actor(request, door="admin")
        revoked = sum(authorization_request_revoke(request=item, actor=actor) for item in queryset.select_related("app"))
        skipped = queryset.count() - revoked
        self.message_user(
            request,
            ngettext("%d link revoked", "%d links revoked", revoked) % revoked
            + (f"; {skipped} not pending, left as they were." if skipped else "."),
            messages.SUCCESS if revoked else messages.WARNING,
        )
