"""Staff users in the admin: Django's UserAdmin plus who has two-factor, and its reset (audited,
after a step-up). django-otp's own device admins are not shown: a device is made by its owner on
the enrolment page and removed by the reset, nowhere else (docs/runbooks/staff-access.md)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.utils.translation import ngettext
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.twofactor import twofactor_reset
from core.actors import request_actor
from core.stepup import destructive

User = get_user_model()

for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    list_display = ["username", "email", "first_name", "last_name", "is_staff", "two_factor"]
    actions = ["reset_two_factor"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(has_totp=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)))
        )

    @admin.display(description="Two-factor", boolean=True, ordering="has_totp")
    def two_factor(self, obj: object) -> bool:
        return bool(getattr(obj, "has_totp", False))

    @admin.action(description="Reset two-factor (they set it up again at their next sign-in)", permissions=["change"])
    @destructive
    def reset_two_factor(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = request_actor(request, door="admin")
        users = list(queryset)
        for user in users:
            twofactor_reset(user=user, actor=actor)
        self.message_user(
            request,
            ngettext("Two-factor reset for %d user.", "Two-factor reset for %d users.", len(users)) % len(users),
            messages.SUCCESS,
        )
