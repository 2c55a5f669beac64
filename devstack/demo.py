"""`make demo`: the whole console on one machine.

Embedded PostgreSQL + Redis (unless DATABASE_URL / REDIS_URL say otherwise), the Spotify
emulator, gunicorn, a Celery worker and Celery beat as child processes. The terminal shows the
numbered boot steps and ends with one banner; each process logs to var/log/<process>.log
(`make demo-logs` follows them). Ctrl-C stops them all; a second run reuses var/.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TextIO
from urllib.parse import unquote

from core.progress import Progress
from devstack.processes import Stack, alerts_spec, beat_spec, emulator_spec, stop_rank, web_spec, worker_spec
from devstack.runtime import STARTED, VAR_DIR, _free_port, bootstrap, load_local_env, stop_started

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LOG_DIR = VAR_DIR / "log"
STEPS = 8
# The processes `make demo-logs` follows, one log each under var/log/.
PROCESS_LOGS = ("web", "worker", "beat", "emulator", "alerts")


class BootFailed(RuntimeError):
    pass


def _wait_http(url: str, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except Exception:
            time.sleep(0.2)
    return False


def _wait_log(path: Path, pattern: str, *, seconds: float, child: subprocess.Popen[bytes], start: int) -> bool:
    """Wait for `pattern` in what the child wrote to its log (from `start`: logs are appended to)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and child.poll() is None:
        with path.open("rb") as log:
            log.seek(start)
            if re.search(pattern, log.read().decode(errors="replace")):
                return True
        time.sleep(0.2)
    return False


def _admin_login() -> tuple[str, str]:
    """Standard DJANGO_SUPERUSER_* env vars when given; else a generated password kept in var/."""
    username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
    password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
    if not password:
        password_file = VAR_DIR / "admin-password"
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(12))
            password_file.chmod(0o600)
        password = password_file.read_text().strip()
    os.environ["DJANGO_SUPERUSER_USERNAME"] = username
    os.environ["DJANGO_SUPERUSER_PASSWORD"] = password
    os.environ.setdefault("DJANGO_SUPERUSER_EMAIL", f"{username}@localhost")
    return username, password


def _open_log(name: str) -> IO[bytes]:
    log = (LOG_DIR / f"{name}.log").open("ab")
    log.write(f"\n=== make demo {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
    log.flush()
    return log


def _manage(*args: str) -> None:
    """A setup command; its output goes to var/log/setup.log, and its tail to the terminal if it fails."""
    with _open_log("setup") as log:
        log.write(f"$ manage.py {' '.join(args)}\n".encode())
        log.flush()
        result = subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode:
        raise BootFailed(f"`manage.py {' '.join(args)}` failed (exit {result.returncode}); see {LOG_DIR / 'setup.log'}")


class Boot:
    """The numbered steps on the terminal: `[3/8] Migrations ... done (2.1 s)`."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.number = 0

    def say(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    @contextmanager
    def step(self, title: str) -> Iterator[list[str]]:
        self.number += 1
        started = time.monotonic()
        self.say(f"[{self.number}/{STEPS}] {title} ... ")
        outcome: list[str] = []  # the step may name its outcome ("skipped: ...")
        try:
            yield outcome
        except BaseException:
            self.say("failed\n")
            raise
        self.say(f"{outcome[0] if outcome else 'done'} ({time.monotonic() - started:.1f} s)\n")


def _connect_url(base: str) -> str:
    """Where an operator connects a Spotify account: the connect page, or the apps page holding its button."""
    import django
    from django.urls import NoReverseMatch, reverse

    django.setup()
    for name in ("admin:accounts_spotifyaccount_connect", "admin:accounts_spotifyapp_changelist"):
        try:
            return base + reverse(name)
        except NoReverseMatch:
            continue
    return base + "/admin/"


def _shown(path: Path) -> str:
    return str(path.relative_to(BASE_DIR)) if path.is_relative_to(BASE_DIR) else str(path)


def two_factor_line(required: bool) -> str:
    if required:
        return "required (STAFF_2FA_REQUIRED): set up an authenticator app at the first login"
    return "off for the demo (STAFF_2FA_REQUIRED=true make demo asks for it, as production does)"


def banner(
    *, port: int, emulator_port: int, username: str, password: str, connect_url: str, mail: str, two_factor: bool = False
) -> str:
    base = f"http://127.0.0.1:{port}"
    rule = "-" * 78
    rows = [
        ("Admin", f"{base}/admin/"),
        ("Login", f"{username} / {password}"),
        ("Two-factor", two_factor_line(two_factor)),
        ("Dashboard", f"{base}/admin/metrics/metricsnapshot/dashboard/"),
        ("API docs", f"{base}/api/docs/"),
        ("Connect a Spotify account", connect_url),
        ("Alerts", f"{base}/admin/alerts/alert/  (mail: {mail}, to oncall@localhost)"),
        ("Spotify emulator", f"http://127.0.0.1:{emulator_port}/"),
        ("Logs", f"{_shown(LOG_DIR)}/{{{','.join(PROCESS_LOGS)}}}.log  (follow them: make demo-logs)"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [rule, "  opsconsole is running.  Ctrl-C stops everything.", ""]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    return "\n".join([*lines, rule]) + "\n"


def stopping(stack: Stack) -> str:
    """What Ctrl-C stops, in the order it stops them."""
    names = {"web": "web", "beat": "beat", "alerts": "the alert evaluator", "worker": "worker", "emulator": "the emulator"}
    parts = [
        names.get(server.spec.kind, server.name) for server in sorted(stack.servers.values(), key=lambda s: stop_rank(s.name))
    ]
    parts += [{"redis": "Redis", "postgres": "PostgreSQL"}[name] for name in ("redis", "postgres") if name in STARTED]
    return ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else "".join(parts) or "nothing"


def main() -> int:
    out = sys.stdout
    boot = Boot(out)
    stack = Stack(log_dir=LOG_DIR, banner="make demo")

    def stop() -> None:
        # A second Ctrl-C must not cut the stop short and leave servers behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # The runbooks' order, one signal each (devstack.processes); then the embedded Redis and
        # PostgreSQL if this run started them (ones it found running stay up).
        stack.stop()
        stop_started(wait=True)

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    # Explicit: a shell that starts `make demo &` hands it an ignored SIGINT.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        with boot.step("Install: pinned requirements in .venv") as outcome:
            outcome.append(f"done, Python {sys.version.split()[0]}")
        with boot.step("Database: PostgreSQL and Redis") as outcome:
            load_local_env()
            bootstrap()
            LOG_DIR.mkdir(parents=True, exist_ok=True)
            embedded = str(VAR_DIR / "pg") in unquote(os.environ["DATABASE_URL"])
            outcome.append(f"done, embedded under {VAR_DIR}" if embedded else "done, from DATABASE_URL / REDIS_URL")
        port = int(os.environ.get("PORT", "8000"))
        emulator_port = int(os.environ.get("EMULATOR_PORT", 0)) or _free_port()
        # The demo only ever talks to the emulator on loopback, never to the real Spotify.
        os.environ["SPOTIFY_API_URL"] = f"http://127.0.0.1:{emulator_port}/v1/"
        os.environ["SPOTIFY_ACCOUNTS_URL"] = f"http://127.0.0.1:{emulator_port}/"
        os.environ.setdefault("SPOTIFY_CLIENT_ID", "demo-client")
        os.environ.setdefault("SPOTIFY_CLIENT_SECRET", "demo-secret")
        os.environ.setdefault("SPOTIFY_REDIRECT_URI", f"http://127.0.0.1:{port}/oauth/spotify/callback")
        os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
        os.environ.setdefault("DEMO_SEED", "42")
        # Alerts (docs/runbooks/alerts.md): mail lands in var/mail/ unless EMAIL_URL names a real server,
        # and the demo's webhook channels may point at loopback.
        mail_to_files = "EMAIL_URL" not in os.environ
        os.environ.setdefault("EMAIL_URL", f"filemail:///{(VAR_DIR / 'mail').resolve()}")
        os.environ.setdefault("ALERT_WEBHOOK_ALLOW_PRIVATE", "true")
        os.environ.setdefault("ALERT_CONSOLE_URL", f"http://127.0.0.1:{port}")
        # Two-factor is production's default; the demo logs in with the printed password alone
        # unless STAFF_2FA_REQUIRED is in its environment (the banner says which).
        os.environ.setdefault("STAFF_2FA_REQUIRED", "false")
        two_factor = os.environ["STAFF_2FA_REQUIRED"].strip().lower() in ("1", "true", "yes", "on")

        with boot.step("Migrations, schedule, alert rules and the admin login"):
            _manage("migrate", "--no-input", "-v", "0")
            _manage("setup_periodic_tasks")
            _manage("setup_alert_rules", "--email", "oncall@localhost")
            username, password = _admin_login()
            _manage("demo_admin")
        with boot.step(f"Spotify emulator on :{emulator_port} and the demo accounts"):
            stack.start(emulator_spec(port=emulator_port, seed=os.environ["DEMO_SEED"]))
            if not _wait_http(f"http://127.0.0.1:{emulator_port}/_emulator/counts", seconds=30):
                raise BootFailed(f"the Spotify emulator did not start; see {LOG_DIR / 'emulator.log'}")
            _manage("seed_demo")
        with boot.step(f"Web (gunicorn) on http://127.0.0.1:{port}"):
            stack.start(web_spec(port=port))
            if not _wait_http(f"http://127.0.0.1:{port}/live", seconds=60):
                raise BootFailed(f"the web server did not start; see {LOG_DIR / 'web.log'}")
        with boot.step("Celery worker"):
            worker = stack.start(worker_spec(hostname="demo-worker@%h")).process
            if not _wait_log(
                LOG_DIR / "worker.log", r"demo-worker@\S+ ready", seconds=90, child=worker, start=stack["worker"].log_start
            ):
                raise BootFailed(f"the Celery worker did not start; see {LOG_DIR / 'worker.log'}")
        with boot.step("Celery beat and the alert evaluator"):
            beat = stack.start(beat_spec(schedule=VAR_DIR / "celerybeat-schedule")).process
            stack.start(alerts_spec())
            if not _wait_log(LOG_DIR / "beat.log", r"beat: Starting", seconds=60, child=beat, start=stack["beat"].log_start):
                raise BootFailed(f"Celery beat did not start; see {LOG_DIR / 'beat.log'}")
        with boot.step("First pipeline (refresh, ingest, features, snapshots, sync, metrics)") as outcome:
            _first_pipeline(boot, outcome, spawn_env=os.environ.copy())
        mail = str(VAR_DIR / "mail") if mail_to_files else "EMAIL_URL"
        base = f"http://127.0.0.1:{port}"
        boot.say(
            "\n"
            + banner(
                port=port,
                emulator_port=emulator_port,
                username=username,
                password=password,
                connect_url=_connect_url(base),
                mail=mail,
                two_factor=two_factor,
            )
        )
        while True:
            for server in stack.exited():
                raise BootFailed(f"{server.name} exited with code {server.process.returncode}; see {server.log_path}")
            time.sleep(1)
    except KeyboardInterrupt:
        boot.say(f"\nStopping {stopping(stack)} ...\n")
        return 0
    except Exception as exc:
        boot.say(f"\nmake demo: {exc}\n")
        return 1
    finally:
        stop()


def _first_pipeline(boot: Boot, outcome: list[str], *, spawn_env: dict[str, str]) -> None:
    """Run the daily pipeline once on the first boot so a newcomer sees tracks, playlists and job runs."""
    import django

    # `make demo` runs this module directly: nothing else named the settings in this process.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsconsole.settings")
    django.setup()
    from devstack.management.commands.demo_pipeline import FIRST_BOOT_JOBS

    marker = VAR_DIR / "demo-pipeline-done"
    if marker.exists():
        outcome.append("skipped: ran on an earlier boot")
        return
    boot.say("\n")
    failed: list[str] = []
    argv = [PYTHON, "manage.py", "demo_pipeline", "--mark-done", str(marker)]
    with (
        _open_log("pipeline") as log,
        Progress(total=len(FIRST_BOOT_JOBS), desc="      jobs", unit="jobs", stream=boot.out) as bar,
    ):
        child = subprocess.Popen(
            argv,
            cwd=BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env={**spawn_env, "PYTHONUNBUFFERED": "1"},
        )
        assert child.stdout is not None
        for raw in child.stdout:
            log.write(raw)
            log.flush()
            match = re.match(r"\[pipeline\] (\S+): (\S+)", raw.decode(errors="replace"))
            if match:
                job, status = match.groups()
                if status != "success":
                    failed.append(f"{job} {status}")
                bar.update(note=f"{job}: {status}")
        child.wait()
    if child.returncode or failed:
        outcome.append(
            f"finished with problems ({', '.join(failed) or f'exit {child.returncode}'}; see {LOG_DIR / 'pipeline.log'})"
        )
    else:
        outcome.append("      done")


if __name__ == "__main__":
    sys.exit(main())
