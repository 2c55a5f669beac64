"""`make soak`: the whole stack under random faults, and a ledger of what was lost, doubled or recovered.

A seeded, time-bounded run on this machine (docs: RELIABILITY.md):

    config.py    SOAK_MINUTES, SOAK_SEED and the sizes and time scales derived from them
    stack.py     the embedded PostgreSQL and Redis under var/soak/, the emulator ("Spotify") in a
                 process of its own, and the runner that keeps web, workers, beat and the alert
                 evaluator up (runner.py: devstack.processes' stop path, restarts as compose does)
    doors.py     the operator's doors: the API with a token, the admin with a session, the commands
    fleet.py     apps, accounts connected through the OAuth flow, playlists made by the scale job
    workload.py  album sources submitted through the API in waves during the run
    faults.py    the catalogue and the seeded scheduler: several faults at once, each bounded
    ledger.py    after the faults stop and a bounded drain: every invariant, PASS or the rows
    logs.py      what the processes logged: tracebacks, secrets, task deliveries
    report.py    Jepsen's total-queue table, the faults injected and the invariants

`python -m bench soak` (or `make soak`) exits non-zero on any violation. Nothing here is imported
by runtime code; everything stays on loopback.
"""

from __future__ import annotations
