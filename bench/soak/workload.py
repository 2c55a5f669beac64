"""The run's work besides the schedule: album sources submitted through the API in waves.

Each wave mixes the catalog's albums with what operators really paste: a few the queue already holds
(answered `duplicate`), a few that are not albums at all (kept and marked `invalid`), and a few
well-formed ids Spotify does not know (they end `failed` with the reason). Every answer is kept: it
is what the ledger holds the database to.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bench.soak.doors import DoorError, Doors

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SUBMIT_MAX = 500


@dataclass
class Submitted:
    # Spotify album id -> when it was first accepted
    accepted: dict[str, float] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    duplicates: int = 0
    invalid: list[str] = field(default_factory=list)
    waves: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _unknown_id(rng: random.Random) -> str:
    return "".join(rng.choice(BASE62) for _ in range(22))


def submit(doors: Doors, inputs: list[str], submitted: Submitted) -> None:
    for start in range(0, len(inputs), SUBMIT_MAX):
        chunk = inputs[start : start + SUBMIT_MAX]
        answer = doors.api("POST", "ingest/albums", json={"urls": chunk})
        now = time.time()
        with submitted.lock:
            for result in answer["results"]:
                status = result["status"]
                album_id = result.get("album_id") or ""
                if status == "accepted":
                    submitted.accepted.setdefault(album_id, now)
                elif status == "duplicate":
                    submitted.duplicates += 1
                else:
                    submitted.invalid.append(result.get("input") or "")


class Workload:
    """Waves of album sources from `start` to `end` seconds of the run (a thread)."""

    def __init__(self, *, doors: Doors, album_ids: list[str], seed: int, first_share: float = 0.1) -> None:
        self.doors = doors
        self.rng = random.Random(seed + 2)
        self.album_ids = list(album_ids)
        self.rng.shuffle(self.album_ids)
        self.first = self.album_ids[: max(20, int(len(self.album_ids) * first_share))]
        self.rest = self.album_ids[len(self.first) :]
        self.submitted = Submitted()
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def first_wave(self) -> None:
        submit(self.doors, [f"spotify:album:{a}" for a in self.first], self.submitted)
        self.submitted.waves += 1

    def _wave_inputs(self, albums: list[str]) -> list[str]:
        inputs = [f"https://open.spotify.com/album/{a}" if self.rng.random() < 0.5 else f"spotify:album:{a}" for a in albums]
        with self.submitted.lock:
            seen = list(self.submitted.accepted)
        inputs += [f"spotify:album:{a}" for a in self.rng.sample(seen, min(len(seen), 3))]
        inputs += [f"not an album {self.rng.randrange(10**6)}", "https://example.com/album/42"]
        unknown = _unknown_id(self.rng)
        self.submitted.unknown.add(unknown)
        inputs.append(f"spotify:album:{unknown}")
        self.rng.shuffle(inputs)
        return inputs

    def run(self, *, seconds: float, interval: float = 15.0) -> None:
        waves = max(1, int(seconds // interval))
        per_wave = max(1, -(-len(self.rest) // waves))
        for n in range(waves):
            if self.stop_event.wait(0 if n == 0 else interval):
                return
            albums = self.rest[n * per_wave : (n + 1) * per_wave]
            if not albums:
                return
            try:
                submit(self.doors, self._wave_inputs(albums), self.submitted)
                self.submitted.waves += 1
            except DoorError as exc:
                # The operator's script saw an error: the albums are resubmitted with the next wave.
                self.submitted.errors.append(str(exc)[:300])
                if n + 1 < waves:
                    self.rest[(n + 1) * per_wave : (n + 1) * per_wave] = albums

    def start(self, *, seconds: float) -> None:
        self.thread = threading.Thread(target=self.run, kwargs={"seconds": seconds}, name="soak-workload", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=180)

    def figures(self) -> dict[str, Any]:
        return {
            "waves": self.submitted.waves,
            "accepted": len(self.submitted.accepted),
            "duplicates_answered": self.submitted.duplicates,
            "invalid_answered": len(self.submitted.invalid),
            "unknown_ids": len(self.submitted.unknown),
            "submit_errors": self.submitted.errors,
        }
