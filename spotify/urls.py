from __future__ import annotations

from django.urls import path

from spotify import api

urlpatterns = [
    path("circuit-breakers", api.CircuitBreakerListView.as_view(), name="circuit-breakers"),
    path("circuit-breakers/<str:name>/reset", api.CircuitBreakerResetView.as_view(), name="circuit-breaker-reset"),
    path("connectors", api.ConnectorListView.as_view(), name="connectors"),
    path("connectors/reload", api.ConnectorReloadView.as_view(), name="connectors-reload"),
    path("connectors/<str:name>", api.ConnectorDetailView.as_view(), name="connector-detail"),
    path("rate-limit-settings", api.RateLimitSettingListView.as_view(), name="rate-limit-settings"),
    path("rate-limit-settings/<int:pk>", api.RateLimitSettingDetailView.as_view(), name="rate-limit-setting-detail"),
    path("circuit-breakers/reset-all", api.CircuitBreakerResetAllView.as_view(), name="circuit-breakers-reset-all"),
]
