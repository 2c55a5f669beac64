"""`make demo`'s entry point end to end: numbered boot steps, one banner and nothing after it,
each process's output in var/log/ (tests/devstack/demo_run.py runs it apart from everything else)."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest

from tests.devstack.demo_run import RULE, demo_database, start_demo

pytestmark = pytest.mark.slow


def test_make_demo_prints_numbered_steps_then_one_banner_and_logs_each_process_to_var_log(tmp_path: Path) -> None:
    with demo_database() as database_url:
        demo = start_demo(tmp_path, database_url)
        try:
            running = demo.wait_for_banner()
            with urllib.request.urlopen(f"{demo.url}/health", timeout=10) as response:
                health = response.status
            # Whatever the processes do meanwhile goes to their logs, never under the banner.
            with urllib.request.urlopen(f"{demo.url}/admin/login/", timeout=10) as response:
                assert response.status == 200
            before_stop = demo.output.text
        finally:
            full = demo.stop()
    port = demo.port

    assert health == 200
    assert demo.process.returncode == 0, full
    steps = re.findall(r"^\[(\d)/8\] (.+?) \.\.\. ", running, flags=re.MULTILINE)
    assert [number for number, _ in steps] == [str(n) for n in range(1, 9)], running
    titles = " ".join(title for _, title in steps)
    for word in ("Install", "Database", "Migrations", "emulator", "Web", "worker", "beat", "First pipeline"):
        assert word in titles
    assert "failed" not in running and "problems" not in running, running
    assert "6/6 jobs (100%)" in running

    # One banner, and it is the last thing printed until the operator stops the demo.
    assert running.count("opsconsole is running") == 1
    assert before_stop == running
    banner = running[running.rindex(RULE, 0, running.rindex(RULE)) :]
    assert running.rstrip().endswith(banner.rstrip())
    for line in (
        f"http://127.0.0.1:{port}/admin/",
        "admin / demo-pw-123!",
        f"http://127.0.0.1:{port}/admin/metrics/metricsnapshot/dashboard/",
        f"http://127.0.0.1:{port}/api/docs/",
        "make demo-logs",
    ):
        assert line in banner
    assert re.search(rf"Connect a Spotify account\s+http://127\.0\.0\.1:{port}/admin/accounts/spotify\w+/", banner)
    after = full[len(running) :]
    assert after.strip() == "Stopping web, beat, the alert evaluator, worker and the emulator ...", after

    # The processes' own output is in var/log/<process>.log, not on the terminal.
    logs = tmp_path / "log"
    for name, evidence in {
        "web": "GET /health",
        "worker": "ready",
        "beat": "beat: Starting",
        "emulator": "",
        "alerts": "",
    }.items():
        text = (logs / f"{name}.log").read_text()
        assert evidence in text, (name, text[-500:])
    assert "Booting worker" in (logs / "web.log").read_text()
    assert '"logger": "celery.' in (logs / "worker.log").read_text()
    assert "Booting worker" not in full and '"logger"' not in full and "celery@" not in full
