"""What one soak run is: its length, its seed, the fleet's sizes and the time scales of the stack."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


@dataclass(frozen=True)
class SoakConfig:
    minutes: float
    seed: int
    var_dir: Path
    # The fleet: apps by mode, accounts per app, playlists per account (their capacity).
    extended_apps: int = 2
    development_apps: int = 2
    accounts_per_extended_app: int = 8
    # Development Mode apps admit five users since 2026.
    accounts_per_development_app: int = 5
    playlists_per_account: int = 10
    albums: int = 3000
    # Every Web API answer of the emulator waits this long (Spotify is not on loopback).
    latency_ms: float = 120.0
    workers: tuple[int, ...] = (2, 2)
    web_port: int = 0
    emulator_port: int = 0
    # Seconds: faults are drawn inside [warmup, fault_end); the drain then has at most drain_seconds.
    warmup_seconds: float = 20.0
    drain_seconds: float = 180.0
    alert_interval_seconds: float = 10.0
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.minutes * 60

    @property
    def fault_end_seconds(self) -> float:
        """Faults start no later than this (seconds after the run began); the rest is theirs to end."""
        return max(self.warmup_seconds + 30.0, self.seconds * 0.8)

    @property
    def accounts(self) -> int:
        return self.extended_apps * self.accounts_per_extended_app + self.development_apps * self.accounts_per_development_app

    @property
    def playlists(self) -> int:
        return self.accounts * self.playlists_per_account

    @property
    def replay(self) -> str:
        return f"SOAK_MINUTES={self.minutes:g} SOAK_SEED={self.seed} make soak"

    @classmethod
    def from_env(cls) -> SoakConfig:
        minutes = _float("SOAK_MINUTES", 20.0)
        seed = _int("SOAK_SEED", secrets.randbelow(1_000_000))
        var_dir = Path(os.environ.get("SOAK_VAR_DIR") or BASE_DIR / "var" / "soak")
        # Thousands of album sources over a default run; a short run queues fewer, still more than it can idle on.
        albums = _int("SOAK_ALBUMS", int(min(3000, 600 + 120 * minutes)))
        return cls(
            minutes=minutes,
            seed=seed,
            var_dir=var_dir,
            albums=albums,
            playlists_per_account=_int("SOAK_PLAYLISTS_PER_ACCOUNT", 10),
            latency_ms=_float("SOAK_LATENCY_MS", 120.0),
            drain_seconds=_float("SOAK_DRAIN_SECONDS", max(150.0, min(600.0, minutes * 60 * 0.25))),
        )
