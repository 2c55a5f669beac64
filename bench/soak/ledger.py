"""The ledger: after the faults stop and a bounded drain, what happened to every piece of work.

Each invariant is a function returning a `Check`: PASS, or the offending rows, each with the fault
that preceded it. Counts per kind of work follow Jepsen's total-queue checker: attempted, ok, lost,
duplicated, recovered (and, where our product records it instead of doing it, the reason's kind:
dead-lettered, parked, failed with a reason, declined).
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.soak.faults import Fault
from bench.soak.logs import deliveries, runner_events, secrets_found, tracebacks

ROWS_SHOWN = 20
WRITE_ENDPOINTS = (
    "create_playlist",
    "playlist_details",
    "playlist_items_put",
    "playlist_items_post",
    "library_remove",
    "playlist_unfollow",
)
MARKER = re.compile(r"\[ops:([0-9a-f-]{36})\]")


@dataclass
class Check:
    name: str
    checked: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.rows

    def fail(self, **row: Any) -> None:
        self.rows.append(row)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "checked": self.checked,
            "violations": len(self.rows),
            "rows": self.rows[:ROWS_SHOWN],
            "note": self.note,
        }


@dataclass
class Tally:
    attempted: int = 0
    ok: int = 0
    lost: int = 0
    duplicated: int = 0
    recovered: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempted": self.attempted,
            "ok": self.ok,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "recovered": self.recovered,
            **{f"{k}": v for k, v in sorted(self.reasons.items())},
        }


@dataclass
class Ledger:
    run_started: float
    run_ended: float
    faults: list[Fault]
    seed: int
    emulator: Any
    catalog_tracks: dict[str, int]
    submitted: Any
    log_dir: Any
    secrets: dict[str, str]
    full_stops: list[dict[str, Any]]
    checks: list[Check] = field(default_factory=list)
    tallies: dict[str, Tally] = field(default_factory=dict)

    # --- helpers ----------------------------------------------------------------------------------------
    def before(self, when: float | None, *, kinds: set[str] | None = None, lookback: float = 600) -> str:
        """The last fault (of `kinds`) that started before `when`: what a violation names."""
        if when is None:
            return ""
        earlier = [
            f
            for f in self.faults
            if f.started is not None
            and f.started <= when + 1
            and f.started >= when - lookback
            and (kinds is None or f.kind in kinds)
        ]
        if not earlier:
            return "none"
        last = max(earlier, key=lambda f: f.started or 0)
        return f"{last.kind}@{(last.started or 0) - self.run_started:.0f}s"

    def active(self, when: float | None, kinds: set[str], *, before: float = 5, after: float = 90) -> Fault | None:
        if when is None:
            return None
        for fault in self.faults:
            if fault.kind in kinds and fault.started is not None:
                end = fault.ended or self.run_ended
                if fault.started - before <= when <= end + after:
                    return fault
        return None

    @staticmethod
    def epoch(value: datetime | None) -> float | None:
        return value.timestamp() if value else None

    # --- the run ----------------------------------------------------------------------------------------
    def run(self) -> None:
        from django.db import connection

        connection.close()
        self.emulator_playlists = self.emulator.playlists()
        self.emulator_counts = self.emulator.counts()
        for check in (
            self.check_faults_injected,
            self.check_album_sources,
            self.check_playlists_match_spotify,
            self.check_no_duplicate_items,
            self.check_no_playlist_created_twice,
            self.check_sampler_rules,
            self.check_reshuffles,
            self.check_retires,
            self.check_locks,
            self.check_job_runs,
            self.check_redeliveries,
            self.check_write_calls,
            self.check_alerts,
            self.check_tracebacks,
            self.check_secrets,
        ):
            started = time.monotonic()
            try:
                check()
            except Exception as exc:  # a check that cannot run is a failed check, never a skipped one
                import traceback

                failed = Check(check.__name__.removeprefix("check_").replace("_", " "))
                failed.fail(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-1500:])
                self.checks.append(failed)
            else:
                self.checks[-1].note = (self.checks[-1].note + f" ({time.monotonic() - started:.1f} s)").strip()

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    # --- faults ------------------------------------------------------------------------------------------
    def check_faults_injected(self) -> None:
        """A fault the operator could not carry out (a door that refused, a change that did not take)
        is a finding, not a fault that did not happen."""
        check = Check("every fault drawn was injected in full (or skipped with its reason)")
        for fault in self.faults:
            check.checked += 1
            if fault.error:
                check.fail(fault=fault.kind, at=round(fault.at), error=fault.error[:300])
        self.checks.append(check)

    # --- album sources -------------------------------------------------------------------------------------
    def check_album_sources(self) -> None:
        from django.db.models import Count

        from ingest.models import Album, AlbumSource, DeadLetter

        check = Check("album sources: every one queued ended ingested, or failed or dead-lettered with a reason")
        tally = self.tallies.setdefault("album sources", Tally())
        now = time.time()
        accepted = dict(self.submitted.accepted)
        unknown = set(self.submitted.unknown)
        rows = {}
        duplicates = Counter()
        for source in (
            AlbumSource.objects.exclude(status="invalid")
            .exclude(spotify_album_id="")
            .only(
                "pk",
                "spotify_album_id",
                "status",
                "attempts",
                "last_error",
                "not_before",
                "album_id",
                "finished_at",
                "claimed_at",
            )
        ):
            duplicates[source.spotify_album_id] += 1
            rows[source.spotify_album_id] = source
        dead = {
            int(letter.payload.get("album_source_id", 0))
            for letter in DeadLetter.objects.filter(operation="ingest_album").only("payload")
            if isinstance(letter.payload, dict)
        }
        tracks_by_album = {
            row["spotify_id"]: row["n"] for row in Album.objects.annotate(n=Count("tracks")).values("spotify_id", "n")
        }
        for album_id, when in sorted(accepted.items(), key=lambda item: item[1]):
            tally.attempted += 1
            check.checked += 1
            source = rows.get(album_id)
            if source is None:
                tally.lost += 1
                check.fail(
                    album=album_id, problem="no source row", submitted_at=round(when - self.run_started), after=self.before(when)
                )
                continue
            if duplicates[album_id] > 1:
                tally.duplicated += 1
                check.fail(album=album_id, problem=f"{duplicates[album_id]} live source rows")
            if source.status == "done":
                expected = self.catalog_tracks.get(album_id)
                got = tracks_by_album.get(album_id, 0)
                if expected is not None and got != expected:
                    tally.lost += 1
                    check.fail(album=album_id, source=source.pk, problem=f"done with {got} of {expected} tracks")
                    continue
                tally.ok += 1
                if source.attempts:
                    tally.recovered += 1
            elif source.status == "failed":
                if not source.last_error:
                    tally.lost += 1
                    check.fail(album=album_id, source=source.pk, problem="failed without a reason")
                elif source.pk in dead:
                    tally.reasons["dead-lettered"] += 1
                elif album_id in unknown:
                    tally.reasons["failed: not on Spotify"] += 1
                else:
                    tally.lost += 1
                    check.fail(album=album_id, source=source.pk, problem=f"failed, not dead-lettered: {source.last_error[:200]}")
            elif source.status == "queued" and source.not_before and source.not_before.timestamp() > now and source.last_error:
                tally.reasons["parked (reason, due time)"] += 1
            else:
                tally.lost += 1
                claimed = self.epoch(source.claimed_at)
                check.fail(
                    album=album_id,
                    source=source.pk,
                    problem=f"stuck {source.status}",
                    last_error=source.last_error[:200],
                    not_before=source.not_before.isoformat() if source.not_before else None,
                    after=self.before(claimed or when),
                )
        for album_id in unknown:
            source = rows.get(album_id)
            if source is not None and source.status not in ("failed",):
                check.fail(album=album_id, problem=f"an album Spotify does not have ended {source.status}")
        invalid_kept = AlbumSource.objects.filter(status="invalid").count()
        if invalid_kept < len(self.submitted.invalid):
            check.fail(problem=f"{len(self.submitted.invalid)} invalid inputs answered, {invalid_kept} kept")
        tally.reasons["invalid (kept, marked)"] = invalid_kept
        self.checks.append(check)

    # --- playlists ---------------------------------------------------------------------------------------
    def _snapshot_uris(self, snapshot_ids: list[int]) -> dict[int, list[str]]:
        from playlists.models import SnapshotTrack

        uris: dict[int, list[str]] = defaultdict(list)
        for snapshot_id, spotify_id in (
            SnapshotTrack.objects.filter(snapshot_id__in=snapshot_ids)
            .order_by("snapshot_id", "position")
            .values_list("snapshot_id", "track__spotify_id")
        ):
            uris[snapshot_id].append(f"spotify:track:{spotify_id}")
        return uris

    def check_playlists_match_spotify(self) -> None:
        from playlists.models import Playlist, PlaylistHistory

        check = Check("active playlists: Spotify shows the latest snapshot, or parked/frozen/failed/blocked with a reason")
        tally = self.tallies.setdefault("syncs", Tally())
        by_id = {p["id"]: p for p in self.emulator_playlists}
        playlists = list(Playlist.objects.filter(status="active").select_related("account"))
        uris = self._snapshot_uris([p.current_snapshot_id for p in playlists if p.current_snapshot_id])
        troubled = set(
            PlaylistHistory.objects.filter(action__in=["fail", "park"], created_at__gte=_dt(self.run_started)).values_list(
                "playlist_id", flat=True
            )
        )
        from jobs.models import JobRun

        retried = set()
        for kwargs in JobRun.objects.filter(job_name="playlist_sync_one", attempts__gt=1).values_list("kwargs", flat=True):
            if isinstance(kwargs, dict) and kwargs.get("playlist_id"):
                retried.add(kwargs["playlist_id"])
        for playlist in playlists:
            check.checked += 1
            tally.attempted += 1
            account = playlist.account
            if playlist.frozen:
                tally.reasons["frozen"] += 1
                continue
            if playlist.not_before is not None and playlist.parked_work:
                tally.reasons["parked (reason, due time)"] += 1
                continue
            blocked = account.work_blocked_reason
            if blocked:
                tally.reasons[f"blocked: {blocked}"] += 1
                continue
            if playlist.sync_state == "failed" and playlist.sync_error:
                tally.reasons["failed with a reason"] += 1
                continue
            problem = ""
            on_spotify = by_id.get(playlist.spotify_playlist_id) if playlist.spotify_playlist_id else None
            expected = uris.get(playlist.current_snapshot_id or 0, [])
            if playlist.sync_state != "synced":
                problem = f"sync_state {playlist.sync_state} ({playlist.sync_error[:120]})"
            elif on_spotify is None:
                problem = "not on Spotify"
            elif not on_spotify["followed"]:
                problem = "unfollowed on Spotify"
            elif on_spotify["uris"] != expected:
                problem = f"items differ: Spotify {len(on_spotify['uris'])}, snapshot {len(expected)}"
            elif on_spotify["name"] != playlist.name or on_spotify["description"] != playlist.description:
                problem = f"details differ: {on_spotify['name']!r} vs {playlist.name!r}"
            if problem and self._app_blocked_past_run(account.app_id):
                # Spotify told the app to wait for hours (spotify_429_long): verify skips that app's
                # playlists until then (its run's summary names the app), so a drift after it waits.
                tally.reasons["waiting: its app rate limited past the run's end"] += 1
                continue
            if problem:
                tally.lost += 1
                check.fail(
                    playlist=str(playlist.pk),
                    account=account.display_name,
                    problem=problem,
                    after=self.before(self.epoch(playlist.updated_at)),
                )
                continue
            tally.ok += 1
            if playlist.pk in troubled or str(playlist.pk) in retried:
                tally.recovered += 1
        self.checks.append(check)

    def _unfollow_waits_for_its_app(self, playlist: Any) -> bool:
        """Its unfollow is a run retrying on Spotify's Retry-After (the run's error says so) and
        Spotify told the app to wait past the run's end (spotify_429_long, 60-minute run 6)."""
        from django.db.models import Q

        from jobs.models import JobRun

        waiting = JobRun.objects.filter(
            Q(job_name="playlists_unfollow_batch", kwargs__playlist_ids__contains=[str(playlist.pk)])
            | Q(job_name="playlist_retire_one", kwargs__playlist_id=str(playlist.pk)),
            status="retrying",
            error__contains="SpotifyRateLimited",
        ).exists()
        return waiting and self._app_blocked_past_run(playlist.account.app_id)

    def _app_blocked_past_run(self, app_id: Any) -> bool:
        from spotify.ratelimit import bucket_state

        blocked_until = bucket_state("app", str(app_id))["blocked_until"]
        return blocked_until is not None and blocked_until > self.run_ended

    def check_no_duplicate_items(self) -> None:
        from django.db.models import Count

        from playlists.models import PlaylistSnapshot, SnapshotTrack

        check = Check("no playlist holds an item twice (on Spotify and in every snapshot)")
        for playlist in self.emulator_playlists:
            check.checked += 1
            counts = Counter(playlist["uris"])
            doubled = [uri for uri, n in counts.items() if n > 1]
            if doubled:
                self.tallies.setdefault("syncs", Tally()).duplicated += 1
                check.fail(spotify_playlist=playlist["id"], doubled=doubled[:5], marker=_marker(playlist["description"]))
        doubled_rows = (
            SnapshotTrack.objects.filter(snapshot__created_at__gte=_dt(self.run_started))
            .values("snapshot_id", "track_id")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
        )
        for row in doubled_rows[:ROWS_SHOWN]:
            check.fail(snapshot=row["snapshot_id"], track=row["track_id"], times=row["n"])
        check.checked += PlaylistSnapshot.objects.filter(created_at__gte=_dt(self.run_started)).count()
        self.checks.append(check)

    def check_no_playlist_created_twice(self) -> None:
        from playlists.models import Playlist, PlaylistHistory

        check = Check("no playlist was created twice on Spotify (a recreation after its owner deleted it is recorded)")
        by_marker: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for playlist in self.emulator_playlists:
            marker = _marker(playlist["description"])
            if marker:
                by_marker[marker].append(playlist)
        recreated = Counter()
        for playlist_id, details in PlaylistHistory.objects.filter(action="drift_repaired").values_list("playlist_id", "details"):
            if isinstance(details, dict) and details.get("recreated_as"):
                recreated[str(playlist_id)] += 1
        for playlist_id, details in PlaylistHistory.objects.filter(action="fail").values_list("playlist_id", "details"):
            if isinstance(details, dict) and "recreating" in str(details.get("error", "")):
                recreated[str(playlist_id)] += 1
        ours = {str(pk) for pk in Playlist.objects.values_list("pk", flat=True)}
        for marker, copies in by_marker.items():
            check.checked += 1
            followed = [c for c in copies if c["followed"]]
            if marker not in ours:
                check.fail(marker=marker, problem="a playlist on Spotify no row of ours knows", copies=[c["id"] for c in copies])
                continue
            if len(followed) > 1:
                self.tallies.setdefault("syncs", Tally()).duplicated += 1
                check.fail(
                    playlist=marker, problem=f"{len(followed)} copies in its owner's library", copies=[c["id"] for c in followed]
                )
            elif len(copies) > 1 + recreated[marker]:
                self.tallies.setdefault("syncs", Tally()).duplicated += 1
                check.fail(
                    playlist=marker,
                    problem=f"{len(copies)} created, {recreated[marker]} recreation(s) recorded",
                    copies=[c["id"] for c in copies],
                )
        self.checks.append(check)

    def check_sampler_rules(self) -> None:
        from playlists.models import PlaylistSnapshot, SnapshotTrack

        check = Check(
            "the sampler's cooldown and artist cap held for every snapshot written (or the rule that gave way is recorded)"
        )
        new = list(
            PlaylistSnapshot.objects.filter(created_at__gte=_dt(self.run_started))
            .select_related("playlist__policy")
            .order_by("created_at", "pk")
        )
        playlist_ids = {s.playlist_id for s in new}
        history = defaultdict(list)
        for snapshot in (
            PlaylistSnapshot.objects.filter(playlist_id__in=playlist_ids)
            .order_by("created_at", "pk")
            .only("pk", "playlist_id", "created_at")
        ):
            history[snapshot.playlist_id].append(snapshot)
        tracks: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
        all_ids = [s.pk for rows in history.values() for s in rows]
        for snapshot_id, track_id, artist_id, spotify_id in SnapshotTrack.objects.filter(snapshot_id__in=all_ids).values_list(
            "snapshot_id", "track_id", "track__artist_id", "track__spotify_id"
        ):
            tracks[snapshot_id].append((track_id, artist_id, spotify_id))
        for snapshot in new:
            check.checked += 1
            policy = snapshot.playlist.policy
            relaxed = (snapshot.notes or {}).get("relaxed") or {}
            relaxed_cap = set(relaxed.get("artist_cap") or [])
            relaxed_cooldown = set(relaxed.get("cooldown") or [])
            per_artist = Counter(artist for _, artist, _ in tracks[snapshot.pk])
            over = [artist for artist, n in per_artist.items() if n > policy.artist_cap]
            for artist in over:
                extra = [sid for _, a, sid in tracks[snapshot.pk] if a == artist]
                if len([s for s in extra if s not in relaxed_cap]) > policy.artist_cap:
                    check.fail(
                        snapshot=snapshot.pk,
                        playlist=str(snapshot.playlist_id),
                        rule="artist cap",
                        artist=artist,
                        tracks=len(extra),
                        cap=policy.artist_cap,
                    )
            earlier = [s for s in history[snapshot.playlist_id] if (s.created_at, s.pk) < (snapshot.created_at, snapshot.pk)]
            cutoff = snapshot.created_at - timedelta(days=policy.cooldown_days)
            recent: set[int] = set()
            for index, previous in enumerate(earlier):
                superseded = earlier[index + 1].created_at if index + 1 < len(earlier) else snapshot.created_at
                if superseded >= cutoff:
                    recent |= {t for t, _, _ in tracks[previous.pk]}
            broke = [sid for t, _, sid in tracks[snapshot.pk] if t in recent and sid not in relaxed_cooldown]
            if policy.cooldown_days > 0 and broke:
                check.fail(
                    snapshot=snapshot.pk, playlist=str(snapshot.playlist_id), rule="cooldown", tracks=broke[:5], count=len(broke)
                )
        self.checks.append(check)

    def check_reshuffles(self) -> None:
        """Every reshuffle asked for (API, schedule) ended reshuffled, or declined/parked/failed with a reason."""
        from jobs.models import JobRun
        from playlists.models import PlaylistHistory

        check = Check("reshuffles: each one asked for was done once, or declined, parked or failed with a reason")
        tally = self.tallies.setdefault("reshuffles", Tally())
        runs = list(
            JobRun.objects.filter(job_name="playlist_reshuffle_one", queued_at__gte=_dt(self.run_started)).only(
                "task_id", "status", "kwargs", "attempts", "summary", "error", "queued_at", "started_at", "finished_at"
            )
        )
        done = Counter()
        for playlist_id in PlaylistHistory.objects.filter(action="reshuffle", created_at__gte=_dt(self.run_started)).values_list(
            "playlist_id", flat=True
        ):
            done[str(playlist_id)] += 1
        asked = Counter()
        for run in runs:
            tally.attempted += 1
            check.checked += 1
            playlist_id = str((run.kwargs or {}).get("playlist_id", ""))
            asked[playlist_id] += 1
            summary = run.summary or {}
            if run.status == "success":
                if summary.get("reshuffled"):
                    tally.ok += 1
                    if run.attempts > 1:
                        tally.recovered += 1
                elif summary.get("parked"):
                    tally.reasons["parked (reason, due time)"] += 1
                elif summary.get("skipped"):
                    tally.reasons[f"declined: {summary['skipped']}"] += 1
                else:
                    tally.reasons["declined: connector disabled" if summary.get("disabled_connectors") else "declined"] += 1
            elif run.status == "revoked":
                tally.reasons["revoked by an operator"] += 1
            elif run.status == "failed" and run.error:
                tally.reasons["failed with a reason"] += 1
            else:
                tally.lost += 1
                check.fail(
                    run=run.task_id,
                    playlist=playlist_id,
                    status=run.status,
                    error=run.error[:200],
                    after=self.before(self.epoch(run.started_at or run.queued_at)),
                )
        for playlist_id, n in done.items():
            # Scheduled reshuffles that were due, plus those asked for: never more than asked.
            if n > asked[playlist_id]:
                tally.duplicated += n - asked[playlist_id]
                check.fail(playlist=playlist_id, problem=f"reshuffled {n} times, asked {asked[playlist_id]}")
        self.checks.append(check)

    def check_retires(self) -> None:
        from playlists.models import Playlist, PlaylistHistory

        check = Check("retires: every playlist retired left its owner's library on Spotify, or the reason is recorded")
        tally = self.tallies.setdefault("retires", Tally())
        by_id = {p["id"]: p for p in self.emulator_playlists}
        retired = list(Playlist.objects.filter(status="retired", retired_at__gte=_dt(self.run_started)).select_related("account"))
        unfollowed = Counter(
            str(pk)
            for pk, details in PlaylistHistory.objects.filter(action="retire", playlist__in=retired).values_list(
                "playlist_id", "details"
            )
            if isinstance(details, dict) and details.get("unfollowed")
        )
        for playlist in retired:
            tally.attempted += 1
            check.checked += 1
            if not playlist.spotify_playlist_id:
                tally.reasons["never created on Spotify"] += 1
                continue
            on_spotify = by_id.get(playlist.spotify_playlist_id)
            gone = on_spotify is None or not on_spotify["followed"]
            if unfollowed[str(playlist.pk)] > 1:
                tally.duplicated += 1
                check.fail(playlist=str(playlist.pk), problem=f"unfollowed {unfollowed[str(playlist.pk)]} times")
            if gone:
                tally.ok += 1
                continue
            reason = playlist.account.work_blocked_reason
            skipped = PlaylistHistory.objects.filter(
                playlist=playlist, action__in=["skip", "fail"], details__operation="unfollow"
            ).exists()
            if reason or skipped:
                tally.reasons["waiting: account blocked" if reason else "failed with a reason"] += 1
                continue
            if self._unfollow_waits_for_its_app(playlist):
                tally.reasons["waiting: its app rate limited past the run's end"] += 1
                continue
            tally.lost += 1
            check.fail(
                playlist=str(playlist.pk),
                account=playlist.account.display_name,
                problem="retired here, still in its owner's library",
                after=self.before(self.epoch(playlist.retired_at)),
            )
        self.checks.append(check)

    # --- jobs, locks, deliveries -------------------------------------------------------------------------
    def check_locks(self) -> None:
        from core.redis import get_redis, key

        check = Check("no lock left held")
        client = get_redis()
        pattern = key("lock", "*")
        first = {name: client.ttl(name) for name in client.scan_iter(pattern)}
        time.sleep(3)
        second = {name: client.ttl(name) for name in client.scan_iter(pattern)}
        for name in sorted(set(first) & set(second)):
            check.fail(lock=str(name), ttl=second[name])
        check.checked = len(first)
        self.checks.append(check)

    def check_job_runs(self) -> None:
        from django.conf import settings

        from jobs.models import JobRun

        check = Check("no job run left queued or running past its limit")
        now = time.time()
        limit = float(settings.CELERY_TASK_TIME_LIMIT)
        for run in JobRun.objects.filter(status__in=["queued", "running", "retrying"]).only(
            "pk", "job_name", "task_id", "status", "queued_at", "started_at", "error", "worker"
        ):
            check.checked += 1
            started = self.epoch(run.started_at)
            queued = self.epoch(run.queued_at)
            if run.status == "running" and started and now - started > limit + 60:
                check.fail(
                    run=run.pk,
                    job=run.job_name,
                    status=run.status,
                    since=round(now - started),
                    worker=run.worker,
                    after=self.before(started),
                )
            elif run.status == "queued" and queued and now - queued > 300:
                check.fail(run=run.pk, job=run.job_name, status=run.status, since=round(now - queued), after=self.before(queued))
            elif run.status == "retrying":
                wait = re.search(r"Retry in (\d+(?:\.\d+)?)s", run.error or "")
                due = (started or queued or now) + (float(wait.group(1)) if wait else 0) + limit + 60
                if now > due:
                    check.fail(run=run.pk, job=run.job_name, status=run.status, error=run.error[:200], after=self.before(started))
        self.checks.append(check)

    def check_redeliveries(self) -> None:
        """A task is delivered again only after a retry it asked for, or after the process holding it
        was lost (a killed pool process or worker, a warm shutdown giving back what it had reserved, a
        broker restart): never while it still runs elsewhere. Celery acknowledges a task (acks_late)
        after it returns: one that succeeded is delivered again only when its process was lost within
        seconds of that, before the acknowledgement went out (celery #4426); the ledger names those,
        and the other invariants hold the work to having been done once."""
        check = Check("no Celery task redelivered beyond the visibility rules (a retry asked for, or its worker lost)")
        events = runner_events(self.log_dir)
        # (from, to, worker): the span during which a worker (or "*": every worker) was being lost.
        losses: list[tuple[float, float, str]] = []
        for event in events:
            if event.get("event") in ("exited", "stopped", "held", "stopped for a change") and str(
                event.get("server", "")
            ).startswith("worker"):
                at = float(event["ts"])
                losses.append((at - float(event.get("seconds") or 0), at, str(event["server"])))
        for fault in self.faults:
            if fault.started and fault.kind in (
                "worker_sigkill",
                "redis_restart",
                "stop_ctrl_c",
                "stop_systemd",
                "job_terminate",
                "worker_sigterm",
                "worker_resize",
                "worker_outage",
            ):
                losses.append((fault.started, fault.ended or fault.started, str(fault.details.get("worker", "*"))))

        def lost(worker: str, start: float, end: float) -> bool:
            return any(a <= end and b >= start and w in ("*", worker) for a, b, w in losses)

        acks_lost = 0
        for task_id, rows in deliveries(self.log_dir).items():
            check.checked += 1
            for previous, current in zip(rows, rows[1:], strict=False):
                if previous.outcome == "retry":
                    continue
                if (
                    previous.ended is not None
                    and previous.outcome in ("succeeded", "raised")
                    and previous.ended <= current.received
                ):
                    if previous.outcome == "succeeded" and lost(previous.worker, previous.ended - 1, previous.ended + 5):
                        acks_lost += 1
                        continue
                    check.fail(
                        task=task_id,
                        name=current.name,
                        problem=f"delivered again after it {previous.outcome}",
                        worker=current.worker,
                        after=self.before(current.received),
                    )
                    continue
                if not lost(previous.worker, previous.received - 1, current.received + 1) and previous.outcome not in ("lost",):
                    check.fail(
                        task=task_id,
                        name=current.name,
                        problem=f"delivered again while {previous.outcome} on {previous.worker}",
                        worker=current.worker,
                        after=self.before(current.received),
                    )
        if acks_lost:
            check.note = f"{acks_lost} delivered again after they succeeded: their process was lost before the acknowledgement"
        self.checks.append(check)

    # --- Spotify writes --------------------------------------------------------------------------------
    def check_write_calls(self) -> None:
        from core.counters import counter_values
        from jobs.models import JobRun
        from playlists.models import PlaylistHistory

        check = Check("Spotify write calls ≤ the minimum plus the retries recorded (no silent doubles)")
        ours = Counter()
        for labels, value in counter_values("spotify_requests_total"):
            ours[labels.get("endpoint", "")] += int(value)
        errors = Counter()
        for labels, value in counter_values("spotify_responses_total"):
            errors[labels.get("endpoint", "")] += int(value)
        retried_io = sum(
            int(v) for labels, v in counter_values("spotify_retries_total") if labels.get("status") in ("connection", "timeout")
        )
        seen = {endpoint: int(self.emulator_counts.get(endpoint, 0)) for endpoint in WRITE_ENDPOINTS}
        for endpoint in WRITE_ENDPOINTS:
            check.checked += 1
            if seen[endpoint] > ours[endpoint]:
                check.fail(
                    endpoint=endpoint,
                    spotify_saw=seen[endpoint],
                    we_counted=ours[endpoint],
                    problem="Spotify saw calls we never counted",
                )
        minimum = 0
        for action, details in PlaylistHistory.objects.filter(action__in=["sync", "drift_repaired"]).values_list(
            "action", "details"
        ):
            if not isinstance(details, dict):
                continue
            if action == "sync":
                minimum += int(details.get("write_calls") or 0)
            else:
                differed = set(details.get("differed") or [])
                minimum += int(bool(differed & {"name", "description"})) + int("items" in differed)
        for summary in JobRun.objects.filter(
            job_name__in=["playlists_unfollow_batch", "playlist_retire_one"], status="success"
        ).values_list("summary", flat=True):
            if isinstance(summary, dict):
                minimum += int(summary.get("calls") or (1 if summary.get("unfollowed") else 0))
        reruns = 0
        for attempts, status, started in JobRun.objects.filter(
            job_name__in=[
                "playlist_sync_one",
                "playlist_reshuffle_one",
                "verify_playlists",
                "playlists_unfollow_batch",
                "playlist_retire_one",
            ]
        ).values_list("attempts", "status", "started_at"):
            reruns += max(0, attempts - 1) + (1 if status in ("revoked", "failed") and started else 0)
        # A run that dies after its writes and before its history row writes again on its next
        # attempt: at most one create, one details change and one replace per attempt.
        allowance = sum(errors[e] for e in WRITE_ENDPOINTS) + retried_io + 3 * reruns
        total = sum(seen.values())
        check.note = f"Spotify saw {total} writes; minimum {minimum}; retries recorded {allowance} (errors {sum(errors[e] for e in WRITE_ENDPOINTS)}, i/o {retried_io}, re-runs {reruns})"
        if total > minimum + allowance:
            check.fail(
                spotify_saw=total,
                minimum=minimum,
                allowance=allowance,
                problem="more writes than the minimum plus every recorded retry",
            )
        self.write_figures = {
            "spotify_saw": seen,
            "we_counted": {e: ours[e] for e in WRITE_ENDPOINTS},
            "minimum": minimum,
            "allowance": allowance,
        }
        self.checks.append(check)

    # --- alerts ---------------------------------------------------------------------------------------
    CAUSES = {
        "NoWorkers": {"worker_outage", "stop_ctrl_c", "stop_systemd", "redis_restart"},
        "BeatGone": {"beat_outage", "stop_ctrl_c", "stop_systemd", "redis_restart"},
        "ConnectorDisabled": {"connector_toggle"},
        "AccountReauthRequired": {"token_revoked"},
        "AccountQuarantined": {"token_revoked", "spotify_5xx", "spotify_429_long", "spotify_timeout", "playlist_deleted"},
        "CircuitBreakerOpen": {"spotify_5xx", "spotify_timeout", "spotify_latency", "spotify_429_long", "spotify_429_short"},
        "JobLate": {
            "queue_pause",
            "worker_outage",
            "beat_outage",
            "stop_ctrl_c",
            "stop_systemd",
            "redis_restart",
            "postgres_restart",
            "job_revoke",
            "job_terminate",
        },
        "QueueBacklog": {"queue_pause", "worker_outage", "stop_ctrl_c", "stop_systemd", "reshuffle_bulk"},
        # Clients see 5xx while a store restarts or the web server stops: the alert is right to fire.
        "APIGatewayErrorRateHigh": {"redis_restart", "postgres_restart", "stop_ctrl_c", "stop_systemd"},
        "ScraperStalled": {"connector_toggle", "spotify_429_long", "queue_pause", "worker_outage", "stop_ctrl_c", "stop_systemd"},
    }

    def check_alerts(self) -> None:
        from alerts.models import Alert, AlertEvent, AlertRule

        check = Check("each injected outage opened its alert once and resolved it; no alert opened without a cause or left open")
        pending = {rule.name: rule.pending_for.total_seconds() for rule in AlertRule.objects.all()}
        alerts = list(Alert.objects.filter(opened_at__gte=_dt(self.run_started)).select_related("rule"))
        left_open: dict[int, str] = {}
        still_pending: list[str] = []
        # An alert opened after a later fault on the same rule and subject began is that fault's:
        # one connector's toggles follow each other within seconds (60-minute run 6).
        began: dict[tuple[str, str], list[float]] = defaultdict(list)
        for fault in self.faults:
            for expected in fault.expect_alerts:
                began[(expected["rule"], expected["subject"])].append(expected.get("since") or fault.started or 0)
        for fault in self.faults:
            for expected in fault.expect_alerts:
                check.checked += 1
                rule, subject = expected["rule"], expected["subject"]
                since = expected.get("since") or fault.started or 0
                start = since - 5
                end = (fault.ended or self.run_ended) + pending.get(rule, 0) + 60
                end = min([end] + [later - 5 for later in began[(rule, subject)] if later > since])
                matching = [
                    a for a in alerts if a.rule.name == rule and a.subject == subject and start <= a.opened_at.timestamp() <= end
                ]
                if len(matching) != 1:
                    check.fail(
                        fault=f"{fault.kind}@{(fault.started or 0) - self.run_started:.0f}s",
                        rule=rule,
                        subject=subject,
                        problem=f"{len(matching)} alerts opened",
                    )
                elif matching[0].resolved_at is None and not self._open_for_its_cause(matching[0], left_open):
                    check.fail(
                        fault=f"{fault.kind}@{(fault.started or 0) - self.run_started:.0f}s",
                        rule=rule,
                        subject=subject,
                        problem="never resolved",
                    )
        for alert in alerts:
            check.checked += 1
            opened = alert.opened_at.timestamp()
            causes = self.CAUSES.get(alert.rule.name, set())
            cause = self.active(opened, causes, before=5, after=pending.get(alert.rule.name, 0) + 300) if causes else None
            if alert.rule.name == "JobFailing":
                cause = self.active(opened, {f.kind for f in self.faults}, after=600)
            if alert.rule.name == "AccountReauthRequired" and cause is None:
                cause = self._unnoticed_revocation(alert.subject)
            if cause is None:
                check.fail(
                    alert=alert.pk,
                    rule=alert.rule.name,
                    subject=alert.subject,
                    summary=alert.summary[:200],
                    opened=round(opened - self.run_started),
                    problem="no injected fault explains it",
                    after=self.before(opened),
                )
            if alert.state == "pending" and cause is not None:
                # Seen, not yet held for its rule's pending period: it told nobody. A rate over a
                # window (5xx of the API in the last 5 min) still holds a restart's errors at the end.
                still_pending.append(f"{alert.rule.name} {alert.subject} after {cause.kind}")
                continue
            if alert.resolved_at is None and not self._open_for_its_cause(alert, left_open):
                check.fail(
                    alert=alert.pk,
                    rule=alert.rule.name,
                    subject=alert.subject,
                    summary=alert.summary[:200],
                    problem="still open after the drain",
                    after=self.before(opened),
                )
            opened_events = AlertEvent.objects.filter(alert=alert, kind="opened").count()
            if opened_events != 1:
                check.fail(alert=alert.pk, rule=alert.rule.name, problem=f"{opened_events} opened events")
        self.alert_figures = Counter(a.rule.name for a in alerts)
        notes = []
        if left_open:
            notes.append("left open, their cause still there: " + "; ".join(sorted(set(left_open.values()))))
        if still_pending:
            notes.append("pending at the end (never opened): " + "; ".join(still_pending))
        check.note = " | ".join(notes)
        self.checks.append(check)

    def _unnoticed_revocation(self, account_id: str) -> Fault | None:
        """A token_revoked fault the product could not notice while it lasted (the account's app told
        to wait for hours): the product notices it later, when the account's access token must be
        refreshed, and its alert opens then (60-minute run 7). No operator was there to send a link."""
        for fault in self.faults:
            if (
                fault.kind == "token_revoked"
                and fault.details.get("account") == account_id
                and fault.details.get("not_noticed_while")
            ):
                return fault
        return None

    def _open_for_its_cause(self, alert: Any, left_open: dict[int, str]) -> bool:
        """An account's re-authorization alert may stay open only while its cause is still there and
        recorded by the product: the account still needs re-authorization, and either its last link
        failed and Spotify told the account's app to wait past the run's end (a spotify_429_long the
        operator waits out, as the runbook says, before sending the next link), or the revocation was
        noticed only after its fault ended, with no operator left to send one."""
        from accounts.models import AuthorizationRequest, SpotifyAccount
        from spotify.ratelimit import bucket_state

        if alert.rule.name != "AccountReauthRequired":
            return False
        unnoticed = self._unnoticed_revocation(alert.subject)
        if unnoticed is not None and SpotifyAccount.objects.filter(pk=alert.subject, health="reauth_required").exists():
            left_open[alert.pk] = (
                f"{alert.rule.name} {alert.subject}: revoked while its app was told to wait "
                f"({unnoticed.kind}@{(unnoticed.started or 0) - self.run_started:.0f}s), noticed after its fault ended"
            )
            return True
        waits = [
            f
            for f in self.faults
            if f.kind == "token_revoked" and f.details.get("account") == alert.subject and f.details.get("reauthorize_waits_for")
        ]
        account = SpotifyAccount.objects.filter(pk=alert.subject).select_related("app").first()
        if not waits or account is None or account.health != "reauth_required":
            return False
        last = AuthorizationRequest.objects.filter(account=account).order_by("-created_at").first()
        blocked_until = bucket_state("app", str(account.app_id))["blocked_until"]
        if last is None or last.status != "failed" or not self._app_blocked_past_run(account.app_id):
            return False
        left_open[alert.pk] = (
            f"{alert.rule.name} {alert.subject}: re-authorization failed ({last.status_reason[:80]}), "
            f"app {account.app.name} blocked until {_dt(blocked_until):%H:%M:%S} UTC"
        )
        return True

    # --- logs ---------------------------------------------------------------------------------------
    EXPECTED = {
        # What a fault may make a process log with a traceback (exception type's last dotted name).
        "redis_restart": {
            "ConnectionError",
            "OperationalError",
            "TimeoutError",
            "RedisError",
            "BusyLoadingError",
            "ConnectionRefusedError",
            "RecoverableConnectionError",
            "ChannelError",
            # Celery's gossip step fails to restart on a reconnect that finds no connection yet; Celery
            # logs it with a traceback and the worker goes on (RELIABILITY.md).
            "AttributeError@Error on restarting Gossip",
        },
        "postgres_restart": {"OperationalError", "InterfaceError", "AdminShutdown", "ConnectionFailure", "DatabaseError"},
        "pg_terminate": {"OperationalError", "InterfaceError", "AdminShutdown", "DatabaseError"},
        "worker_sigkill": {"WorkerLostError"},
        "worker_sigterm": {"WorkerLostError"},
        "worker_resize": {"WorkerLostError"},
        "job_terminate": {"WorkerLostError", "Terminated"},
        "stop_ctrl_c": {
            # Celery's own exception for a stop signal, raised wherever the main process is then.
            "WorkerShutdown",
            "WorkerLostError",
            "ConnectionError",
            "OperationalError",
            "InterfaceError",
            "AdminShutdown",
            "Terminated",
            "KeyboardInterrupt",
            "SystemExit",
        },
        "stop_systemd": {
            # Celery's own exception for a stop signal, raised wherever the main process is then.
            "WorkerShutdown",
            "WorkerLostError",
            "ConnectionError",
            "OperationalError",
            "InterfaceError",
            "AdminShutdown",
            "Terminated",
            "KeyboardInterrupt",
            "SystemExit",
        },
        "spotify_5xx": {"SpotifyServerError", "CircuitOpen"},
        "spotify_timeout": {"SpotifyServerError", "CircuitOpen", "ReadTimeout", "Timeout"},
        "spotify_latency": {"SpotifyServerError", "CircuitOpen", "ReadTimeout", "Timeout"},
        "spotify_429_short": {"SpotifyRateLimited"},
        "spotify_429_long": {"SpotifyRateLimited"},
        "token_revoked": {"SpotifyAuthError", "SpotifyInvalidGrant", "TokenRefreshError", "ReauthRequired"},
        "playlist_deleted": {"SpotifyNotFound"},
    }

    @staticmethod
    def _late_notice_seconds(kind: str) -> float:
        """A connection a database fault ended is found dead at its next use: for a task that was
        inside Spotify calls then, when it stores its result, up to its hard time limit later."""
        from django.conf import settings

        return float(settings.CELERY_TASK_TIME_LIMIT) if kind in ("postgres_restart", "pg_terminate") else 0.0

    def _expected(self, kind: str, exc_type: str, event: str) -> bool:
        for entry in self.EXPECTED.get(kind, set()):
            name, _, context = entry.partition("@")
            if name == exc_type and (not context or context in event):
                return True
        return False

    def check_tracebacks(self) -> None:
        check = Check("no traceback in the logs but an injected fault's expected one")
        found = tracebacks(self.log_dir)
        explained = Counter()
        for tb in found:
            check.checked += 1
            short = tb.exc_type.rsplit(".", 1)[-1]
            cause = None
            for fault in self.faults:
                if fault.started is None or not self._expected(fault.kind, short, tb.event):
                    continue
                end = (fault.ended or self.run_ended) + 120 + self._late_notice_seconds(fault.kind)
                if tb.ts is None or fault.started - 5 <= tb.ts <= end:
                    cause = fault
                    break
            if cause is None:
                check.fail(
                    where=tb.where, exception=tb.exception[:300], logger=tb.logger, event=tb.event[:160], after=self.before(tb.ts)
                )
            else:
                explained[cause.kind] += 1
        check.note = f"{len(found)} tracebacks, explained: {dict(explained)}"
        self.checks.append(check)

    def check_secrets(self) -> None:
        check = Check("no secret in the logs")
        hits = secrets_found(self.log_dir, self.secrets)
        check.checked = len(list(self.log_dir.glob("*.log")))
        for hit in hits:
            check.fail(**hit)
        self.checks.append(check)

    def check_full_stops(self) -> None:
        check = Check("after every full stop no process of ours survived and every port was free")
        for outcome in self.full_stops:
            check.checked += 1
            if outcome["survivors"] or outcome["ports_taken"] or outcome.get("postgres_socket_left"):
                check.fail(
                    how=outcome["how"],
                    survivors=outcome["survivors"][:5],
                    ports_taken=outcome["ports_taken"],
                    postgres_socket_left=outcome.get("postgres_socket_left"),
                )
        self.checks.append(check)


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _marker(description: str) -> str | None:
    match = MARKER.search(description or "")
    return match.group(1) if match else None


def ceil_div(a: int, b: int) -> int:
    return math.ceil(a / b)
