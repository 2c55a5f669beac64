"""The test's hand on the provider: create a user or change their groups (what an identity
team does in Okta or Entra ID), behind a token only the fixture knows."""

from __future__ import annotations

import json
import os

from django.contrib.auth.models import Group, User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt
@require_POST
def user_put(request: HttpRequest) -> HttpResponse:
    if not constant_time_compare(request.headers.get("X-Control-Token", ""), os.environ["OP_CONTROL_TOKEN"]):
        return HttpResponse(status=403)
    body = json.loads(request.body)
    user, _ = User.objects.get_or_create(username=body["username"])
    user.email = body.get("email", user.email)
    user.first_name = body.get("given_name", user.first_name)
    user.last_name = body.get("family_name", user.last_name)
    if "password" in body:
        user.set_password(body["password"])
    user.save()
    if "groups" in body:
        user.groups.set([Group.objects.get_or_create(name=name)[0] for name in body["groups"]])
    return JsonResponse({"sub": str(user.pk), "groups": sorted(user.groups.values_list("name", flat=True))})
