from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import spotify_callback
from core.runbooks import runbook_view
from metrics import health, prometheus, queues

urlpatterns = [
    path("admin/", admin.site.urls),
    # Spotify sends the account's owner back here (docs/runbooks/connect-account.md).
    path("oauth/spotify/callback", spotify_callback, name="spotify-oauth-callback"),
    # Single sign-on: /oidc/authenticate/, /oidc/callback/ (audit.sso; off unless OIDC_ENABLED).
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("runbooks/", runbook_view, name="runbooks"),
    path("runbooks/<str:name>", runbook_view, name="runbook"),
    path("api/v1/", include("jobs.urls")),
    path("api/v1/", include("audit.urls")),
    path("api/v1/", include("accounts.urls")),
    path("api/v1/", include("ingest.urls")),
    path("api/v1/", include("playlists.urls")),
    path("api/v1/", include("alerts.urls")),
    path("api/v1/", include("metrics.urls")),
    path("api/v1/", include("spotify.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("health", health.health_view, name="health"),
    path("api/health", health.health_view, name="api-health"),
    path("ready", health.ready_view, name="ready"),
    path("live", health.live_view, name="live"),
    path("api/ops/queues", queues.queues_view, name="ops-queues"),
    path("metrics", prometheus.metrics_view, name="metrics"),
]
