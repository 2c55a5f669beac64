"""The API's one rule for request bodies: a key an endpoint does not take is refused with a field
error naming it, never dropped. An operator who sends `{"mode": "all", "dry_run": true}` to an
endpoint without a preview must get a 400, not the real thing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.request import Request

UNKNOWN_FIELD = "Unknown field: this endpoint does not take it."
READ_ONLY_FIELD = "Read-only field: it cannot be set here."


class RefuseUnknownFields:
    """First in the bases of every serializer that reads a request body (Serializer or ModelSerializer)."""

    fields: Any  # the serializer's, from the class this is mixed into

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            refused = {
                name: [UNKNOWN_FIELD if name not in self.fields else READ_ONLY_FIELD]
                for name in data
                if name not in self.fields or self.fields[name].read_only
            }
            if refused:
                raise serializers.ValidationError(refused)
        return super().to_internal_value(data)  # type: ignore[misc]


class NoBody(RefuseUnknownFields, serializers.Serializer):  # type: ignore[type-arg]
    """The body of a write endpoint that takes none: empty, or a 400 naming each key."""


def refuse_body(request: Request) -> None:
    """First thing in a write endpoint that takes no body, before it looks anything up."""
    NoBody(data=request.data).is_valid(raise_exception=True)
