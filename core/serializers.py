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


def dry_run_field(*, default: bool = False) -> serializers.BooleanField:
    """`dry_run` means the same on every bulk endpoint that takes it: do nothing, answer 200 with
    the preview (spotify.previews.CallPlan's shape)."""
    return serializers.BooleanField(
        default=default,
        help_text="Do nothing: answer 200 with what would be touched (count, sample, skipped), the Spotify calls "
        "per app (calls_min, calls_max) and their time at each app's burst and rate (eta_seconds).",
    )


class PreviewAppSerializer(serializers.Serializer):  # type: ignore[type-arg]
    app = serializers.CharField(help_text="The app's rate-limit bucket (its id).")
    count = serializers.IntegerField(help_text="Items touched on its behalf.")
    calls_min = serializers.IntegerField()
    calls_max = serializers.IntegerField()
    eta_seconds = serializers.FloatField(help_text="calls_max at the app's (and each account's) burst and rate.")
    schedule_calls = serializers.IntegerField(
        help_text="Calls the schedule's runs open meanwhile ask of the same app (docs/runbooks/fleet-capacity.md)."
    )
    schedule_jobs = serializers.ListField(child=serializers.CharField(), help_text="Those runs' jobs.")


class PreviewSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """A dry run's answer (spotify.previews.CallPlan.as_dict); endpoints add their own keys."""

    dry_run = serializers.BooleanField()
    count = serializers.IntegerField(help_text="What the run would touch.")
    sample = serializers.ListField(child=serializers.CharField(), help_text="The first ten of them.")
    skipped = serializers.DictField(child=serializers.IntegerField(), help_text="Reason: how many it would skip.")
    calls_min = serializers.IntegerField()
    calls_max = serializers.IntegerField()
    eta_seconds = serializers.FloatField()
    apps = PreviewAppSerializer(many=True)
    notes = serializers.ListField(child=serializers.CharField())
