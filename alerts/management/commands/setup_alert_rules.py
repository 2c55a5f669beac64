from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from alerts.models import AlertRule, NotificationChannel
from alerts.rules import alert_rules_setup
from alerts.services import channel_create
from audit.services import audit_record
from core.actors import cli_actor


class Command(BaseCommand):
    help = (
        "Create the built-in alert rules that do not exist yet (idempotent; never changes a rule an operator edited). "
        "--email ADDRESS also adds an email channel and attaches it to every rule that has no channel."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="", help="Send alerts of channel-less rules to this address.")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        created = alert_rules_setup()
        audit_record(
            actor=actor,
            action="alert_rule.setup",
            target_type="alert rule",
            target_repr="built-in rules",
            details={"created": created},
        )
        self.stdout.write(f"alert rules: {len(created)} created, {len(AlertRule.objects.all()) - len(created)} kept as they are")
        address = options["email"]
        if not address:
            return
        name = f"email {address}"[:100]
        channel = NotificationChannel.objects.filter(name=name).first()
        if channel is None:
            try:
                channel = channel_create(kind=NotificationChannel.Kind.EMAIL, name=name, target=address, actor=actor)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        bare = list(AlertRule.objects.filter(channels__isnull=True))
        for rule in bare:
            rule.channels.add(channel)
        if bare:
            audit_record(
                actor=actor, action="alert_rule.attach_channel", target=channel, details={"rules": [r.name for r in bare]}
            )
        self.stdout.write(f"channel {channel.name!r} attached to {len(bare)} rule(s) without a channel")
