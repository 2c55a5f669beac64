"""The accounts list's filters (`GET accounts/list`)."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters

from accounts.models import SpotifyAccount
from core.filters import BooleanFilter


class AccountFilter(filters.FilterSet):
    health = filters.ChoiceFilter(choices=SpotifyAccount.Health.choices)
    is_active = BooleanFilter()
    search = filters.CharFilter(method="filter_search", help_text="Display name or Spotify user id contains")

    class Meta:
        model = SpotifyAccount
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet[SpotifyAccount], name: str, value: str) -> QuerySet[SpotifyAccount]:
        return queryset.filter(Q(display_name__icontains=value) | Q(spotify_user_id__icontains=value))
