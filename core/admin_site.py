"""The admin as an operations home (docs/runbooks/operations-home.md).

The index leads with the dashboard, then what operators act on, in order of use; the schedule's
building blocks and Celery's raw results, which nobody touches during an incident, sit last under
*Advanced*. Sections name apps and models by label (the base imports no app): a model nobody
listed joins its app's section, and an app nobody listed gets a section of its own before
*Advanced*, so a newly registered admin always shows up.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, URLResolver, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from core import preferences
from core.sso import login_page_context

ADVANCED = "advanced"

# (slug, title, members): a member is "app_label" (every model of the app not claimed by name
# elsewhere) or "app_label.model_name" (listed in this order, ahead of the app's other models).
SECTIONS: list[tuple[str, str, list[str]]] = [
    ("operations", "Operations", ["jobs.killswitch"]),
    (
        "accounts-and-apps",
        "Accounts and apps",
        ["accounts.spotifyaccount", "accounts.spotifyapp", "accounts.authorizationrequest", "accounts"],
    ),
    ("playlists", "Playlists", ["playlists.playlist", "playlists.playlistpolicy", "playlists.playlisthistory", "playlists"]),
    (
        "catalog-and-ingest",
        "Catalog and ingest",
        ["ingest.albumsource", "ingest.track", "ingest.album", "ingest.artist", "ingest", "spotify"],
    ),
    ("jobs", "Jobs and job runs", ["django_celery_beat.periodictask", "jobs.jobrun", "jobs"]),
    (
        "alerts",
        "Alerts",
        ["alerts.alert", "alerts.alertsilence", "alerts.alertrule", "alerts.notificationchannel", "alerts.delivery"],
    ),
    ("dead-letters", "Dead letters", ["ingest.deadletter"]),
    ("metrics-and-audit", "Metrics and audit trail", ["metrics.metricsnapshot", "metrics", "audit", "opsconsole.processstart"]),
    (
        "access",
        "Users and access",
        [
            "auth.user",
            "auth.group",
            "opsconsole.externalidentity",
            "opsconsole.apitoken",
            "auth",
            "axes.accessattempt",
            "axes.accessfailurelog",
            "axes",
        ],
    ),
    (ADVANCED, "Advanced", ["django_celery_beat", "django_celery_results"]),
]
DASHBOARD_PERMISSION = "metrics.view_metricsnapshot"


def environment_context() -> dict[str, str]:
    """The banner on every admin page: which console this is (OPSCONSOLE_ENVIRONMENT)."""
    name = str(getattr(settings, "OPSCONSOLE_ENVIRONMENT", "") or "production").strip().lower()
    return {"name": name, "is_production": "true" if name in ("production", "prod") else ""}


def _admin_url(name: str) -> str:
    try:
        return reverse(f"admin:{name}")
    except NoReverseMatch:
        return ""


def _dashboard_url() -> str:
    return _admin_url("metrics_dashboard")


# The pages (not models) heading the Operations section: (title, object name, admin URL name);
# metrics registers them, core reaches them by name.
OPERATIONS_PAGES = [
    ("Operations dashboard", "Dashboard", "metrics_dashboard"),
    ("Incident timeline", "Timeline", "metrics_timeline"),
]


# The operations home's status strip: registered by the app that can see everything (metrics,
# the top layer; core may not import it). One provider; the index refreshes it in place.
HOME_STRIP: list[Callable[[HttpRequest], list[dict[str, Any]]]] = []
HOME_REFRESH_SECONDS = 30


def home_strip_register(provider: Callable[[HttpRequest], list[dict[str, Any]]]) -> None:
    HOME_STRIP[:] = [provider]


# Banners under the environment's on every admin page, each from the app that knows the state
# (the kill switch: jobs.apps). A provider returns {"key", "text", "link"} or None.
ADMIN_BANNERS: list[Callable[[HttpRequest], dict[str, str] | None]] = []


def admin_banner_register(provider: Callable[[HttpRequest], dict[str, str] | None]) -> None:
    if provider not in ADMIN_BANNERS:
        ADMIN_BANNERS.append(provider)


class OpsAdminSite(admin.AdminSite):
    site_header = "opsconsole"
    site_title = "opsconsole"
    index_title = "Operations"
    # Nothing is served at "/": no "View site" link to a 404.
    site_url = None  # type: ignore[assignment]
    index_template = "admin/index.html"

    def dashboard_url(self, request: HttpRequest) -> str:
        if not request.user.has_perm(DASHBOARD_PERMISSION):
            return ""
        return _dashboard_url()

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = {
            **super().each_context(request),
            "ops_dashboard_url": self.dashboard_url(request),
            "ops_environment": environment_context(),
        }
        if request.user.is_authenticated:
            context["display_time_zone"] = preferences.display_time_zone(request)
        if request.user.is_authenticated and request.user.is_staff:
            context["ops_banners"] = [banner for provider in ADMIN_BANNERS if (banner := provider(request))]
        return context

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().login(request, {**login_page_context(), **(extra_context or {})})

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
        from core.stepup import destructive  # core.stepup → core.lockout imports this module

        # Deleting rows is destructive too: Django's bulk delete asks for a recent sign-in (core.stepup).
        self.add_action(destructive(delete_selected), "delete_selected")

    def get_urls(self) -> list[URLResolver | URLPattern]:
        from core import twofactor_views

        return [
            path("preferences/", self.admin_view(self.preferences_view), name="preferences"),
            path(
                "two-factor/verify/",
                self.admin_view(functools.partial(twofactor_views.verify_view, self)),
                name="twofactor_verify",
            ),
            path(
                "two-factor/enroll/",
                self.admin_view(functools.partial(twofactor_views.enroll_view, self)),
                name="twofactor_enroll",
            ),
            *super().get_urls(),
        ]

    def preferences_view(self, request: HttpRequest) -> HttpResponse:
        """The display time zone: times in the admin show in it (relative, the absolute time on hover)."""
        next_url = request.POST.get("next") or request.GET.get("next") or ""
        if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
            next_url = reverse("admin:index", current_app=self.name)
        error = ""
        if request.method == "POST":
            try:
                preferences.display_time_zone_set(request=request, time_zone=request.POST.get("time_zone", ""))
            except ValueError as exc:
                error = str(exc)
            else:
                messages.success(request, f"Times now show in {request.POST['time_zone']}.")
                return HttpResponseRedirect(next_url)
        context = {
            **self.each_context(request),
            "title": "Display time zone",
            "time_zones": preferences.time_zones(),
            "current": preferences.display_time_zone(request),
            "next_url": next_url,
            "error": error,
        }
        return TemplateResponse(request, "admin/preferences.html", context, status=400 if error else 200)

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        if app_label:
            # An app's own index page (/admin/<app>/) stays Django's.
            return super().get_app_list(request, app_label)
        return self._sections(request)

    def _sections(self, request: HttpRequest) -> list[dict[str, Any]]:
        app_dict = self._build_app_dict(request)
        by_model = {
            f"{label}.{model['object_name'].lower()}": model for label, entry in app_dict.items() for model in entry["models"]
        }
        claimed = {member for _, _, members in SECTIONS for member in members if "." in member}
        sections: dict[str, dict[str, Any]] = {}
        for slug, title, members in SECTIONS:
            models: list[dict[str, Any]] = []
            for member in members:
                if "." in member:
                    models.extend([by_model[member]] if member in by_model else [])
                    continue
                rest = [model for key, model in by_model.items() if key.split(".")[0] == member and key not in claimed]
                models.extend(sorted(rest, key=lambda model: str(model["name"])))
            sections[slug] = self._section(slug, title, models, app_dict)
        ordered = [sections[slug] for slug, _, _ in SECTIONS if slug != ADVANCED]
        known_apps = {member.split(".")[0] for _, _, members in SECTIONS for member in members}
        for label in sorted(set(app_dict) - known_apps, key=lambda label: str(app_dict[label]["name"]).lower()):
            models = sorted(app_dict[label]["models"], key=lambda model: str(model["name"]))
            ordered.append(self._section(label, str(app_dict[label]["name"]), models, app_dict))
        ordered.append(sections[ADVANCED])
        if request.user.has_perm(DASHBOARD_PERMISSION):
            pages = [(title, name, url) for title, name, url_name in OPERATIONS_PAGES if (url := _admin_url(url_name))]
            ordered[0]["models"][:0] = [self._page_entry(title, name, url) for title, name, url in pages]
        return [section for section in ordered if section["models"]]

    @staticmethod
    def _section(slug: str, title: str, models: list[dict[str, Any]], app_dict: dict[str, dict[str, Any]]) -> dict[str, Any]:
        labels = {model["model"]._meta.app_label for model in models}
        # A section drawn from one app links to that app's page; a mixed one to its own anchor.
        app_url = app_dict[labels.pop()]["app_url"] if len(labels) == 1 else f"#section-{slug}"
        return {"name": title, "app_label": slug, "app_url": app_url, "has_module_perms": True, "models": models}

    @staticmethod
    def _page_entry(title: str, object_name: str, url: str) -> dict[str, Any]:
        return {
            "name": title,
            "object_name": object_name,
            "perms": {"view": True},
            "admin_url": url,
            "add_url": None,
            "view_only": True,
        }

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        sections = self.get_app_list(request)
        context = {
            "home_strip": HOME_STRIP[0](request) if HOME_STRIP else [],
            "refresh_seconds": HOME_REFRESH_SECONDS,
            "app_list": [section for section in sections if section["app_label"] != ADVANCED],
            "advanced_app_list": [section for section in sections if section["app_label"] == ADVANCED],
            **(extra_context or {}),
        }
        return super().index(request, context)
