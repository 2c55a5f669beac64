from django.urls import path

from alerts import api

urlpatterns = [
    path("alerts", api.AlertListView.as_view(), name="alerts"),
    path("alerts/<int:pk>/acknowledge", api.AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("alerts/<int:pk>/snooze", api.AlertSnoozeView.as_view(), name="alert-snooze"),
    path("alerts/<int:pk>/resolve", api.AlertResolveView.as_view(), name="alert-resolve"),
    path("alert-silences", api.SilenceListCreateView.as_view(), name="alert-silences"),
    path("alert-silences/<int:pk>", api.SilenceExpireView.as_view(), name="alert-silence"),
    path("alert-channels", api.ChannelListCreateView.as_view(), name="alert-channels"),
    path("alert-channels/<int:pk>/test", api.ChannelTestView.as_view(), name="alert-channel-test"),
    path("alert-rules", api.AlertRuleListView.as_view(), name="alert-rules"),
]
