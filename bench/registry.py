"""The case registry: each case is a function returning a dict of figures.

A module adds its cases with `@register("name")` (or exposes `CASES = {name: function}`);
bench/__main__.py imports the modules it lists, runs the cases and records the figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Figures = dict[str, Any]


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[], Figures]
    # Cases that write run inside a transaction that is rolled back: the fleet stays as built.
    rollback: bool = False


REGISTRY: dict[str, Case] = {}


def register(name: str, *, rollback: bool = False) -> Callable[[Callable[[], Figures]], Callable[[], Figures]]:
    def decorate(func: Callable[[], Figures]) -> Callable[[], Figures]:
        REGISTRY[name] = Case(name=name, run=func, rollback=rollback)
        return func

    return decorate
