"""The control API under /_emulator/: one table of operations, served by the emulator and called by `EmulatorRemote`.

Each row of `Controls` is one operation: its HTTP method, its path under /_emulator/, the
`EmulatorState` method it calls and what it answers. A request carries that method's arguments
by name: a POST as a JSON object, a GET in the query string and the path. A field left out
takes the method's default (or the row's `absent` value); a required field left out, or a value
the method refuses, answers 400 {"error": "bad control request: ..."}. A row answers either
{"ok": true} ("ok") or the method's result ("result", as {key: result} when the row names a
key; a GET that finds nothing answers 404 with no body). Anything else answers 404
{"error": "unknown control"}. Loopback only: the control API has no auth.

`EmulatorRemote` gets one method per row, with the name and signature of the emulator method,
so adding a control is one row here plus the emulator method.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from inspect import Parameter, signature
from typing import Any, Concatenate, Generic, Literal, ParamSpec, TypeVar, overload
from urllib.parse import urlencode

from devstack.emulator.state import EmulatorState, Reply
from devstack.emulator.webapi import json_body

PREFIX = "/_emulator/"

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Control(Generic[P, R]):
    """One control operation; on `Controls` also the remote method of the same name."""

    method: Literal["GET", "POST"]
    path: str  # under /_emulator/; "{name}" takes that argument from the path
    call: Callable[Concatenate[EmulatorState, P], R]
    answer: Literal["ok", "result"] = "ok"
    key: str | None = None
    status: int = 200
    # Fields a request may leave out although the method requires them.
    absent: Mapping[str, Any] = field(default_factory=dict)

    def __set_name__(self, owner: type, name: str) -> None:
        if name != self.call.__name__:
            raise TypeError(f"control {name!r} must be named as the method it calls, {self.call.__name__!r}")

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>.+)", self.path) + "$")

    @cached_property
    def parameters(self) -> list[Parameter]:
        """The method's parameters after `self`: the request's fields."""
        return list(signature(self.call).parameters.values())[1:]

    def arguments(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The emulator call's keyword arguments from a request's fields (KeyError: a required one is missing)."""
        arguments = {}
        for parameter in self.parameters:
            if parameter.name in fields:
                arguments[parameter.name] = fields[parameter.name]
            elif parameter.name in self.absent:
                arguments[parameter.name] = self.absent[parameter.name]
            elif parameter.default is Parameter.empty:
                raise KeyError(parameter.name)
        return arguments

    def reply(self, result: R) -> Reply:
        if self.answer == "ok":
            return Reply(self.status, {"ok": True})
        if result is None:
            return Reply(404)
        return Reply(self.status, {self.key: result} if self.key else result)

    @overload
    def __get__(self, remote: None, owner: type) -> Control[P, R]: ...
    @overload
    def __get__(self, remote: Controls, owner: type) -> Callable[P, R]: ...
    def __get__(self, remote: Controls | None, owner: type) -> Control[P, R] | Callable[P, R]:
        if remote is None:
            return self

        def remote_call(*args: P.args, **kwargs: P.kwargs) -> R:
            # None stands in for the emulator: only the arguments after it travel.
            bound = signature(self.call).bind(None, *args, **kwargs)
            bound.apply_defaults()
            return remote._request(self, {p.name: bound.arguments[p.name] for p in self.parameters})

        return remote_call


class Controls:
    """The table of control operations: attribute name = the `EmulatorState` method called."""

    counts = Control("GET", "counts", EmulatorState.counts, answer="result")
    album_ids = Control("GET", "albums", EmulatorState.album_ids, answer="result", key="album_ids")
    playlists_of = Control(
        "GET", "playlists", EmulatorState.playlists_of, answer="result", key="playlists", absent={"user_id": ""}
    )
    playlist = Control("GET", "playlists/{playlist_id}", EmulatorState.playlist, answer="result")
    reset = Control("POST", "reset", EmulatorState.reset)
    reset_counts = Control("POST", "reset_counts", EmulatorState.reset_counts)
    fault = Control("POST", "fault", EmulatorState.fault, absent={"status": None})
    clear_faults = Control("POST", "clear_faults", EmulatorState.clear_faults)
    set_latency = Control("POST", "latency", EmulatorState.set_latency)
    latency = Control("GET", "latency", EmulatorState.latency, answer="result", key="latency")
    revoke_user = Control("POST", "revoke_user", EmulatorState.revoke_user, answer="result", key="revoked")
    playlists = Control("GET", "all_playlists", EmulatorState.playlists, answer="result", key="playlists")
    create_user = Control("POST", "users", EmulatorState.create_user, answer="result", status=201)
    revoke = Control("POST", "revoke", EmulatorState.revoke)
    expire_access_tokens = Control("POST", "expire_access_tokens", EmulatorState.expire_access_tokens)
    set_app_mode = Control("POST", "app_mode", EmulatorState.set_app_mode)
    register_app = Control("POST", "register_app", EmulatorState.register_app)
    app_users = Control("GET", "app_users", EmulatorState.app_users, answer="result", key="users")
    set_audio_features_enabled = Control("POST", "audio_features", EmulatorState.set_audio_features_enabled)
    grant_audio_features = Control("POST", "grant_audio_features", EmulatorState.grant_audio_features)
    edit_playlist = Control("POST", "edit_playlist", EmulatorState.edit_playlist)
    set_rotate_refresh_tokens = Control("POST", "rotate_refresh_tokens", EmulatorState.set_rotate_refresh_tokens)
    set_rate_limit = Control("POST", "rate_limit", EmulatorState.set_rate_limit, absent={"max_requests": None})

    def _request(self, control: Control[..., Any], arguments: dict[str, Any]) -> Any:
        """Send one row's call with the emulator method's arguments; its answer as the method returns it."""
        raise NotImplementedError


CONTROLS: tuple[Control[..., Any], ...] = tuple(row for row in vars(Controls).values() if isinstance(row, Control))


def control_reply(emulator: EmulatorState, method: str, name: str, query: dict[str, list[str]], body: bytes) -> Reply:
    """Answer one control request; `name` is the path under /_emulator/."""
    data = json_body(body) if body.strip() else {}
    if not isinstance(data, dict):
        return Reply(400, {"error": "JSON object expected"})
    for control in CONTROLS:
        match = control.pattern.match(name)
        if control.method == method and match:
            break
    else:
        return Reply(404, {"error": "unknown control"})
    fields = {key: values[0] for key, values in query.items()} if method == "GET" else data
    try:
        result = control.call(emulator, **control.arguments({**fields, **match.groupdict()}))
    except (KeyError, ValueError, TypeError) as exc:
        return Reply(400, {"error": f"bad control request: {exc}"})
    return control.reply(result)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class EmulatorRemote(Controls):
    """The control API of an emulator running in another process, as Python methods."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.api_url = f"{self.url}/v1/"
        self.accounts_url = f"{self.url}/"

    def count(self, endpoint: str) -> int:
        return int(self.counts().get(endpoint, 0))

    def _request(self, control: Control[..., Any], arguments: dict[str, Any]) -> Any:
        path = control.path.format(**arguments)
        fields = {name: value for name, value in arguments.items() if f"{{{name}}}" not in control.path}
        data = None
        if control.method == "GET":
            path += f"?{urlencode(fields)}" if fields else ""
        else:
            data = json.dumps(fields, default=_epoch).encode()
        request = urllib.request.Request(
            f"{self.url}{PREFIX}{path}", data=data, method=control.method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            # A "result" control that finds nothing answers 404 with no body; any other error stays one.
            if error.code == 404 and control.answer == "result" and not error.read():
                return None
            raise
        if control.answer == "ok":
            return None
        return answer[control.key] if control.key else answer
