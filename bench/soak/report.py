"""The soak's report: Jepsen total-queue's table per kind of work, the faults injected, the invariants."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from bench.soak.ledger import Ledger

KINDS = ("album sources", "syncs", "reshuffles", "retires")


def render(*, ledger: Ledger, config: Any, extra: dict[str, Any]) -> str:
    lines = [
        "",
        "=" * 100,
        f"soak: seed {config.seed}, {config.minutes:g} min, {'PASS' if ledger.ok else 'FAIL'}   (replay: {config.replay})",
        "=" * 100,
        f"{'work':<15}{'attempted':>10}{'ok':>8}{'lost':>7}{'duplicated':>12}{'recovered':>11}   recorded instead",
    ]
    for kind in KINDS:
        tally = ledger.tallies.get(kind)
        if tally is None:
            continue
        other = ", ".join(f"{name} {count}" for name, count in sorted(tally.reasons.items()) if count)
        lines.append(
            f"{kind:<15}{tally.attempted:>10}{tally.ok:>8}{tally.lost:>7}{tally.duplicated:>12}{tally.recovered:>11}   {other}"
        )
    kinds = Counter(f.kind for f in ledger.faults if f.started is not None)
    errors = [f for f in ledger.faults if f.error]
    lines += ["", f"faults injected: {sum(kinds.values())} of {len(kinds)} kinds"]
    lines += [f"  {kind:<24}{count:>4}" for kind, count in sorted(kinds.items())]
    if errors:
        lines.append(f"  faults that could not be injected in full: {len(errors)}")
        lines += [f"    {f.kind}@{f.at:.0f}s: {f.error}" for f in errors[:10]]
    skipped = [f for f in ledger.faults if f.details.get("skipped")]
    if skipped:
        named = ", ".join(f"{f.kind}: {f.details['skipped']}" for f in skipped[:10])
        lines.append(f"  skipped, with their reason: {named}")
    if getattr(ledger, "alert_figures", None):
        lines.append(f"alerts opened: {dict(ledger.alert_figures)}")
    if getattr(ledger, "write_figures", None):
        lines.append(f"Spotify writes: {json.dumps(ledger.write_figures)}")
    for name, value in extra.items():
        lines.append(f"{name}: {json.dumps(value, default=str)}")
    lines += ["", "invariants:"]
    for check in ledger.checks:
        lines.append(f"  {'PASS' if check.ok else 'FAIL'}  {check.name}  ({check.checked} checked) {check.note}")
        for row in check.rows[:10]:
            lines.append(f"          {json.dumps(row, default=str)[:400]}")
        if len(check.rows) > 10:
            lines.append(f"          ... {len(check.rows) - 10} more in the report file")
    lines.append("=" * 100)
    return "\n".join(lines)


def write(*, path: Path, ledger: Ledger, config: Any, extra: dict[str, Any]) -> None:
    body = {
        "seed": config.seed,
        "minutes": config.minutes,
        "ok": ledger.ok,
        "tallies": {kind: tally.as_dict() for kind, tally in ledger.tallies.items()},
        "faults": [f.as_dict() for f in ledger.faults],
        "checks": [check.as_dict() for check in ledger.checks],
        "full_stops": ledger.full_stops,
        **extra,
    }
    path.write_text(json.dumps(body, indent=1, default=str))
