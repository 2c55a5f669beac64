"""Stopping a local stack leaves nothing behind: not as a terminal's Ctrl-C does it (SIGINT to the
runner's whole process group), not as systemd does it (SIGTERM to every process at once).

The runner is the demo's stop path (devstack.processes.Stack) over the demo's own servers: gunicorn
with threaded workers and a prefork Celery worker. Before the fix the servers shared the
terminal's group, got its SIGINT and then the runner's SIGTERM, and a gunicorn worker stuck in its
thread pool's shutdown outlived its master.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest

from devstack.runtime import BASE_DIR, _free_port, _port_free
from tests.fixtures_celery import database_url_for_tests

pytestmark = pytest.mark.slow

RUNNER = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path
    from devstack.processes import Stack, web_spec, worker_spec

    port, log_dir, hostname = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    stack = Stack(log_dir=log_dir)

    def stop(*_):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for outcome in stack.stop():
            print("stopped", outcome.as_dict(), flush=True)
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    stack.start(web_spec(port=port, workers=2, threads=4))
    stack.start(worker_spec(hostname=hostname, concurrency=2))
    print("started", flush=True)
    while True:
        time.sleep(1)
    """
)


def _wait(predicate, *, seconds: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {seconds} s")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _start_runner(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = _free_port()
    log_dir = tmp_path / "log"
    hostname = f"stoptest-{uuid.uuid4().hex[:8]}@localhost"
    env = {**os.environ, "DATABASE_URL": database_url_for_tests(), "CONN_MAX_AGE": "0", "PYTHONUNBUFFERED": "1"}
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(port), str(log_dir), hostname],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the runner leads its group, as a shell's foreground job does
    )
    _wait(lambda: _answers(f"http://127.0.0.1:{port}/live"), seconds=60, what="web /live")
    _wait(lambda: "ready" in (log_dir / "worker.log").read_text(errors="replace"), seconds=90, what="worker ready")
    return runner, port, log_dir


@pytest.mark.parametrize("how", ["ctrl-c", "systemd"])
def test_stopping_the_stack_leaves_no_process_and_frees_the_port(tmp_path: Path, transactional_db: None, how: str) -> None:
    runner, port, log_dir = _start_runner(tmp_path)
    try:
        # The runner, gunicorn's master and 2 workers, Celery's main process and 2 pool processes.
        processes = _wait(lambda: _tree(runner.pid) if len(_tree(runner.pid)) >= 7 else None, seconds=30, what="pools")
        # Every server leads a session of its own: a terminal's SIGINT does not reach it.
        servers = psutil.Process(runner.pid).children()
        assert {os.getsid(p.pid) for p in servers}.isdisjoint({os.getsid(runner.pid)})
        if how == "ctrl-c":
            os.killpg(runner.pid, signal.SIGINT)
        else:
            # systemd's KillMode=control-group: SIGTERM to every process of the unit at once.
            for process in processes:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.send_signal(signal.SIGTERM)
        out, _ = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
    survivors = [p for p in processes if _alive(p)]
    for process in survivors:
        process.kill()
    assert not survivors, f"survived the stop: {survivors}\n{out.decode(errors='replace')}"
    assert _port_free(port), f"port {port} still taken"
    stopped = out.decode()
    assert stopped.index("'name': 'web'") < stopped.index("'name': 'worker'"), stopped
    web_log = (log_dir / "web.log").read_text(errors="replace")
    if how == "ctrl-c":
        # One signal reached gunicorn: the runner's SIGTERM, never the terminal's SIGINT.
        assert "Handling signal: term" in web_log and "Handling signal: int" not in web_log, web_log[-2000:]
        assert "'killed': False" in stopped, stopped
