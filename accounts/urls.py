from django.urls import path

from accounts import api

urlpatterns = [
    path("accounts/list", api.AccountListView.as_view(), name="accounts-list"),
    path("accounts/refresh/<uuid:account_id>", api.AccountRefreshView.as_view(), name="accounts-refresh"),
    path("accounts/<uuid:account_id>", api.AccountDetailView.as_view(), name="accounts-detail"),
    path("ratelimits", api.RateLimitsView.as_view(), name="ratelimits"),
    path("ratelimits/clear", api.RateLimitClearView.as_view(), name="ratelimits-clear"),
]
