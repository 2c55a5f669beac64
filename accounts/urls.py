from django.urls import path

from accounts import api, api_connect

urlpatterns = [
    path("accounts/list", api.AccountListView.as_view(), name="accounts-list"),
    path("accounts/refresh/<uuid:account_id>", api.AccountRefreshView.as_view(), name="accounts-refresh"),
    path("accounts/connect", api_connect.AccountConnectView.as_view(), name="accounts-connect"),
    path("accounts/authorizations", api_connect.AuthorizationRequestListView.as_view(), name="accounts-authorizations"),
    path(
        "accounts/<uuid:account_id>/reauthorize",
        api_connect.AccountReauthorizeView.as_view(),
        name="accounts-reauthorize",
    ),
    path("accounts/<uuid:account_id>", api.AccountDetailView.as_view(), name="accounts-detail"),
    path("ratelimits", api.RateLimitsView.as_view(), name="ratelimits"),
    path("ratelimits/clear", api.RateLimitClearView.as_view(), name="ratelimits-clear"),
]
