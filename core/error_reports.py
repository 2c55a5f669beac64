"""What a 500 page or error e-mail may show: Django's filter, tightened for this console.

Django hides settings and dict keys named like API|TOKEN|KEY|SECRET|PASS|SIGNATURE, and frame
locals only in functions marked @sensitive_variables. Here also: the Authorization header
(API tokens; Django's list misses it), passwords inside URLs (REDIS_URL=redis://:pw@host,
CACHES' LOCATION) and secret-named locals or dict keys in every frame (a refresh token
passed down through spotipy/requests frames).
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

_URL_PASSWORD = re.compile(r"(\w[\w+.-]*://[^:/@\s]*:)[^@\s]+@")


class SecretsReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile("API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|AUTHORIZATION|CREDENTIAL", flags=re.IGNORECASE)

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        value = super().cleanse_setting(key, value)
        if isinstance(value, str):
            return _URL_PASSWORD.sub(rf"\1{self.cleansed_substitute}@", value)
        return value

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [(name, self.cleanse_setting(name, value)) for name, value in variables]
