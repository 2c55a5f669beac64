"""The admin index as an operations home: dashboard first, sections in order of use, the models
nobody touches under Advanced, and any model nobody listed still shown."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import RequestFactory
from django.urls import path, set_urlconf

from accounts.models import SpotifyAccount
from core.admin_site import OpsAdminSite
from tests.fixtures_clients import client_for

pytestmark = pytest.mark.django_db

HOME_ORDER = ["Operations", "Accounts and apps", "Playlists", "Catalog and ingest", "Jobs and job runs", "Alerts", "Dead letters"]


def _captions(html: str) -> list[str]:
    return re.findall(r'<caption>\s*<a href="[^"]*" class="section"[^>]*>([^<]+)</a>', html)


def test_the_home_leads_with_the_dashboard_and_the_sections_operators_act_on(superuser: User) -> None:
    response = client_for(superuser).get("/admin/")
    html = response.content.decode()

    assert response.status_code == 200
    assert "<title>Operations | opsconsole</title>" in html
    assert '<div id="site-name"><a href="/admin/">opsconsole</a></div>' in html
    captions = _captions(html)
    assert captions[: len(HOME_ORDER)] == HOME_ORDER
    assert captions[-1] == "Advanced"
    main, advanced = html.split('id="advanced-section"')
    first_row = re.search(r'<th scope="row" id="([^"]+)">\s*<a href="([^"]+)"', main)
    assert first_row and first_row.groups() == ("operations-dashboard", "/admin/metrics/metricsnapshot/dashboard/")
    for model in ("clockedschedule", "solarschedule", "intervalschedule", "crontabschedule", "groupresult", "taskresult"):
        assert f"model-{model}" in advanced and f"model-{model}" not in main
    for model in ("spotifyaccount", "spotifyapp", "playlist", "albumsource", "jobrun", "periodictask", "deadletter"):
        assert f"model-{model}" in main


def test_a_viewer_sees_only_the_sections_they_may_open(viewer: User) -> None:
    html = client_for(viewer).get("/admin/").content.decode()
    captions = _captions(html)

    # Viewers read lockouts there (docs/runbooks/staff-access.md), never users, groups or tokens.
    assert "Users and access" in captions
    for model in ("user", "group", "apitoken"):
        assert f'class="model-{model}"' not in html
    assert captions.index("Accounts and apps") < captions.index("Playlists")


def test_an_apps_own_page_keeps_djangos_list(superuser: User) -> None:
    html = client_for(superuser).get("/admin/django_celery_beat/").content.decode()
    assert "model-clockedschedule" in html and "model-periodictask" in html
    assert "Operations dashboard" not in html.split('id="content-main"')[1]


def test_models_nobody_listed_still_show_in_a_sensible_section(superuser: User) -> None:
    site = OpsAdminSite(name="probe")
    site.register(SpotifyAccount)
    site.register(LogEntry)  # an app the sections do not name
    site.register(Session)
    request = RequestFactory().get("/probe/")
    request.user = superuser

    class ProbeUrls:
        urlpatterns = [path("probe/", site.urls)]

    set_urlconf(ProbeUrls)
    try:
        app_list = site.get_app_list(request)
    finally:
        set_urlconf(None)
    sections = {section["name"]: [model["object_name"] for model in section["models"]] for section in app_list}
    names = list(sections)

    assert sections["Accounts and apps"] == ["SpotifyAccount"]
    assert sections["Administration"] == ["LogEntry"] and sections["Sessions"] == ["Session"]
    assert names.index("Accounts and apps") < names.index("Administration")


def test_every_admin_page_links_to_the_dashboard(superuser: User, viewer: User) -> None:
    for url in ("/admin/", "/admin/ingest/track/", "/admin/django_celery_beat/periodictask/", "/admin/metrics/"):
        html = client_for(superuser).get(url).content.decode()
        assert '<a href="/admin/metrics/metricsnapshot/dashboard/" id="ops-dashboard-nav">Dashboard</a>' in html, url
    assert 'id="ops-dashboard-nav"' in client_for(viewer).get("/admin/").content.decode()


def test_staff_without_the_dashboard_permission_get_no_dashboard_link(staff_plain: User) -> None:
    html = client_for(staff_plain).get("/admin/").content.decode()
    assert "ops-dashboard-nav" not in html and "Operations dashboard" not in html


def test_the_site_is_the_default_admin_site() -> None:
    assert isinstance(admin.site._wrapped if hasattr(admin.site, "_wrapped") else admin.site, OpsAdminSite)
