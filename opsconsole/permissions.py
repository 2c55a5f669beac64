"""Staff only; the `operators` group acts, the `viewers` group reads."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

OPERATORS = "operators"
VIEWERS = "viewers"


def user_can_operate(user: Any) -> bool:
    return bool(user.is_superuser or user.groups.filter(name=OPERATORS).exists())


def user_can_view(user: Any) -> bool:
    return bool(user.is_superuser or user.groups.filter(name__in=[OPERATORS, VIEWERS]).exists())


class StaffGroupPermission(BasePermission):
    message = "Staff membership in the operators (write) or viewers (read) group is required."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        if request.method in SAFE_METHODS:
            return user_can_view(user)
        return user_can_operate(user)
