from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import yaml
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

ROOT = Path(__file__).resolve().parents[2]


def _production_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "HTTPS_ONLY")}
    env.update(
        SECRET_KEY="x" * 20 + "Q7!kz0-production-secret-key-for-check-deploy-9a8b7c6d5e",
        ALLOWED_HOSTS="ops.example.com",
        DATABASE_URL=settings.DATABASES["default"].get("_URL", os.environ["DATABASE_URL"]),
    )
    return env


def test_check_deploy_is_clean_under_production_settings() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=_production_env(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key() -> None:
    env = _production_env()
    env.pop("SECRET_KEY")
    code = "import os; os.environ['DJANGO_SETTINGS_MODULE']='opsconsole.settings'; import django; django.setup()"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_session_cookie_is_the_dashboard_one_and_csrf_is_on() -> None:
    assert settings.SESSION_COOKIE_NAME == "dashboard_session"
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
    assert settings.TIME_ZONE == "UTC"


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_every_service_of_the_stack() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "web", "worker", "beat", "alerts", "flower"} <= set(services)
    assert "gunicorn" in services["web"]["command"]
    # The evaluator runs outside the workers (the demo's command), or NoWorkers could never fire.
    assert services["alerts"]["command"][-2:] == ["evaluate_alerts", "--loop"]
    assert "worker" in services["worker"]["command"]
    # The settings' scheduler: a DatabaseScheduler subclass that also writes beat's heartbeat.
    scheduler_path = services["beat"]["command"][services["beat"]["command"].index("--scheduler") + 1]
    assert scheduler_path == settings.CELERY_BEAT_SCHEDULER
    module, _, name = scheduler_path.partition(":")
    assert issubclass(getattr(importlib.import_module(module), name), DatabaseScheduler)


def test_compose_web_worker_and_beat_read_the_same_environment() -> None:
    services = _compose()["services"]
    environments = [services[name]["environment"] for name in ("web", "worker", "beat", "alerts")]
    assert all(environment == environments[0] for environment in environments)


def test_compose_environment_names_only_settings_the_console_reads() -> None:
    app_env = _compose()["services"]["web"]["environment"]
    settings_source = (ROOT / "opsconsole" / "settings.py").read_text()
    for required in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET"):
        assert required in app_env, f"compose does not set {required}"
    for name in app_env:
        assert f'"{name}"' in settings_source, f"compose sets {name}, which settings.py never reads"
    assert app_env["DEBUG"] == "false"
    # The database and broker the app points at are services of the same file.
    assert "@postgres:5432/" in app_env["DATABASE_URL"]
    assert app_env["REDIS_URL"].startswith("redis://redis:6379")


def test_compose_flower_uses_the_workers_broker_and_key_prefix_behind_basic_auth() -> None:
    services = _compose()["services"]
    flower, worker = services["flower"], services["worker"]
    # The workers' app and environment: same broker URL and CELERY_BROKER_KEY_PREFIX, so
    # Flower sees the workers and its Revoke/Terminate reach them.
    assert flower["command"][:3] == ["celery", "-A", "opsconsole"] and "flower" in flower["command"]
    for name in ("REDIS_URL", "CELERY_BROKER_KEY_PREFIX"):
        assert flower["environment"][name] == worker["environment"][name]
    assert flower["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    assert flower["environment"]["FLOWER_UNAUTHENTICATED_API"] == "false"
    assert flower["ports"] == ["127.0.0.1:5555:5555"]
    assert "flower==" in (ROOT / "requirements.txt").read_text()


def _seconds(value: str) -> float:
    units = {"s": 1, "m": 60}
    return float(value[:-1]) * units[value[-1]]


def test_compose_stops_in_the_runbooks_order_with_one_signal_and_a_grace_period() -> None:
    """web → beat → worker → redis → postgres (docs/runbooks/start-stop-stack.md): compose stops a
    service before what it depends on. Each service stops on one signal and is killed after its
    grace period, the same periods as the local stack's stop path (devstack.processes)."""
    from devstack.processes import GRACE_SECONDS

    services = _compose()["services"]

    def depends(name: str) -> set[str]:
        return set(services[name].get("depends_on") or {})

    assert "beat" in depends("web") and "worker" in depends("beat")
    for name in ("web", "beat", "worker", "alerts", "flower", "migrate"):
        assert {"postgres", "redis"} <= depends(name), name
        assert services[name]["init"] is True, f"{name}: an init as PID 1 forwards the signal and reaps"
        assert services[name]["stop_signal"] == "SIGTERM", name
    for name in ("web", "beat", "worker", "alerts"):
        assert _seconds(services[name]["stop_grace_period"]) == GRACE_SECONDS[name], name
    assert services["postgres"]["stop_signal"] == "SIGINT"  # PostgreSQL's fast shutdown
    assert services["redis"]["stop_signal"] == "SIGTERM"  # Redis saves the broker's queues first
    assert all("stop_grace_period" in services[name] for name in ("postgres", "redis"))
