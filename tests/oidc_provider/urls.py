from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

from tests.oidc_provider import control

urlpatterns = [
    path("openid/", include("oidc_provider.urls", namespace="oidc_provider")),
    path("login/", auth_views.LoginView.as_view(template_name="op_login.html"), name="login"),
    path("control/users", control.user_put, name="control-user"),
]
