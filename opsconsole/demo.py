"""`make demo`: the whole console on one machine.

Embedded PostgreSQL + Redis (unless DATABASE_URL / REDIS_URL say otherwise), the Spotify
emulator, gunicorn, a Celery worker and Celery beat as child processes. Ctrl-C stops them
all; a second run reuses var/.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from opsconsole.runtime import VAR_DIR, _free_port, bootstrap, load_local_env

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def _manage(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, check=check)


def _wait_http(url: str, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except Exception:
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


def main() -> int:
    load_local_env()
    bootstrap()
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
    # Alerts (README "Alerts"): mail lands in var/mail/ unless EMAIL_URL names a real server,
    # and the demo's webhook channels may point at loopback.
    mail_to_files = "EMAIL_URL" not in os.environ
    os.environ.setdefault("EMAIL_URL", f"filemail:///{(VAR_DIR / 'mail').resolve()}")
    os.environ.setdefault("ALERT_WEBHOOK_ALLOW_PRIVATE", "true")
    os.environ.setdefault("ALERT_CONSOLE_URL", f"http://127.0.0.1:{port}")

    children: list[subprocess.Popen[bytes]] = []

    long_running: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(name: str, *argv: str, oneshot: bool = False) -> None:
        print(f"[demo] starting {name}", flush=True)
        child = subprocess.Popen(list(argv), cwd=BASE_DIR)
        children.append(child)
        if not oneshot:
            long_running[name] = child

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    # Explicit: a shell that starts `make demo &` hands it an ignored SIGINT.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        spawn(
            "spotify emulator",
            PYTHON,
            "manage.py",
            "run_spotify_emulator",
            "--port",
            str(emulator_port),
            "--seed",
            os.environ["DEMO_SEED"],
        )
        if not _wait_http(f"http://127.0.0.1:{emulator_port}/_emulator/counts", seconds=30):
            raise RuntimeError("the Spotify emulator did not start")
        _manage("migrate", "--no-input", "-v", "0")
        _manage("setup_periodic_tasks")
        _manage("setup_alert_rules", "--email", "oncall@localhost")
        username, password = _admin_login()
        _manage("demo_admin")
        _manage("seed_demo")
        spawn(
            "web (gunicorn)",
            PYTHON,
            "-m",
            "gunicorn",
            "opsconsole.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--access-logfile",
            "-",
        )
        spawn(
            "celery worker",
            PYTHON,
            "-m",
            "celery",
            "-A",
            "opsconsole",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--hostname",
            "demo-worker@%h",
        )
        spawn(
            "celery beat",
            PYTHON,
            "-m",
            "celery",
            "-A",
            "opsconsole",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(VAR_DIR / "celerybeat-schedule"),
        )
        # NoWorkers and BeatGone need an evaluator that is not itself a worker task (same lock as the job).
        spawn("alert evaluator", PYTHON, "manage.py", "evaluate_alerts", "--loop")
        if not (VAR_DIR / "demo-pipeline-done").exists():
            # First boot: run the pipeline once so a newcomer sees tracks, playlists and job runs.
            spawn(
                "first-boot pipeline",
                PYTHON,
                "manage.py",
                "demo_pipeline",
                "--mark-done",
                str(VAR_DIR / "demo-pipeline-done"),
                oneshot=True,
            )
        if not _wait_http(f"http://127.0.0.1:{port}/live", seconds=60):
            raise RuntimeError("the web server did not start")
        print(
            "\n"
            f"  opsconsole is running: http://127.0.0.1:{port}/admin/\n"
            f"  login: {username} / {password}\n"
            f"  dashboard: http://127.0.0.1:{port}/admin/metrics/metricsnapshot/dashboard/   API docs: http://127.0.0.1:{port}/api/docs/\n"
            f"  alerts: http://127.0.0.1:{port}/admin/metrics/alert/   alert mail: "
            f"{VAR_DIR / 'mail' if mail_to_files else 'EMAIL_URL'} (to oncall@localhost)\n"
            f"  Connect a Spotify account: http://127.0.0.1:{port}/admin/accounts/spotifyaccount/connect/\n"
            f"  Spotify emulator: http://127.0.0.1:{emulator_port}/   Ctrl-C stops everything.\n",
            flush=True,
        )
        while True:
            for name, child in long_running.items():
                if child.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {child.returncode}")
            time.sleep(1)
    except KeyboardInterrupt:
        print("\n[demo] stopping", flush=True)
        return 0
    except Exception as exc:
        print(f"[demo] {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
