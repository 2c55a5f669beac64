"""Who did it: one actor string for every door (admin, API, command line, schedule).

History rows, JobRun.triggered_by, logs and the audit trail all name the actor the same way:
`<door>:<username>` for people, the bare door for the machine (`schedule`).
"""

from __future__ import annotations

from typing import Any, Literal

Door = Literal["admin", "api", "cli"]

# What the machine itself recorded (a breaker opening, a capability Spotify revealed): the
# audit trail's `system` door, shown on the incident timeline with no person as its actor.
SYSTEM_ACTOR = "system"


def actor_of(user: Any, *, door: Door) -> str:
    """`admin:olive`, `api:deploy-bot`, `cli:root`."""
    name = user.get_username() if hasattr(user, "get_username") else str(user)
    return f"{door}:{name}"


def request_actor(request: Any, *, door: Door) -> str:
    return actor_of(request.user, door=door)


def is_operator(actor: str) -> bool:
    """A person at a door (admin, API, command line), not the schedule or a task."""
    return actor.split(":", 1)[0] in ("admin", "api", "cli")


def cli_actor() -> str:
    """The person at the terminal of a management command: `cli:<login name>`."""
    import getpass

    return f"cli:{getpass.getuser()}"
