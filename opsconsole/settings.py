"""One settings module, driven by the environment (django-environ).

Defaults are the production ones; a developer machine gets its values from
devstack.runtime.bootstrap() (var/local.env and the embedded servers).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import environ

from core.version import VERSION

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY")
# Off only on loopback demo/test runs over plain HTTP; production keeps every HTTPS guard.
HTTPS_ONLY = env.bool("HTTPS_ONLY", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
TIME_ZONE = "UTC"
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = True

INSTALLED_APPS = [
    "core.apps.OpsAdminConfig",  # django.contrib.admin with the operations home (core.admin_site)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_filters",
    "django_celery_beat",
    "django_celery_results",
    "health_check",
    "axes",
    # Two-factor for local logins: TOTP and backup codes (core.twofactor).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "core",
    "jobs",
    "spotify",
    "audit",
    "accounts",
    "ingest",
    "playlists",
    "alerts",
    "metrics",
    "opsconsole.apps.ProjectConfig",
]
# Dev-time commands (the demo's seeding, the emulator's server) come from `devstack`, which
# devstack.runtime.bootstrap() turns on for the demo, the tests and a developer's manage.py;
# production never loads dev-time code.
if env.bool("OPSCONSOLE_DEV_TOOLS", default=False):
    INSTALLED_APPS.append("devstack")

MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    # Responses under /api/ by status class, per minute in Redis (the API error-rate alert).
    "core.middleware.ApiResponseCountMiddleware",
    # Unmatched paths and wrong methods under /api/ answer JSON (docs/runbooks/failure-behaviour.md).
    "core.api_errors.ApiJsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): the session's second factor, if any (core.twofactor).
    "django_otp.middleware.OTPMiddleware",
    # Admin pages in the staff user's display time zone; the API stays UTC.
    "core.middleware.DisplayTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Staff sessions end after SESSION_IDLE_MINUTES without a request (docs/runbooks/staff-access.md).
    "core.sessions.IdleTimeoutMiddleware",
    # Single sign-on sessions re-checked at the provider every OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS.
    "audit.sso.SsoSessionRefresh",
    # A second factor before the admin or the session API, when the user needs one (STAFF_2FA_REQUIRED).
    "core.twofactor.TwoFactorMiddleware",
    # Last, as django-axes asks: turns a login refused during a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "opsconsole.urls"
WSGI_APPLICATION = "opsconsole.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL")}
# `?host=/path` (a Unix socket, as the embedded PostgreSQL uses) belongs in HOST, where
# Django and anything deriving a URL from these settings look for it.
if not DATABASES["default"]["HOST"] and "host" in DATABASES["default"]["OPTIONS"]:
    DATABASES["default"]["HOST"] = DATABASES["default"]["OPTIONS"].pop("host")
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL")
REDIS_KEY_PREFIX = env("REDIS_KEY_PREFIX", default="opsconsole")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and HTTPS_ONLY
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Serve straight from the apps' static dirs on demo/test runs: no collectstatic step.
WHITENOISE_USE_FINDERS = not HTTPS_ONLY

# --- Security -------------------------------------------------------------------------
SESSION_COOKIE_NAME = "dashboard_session"
# A staff session lasts a working day at most, and ends after SESSION_IDLE_MINUTES without a request.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 60 * 60)
SESSION_IDLE_MINUTES = env.int("SESSION_IDLE_MINUTES", default=30)
# Shown on every admin page (production in red): production, staging, development...
OPSCONSOLE_ENVIRONMENT = env("OPSCONSOLE_ENVIRONMENT", default="production")
# The build a deploy runs (git sha, image tag): recorded with each process start (core.version).
OPSCONSOLE_VERSION = env("OPSCONSOLE_VERSION", default="")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_SSL_REDIRECT = HTTPS_ONLY
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS_ONLY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS_ONLY
SECURE_HSTS_PRELOAD = HTTPS_ONLY
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Health and metrics are probed over plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^api/health$", r"^ready$", r"^live$", r"^metrics$"]
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
# 500 pages / error e-mails: also hide Authorization headers, URL passwords, secret-named locals.
DEFAULT_EXCEPTION_REPORTER_FILTER = "core.error_reports.SecretsReporterFilter"

# Token encryption: MultiFernet, first key encrypts, every key decrypts (rotation).
# Never derived from SECRET_KEY: rotating one must not lose the other.
TOKEN_ENCRYPTION_KEYS = env.list("TOKEN_ENCRYPTION_KEYS")


def _parse_list(value: str) -> list[str]:
    value = value.strip()
    if value.startswith("["):
        return [str(item).strip() for item in json.loads(value)]
    return [item.strip() for item in value.split(",") if item.strip()]


# CSV or JSON array of IPs/CIDRs that see health telemetry without logging in.
HEALTH_ALLOWLIST = _parse_list(env("HEALTH_ALLOWLIST", default=""))
# Proxies whose X-Forwarded-For is believed; without them the client IP is REMOTE_ADDR.
TRUSTED_PROXIES = _parse_list(env("TRUSTED_PROXIES", default=""))
# --- Login lockout (django-axes; docs/runbooks/staff-access.md) -------------------------
# LOGIN_FAILURE_LIMIT wrong passwords (admin) or tokens (API) for one username or from one client
# address lock it out for LOGIN_LOCKOUT_MINUTES; each try during the lockout starts it again.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
if LOGIN_FAILURE_LIMIT < 1 or LOGIN_LOCKOUT_MINUTES < 1:
    raise ValueError("LOGIN_FAILURE_LIMIT and LOGIN_LOCKOUT_MINUTES are at least 1")
AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out username or address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    # Password sign-in, as LOCAL_LOGIN allows (core.sso); then single sign-on (audit.sso).
    "core.sso.LocalPasswordBackend",
    "audit.sso.SsoBackend",
]
# A plain string: axes' lazy default breaks whatever reads settings as text (error reports).
AXES_USERNAME_FORM_FIELD = "username"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
# Per username and per address apart; an API token names no user: its address only.
AXES_LOCKOUT_PARAMETERS = "core.lockout.lockout_parameters"
AXES_CLIENT_IP_CALLABLE = "core.lockout.lockout_client_ip"
AXES_LOCKOUT_CALLABLE = "core.lockout.lockout_response"
# Successful logins are in the audit trail and the session table; axes keeps failures only.
AXES_DISABLE_ACCESS_LOG = True
# No banner line at every process start nor a log line per login: lockouts are audited instead.
AXES_VERBOSE = False
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# The admin shows lockouts through audit.admin (clearing one is audited), not axes' own registration.
AXES_ENABLE_ADMIN = False

# --- Single sign-on (OIDC with mozilla-django-oidc; docs/runbooks/staff-access.md) -----
# Off by default. Users are keyed by issuer + `sub`; OIDC_ROLE_GROUPS maps values of the
# OIDC_GROUPS_CLAIM claim to the console's roles (viewers, operators, admins = superuser), set
# again at every sign-in and every re-check.
OIDC_ENABLED = env.bool("OIDC_ENABLED", default=False)
OIDC_PROVIDER_NAME = env("OIDC_PROVIDER_NAME", default="single sign-on")
OIDC_OP_ISSUER = env("OIDC_OP_ISSUER", default="")
OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env("OIDC_RP_CLIENT_SECRET", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO = env("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env("OIDC_RP_SCOPES", default="openid email profile groups")
OIDC_GROUPS_CLAIM = env("OIDC_GROUPS_CLAIM", default="groups")
OIDC_ROLE_GROUPS = env(
    "OIDC_ROLE_GROUPS", default="opsconsole-viewers=viewers,opsconsole-operators=operators,opsconsole-admins=admins"
)
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = env.int("OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS", default=15 * 60)
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_TIMEOUT = env.float("OIDC_TIMEOUT", default=10.0)
OIDC_CALLBACK_CLASS = "audit.sso.SsoCallbackView"
OIDC_AUTHENTICATE_CLASS = "audit.sso.SsoAuthenticateView"
LOGIN_REDIRECT_URL = "/admin/"
# "all": every staff user may sign in with a password; "breakglass": only active superusers named
# in OIDC_BREAKGLASS_USERS (every superuser when it is empty), everyone else through single sign-on.
LOCAL_LOGIN = env("LOCAL_LOGIN", default="all")
OIDC_BREAKGLASS_USERS = env.list("OIDC_BREAKGLASS_USERS", default=[])
if LOCAL_LOGIN not in ("all", "breakglass"):
    raise ValueError("LOCAL_LOGIN is 'all' or 'breakglass'")
if OIDC_ENABLED and not all(
    (OIDC_OP_ISSUER, OIDC_RP_CLIENT_ID, OIDC_RP_CLIENT_SECRET, OIDC_OP_AUTHORIZATION_ENDPOINT, OIDC_OP_TOKEN_ENDPOINT)
    + (OIDC_OP_USER_ENDPOINT, OIDC_OP_JWKS_ENDPOINT)
):
    raise ValueError("OIDC_ENABLED needs OIDC_OP_ISSUER, OIDC_RP_CLIENT_ID/SECRET and the OIDC_OP_*_ENDPOINT settings")
# --- Two-factor and step-up (django-otp; docs/runbooks/staff-access.md) ----------------
# Superusers and operators verify a TOTP code (or a backup code) after the password; anyone who
# enrolled a device does, whatever this says. `make demo` and the tests turn it off.
STAFF_2FA_REQUIRED = env.bool("STAFF_2FA_REQUIRED", default=True)
# Destructive admin actions and session API calls ask for the password (and code) again when the
# last one is older than this (core.stepup).
STEP_UP_MINUTES = env.int("STEP_UP_MINUTES", default=10)
if STEP_UP_MINUTES < 1:
    raise ValueError("STEP_UP_MINUTES is at least 1")
OTP_TOTP_ISSUER = "opsconsole"
# Wrong codes back off exponentially per device (1, 2, 4 ... s): django-otp's own throttle.
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1

OPS_ADMIN_EMAILS = [e.lower() for e in _parse_list(env("OPS_ADMIN_EMAILS", default=""))]

# --- Spotify --------------------------------------------------------------------------
SPOTIFY_CLIENT_ID = env("SPOTIFY_CLIENT_ID", default="")
SPOTIFY_CLIENT_SECRET = env("SPOTIFY_CLIENT_SECRET", default="")
SPOTIFY_API_URL = env("SPOTIFY_API_URL", default="https://api.spotify.com/v1/")
SPOTIFY_ACCOUNTS_URL = env("SPOTIFY_ACCOUNTS_URL", default="https://accounts.spotify.com/")
SPOTIFY_REQUEST_TIMEOUT = env.float("SPOTIFY_REQUEST_TIMEOUT", default=10.0)
SPOTIFY_MAX_ATTEMPTS = env.int("SPOTIFY_MAX_ATTEMPTS", default=6)
SPOTIFY_BACKOFF_BASE = env.float("SPOTIFY_BACKOFF_BASE", default=0.5)
# Longest a worker thread may sleep for one Retry-After; beyond it the work is parked.
SPOTIFY_MAX_SLEEP_SECONDS = env.float("SPOTIFY_MAX_SLEEP_SECONDS", default=10.0)
# Spotify limits per app over a rolling 30 s window; the bucket refills at this rate.
SPOTIFY_APP_RATE_PER_SECOND = env.float("SPOTIFY_APP_RATE_PER_SECOND", default=20.0)
SPOTIFY_APP_BURST = env.int("SPOTIFY_APP_BURST", default=100)
SPOTIFY_ACCOUNT_RATE_PER_SECOND = env.float("SPOTIFY_ACCOUNT_RATE_PER_SECOND", default=5.0)
SPOTIFY_ACCOUNT_BURST = env.int("SPOTIFY_ACCOUNT_BURST", default=20)
BREAKER_FAILURE_THRESHOLD = env.int("BREAKER_FAILURE_THRESHOLD", default=3)
BREAKER_BASE_COOLDOWN_SECONDS = env.float("BREAKER_BASE_COOLDOWN_SECONDS", default=15.0)
BREAKER_MAX_COOLDOWN_SECONDS = env.float("BREAKER_MAX_COOLDOWN_SECONDS", default=300.0)
DEV_MODE_USER_CAP = env.int("DEV_MODE_USER_CAP", default=5)
# Connect an account (docs/runbooks/connect-account.md): Spotify sends the user back here. It must be
# registered for the app in Spotify's Developer Dashboard, character for character.
SPOTIFY_REDIRECT_URI = env("SPOTIFY_REDIRECT_URI", default="http://127.0.0.1:8000/oauth/spotify/callback")
SPOTIFY_SCOPES = " ".join(
    env("SPOTIFY_SCOPES", default="playlist-modify-private playlist-modify-public playlist-read-private").split()
)
# How long a connect or re-authorize link stays usable.
SPOTIFY_AUTHORIZE_LINK_HOURS = env.int("SPOTIFY_AUTHORIZE_LINK_HOURS", default=72)

# --- Ingest ---------------------------------------------------------------------------
# Sources claimed per transaction; a multiple of 20 keeps several-albums calls full.
INGEST_BATCH_SIZE = env.int("INGEST_BATCH_SIZE", default=100)
# Transient failures (429/5xx/open circuit) a source survives before it is dead-lettered.
INGEST_MAX_ATTEMPTS = env.int("INGEST_MAX_ATTEMPTS", default=5)
INGEST_RETRY_BASE_SECONDS = env.int("INGEST_RETRY_BASE_SECONDS", default=60)
# A source left in `processing` this long belonged to a worker that died: claim it again.
INGEST_CLAIM_STALE_MINUTES = env.int("INGEST_CLAIM_STALE_MINUTES", default=15)
# One ingest run stops claiming after this long (below CELERY_TASK_SOFT_TIME_LIMIT) and queues a follow-up.
INGEST_RUN_SECONDS = env.int("INGEST_RUN_SECONDS", default=240)
INGEST_SUBMIT_MAX = env.int("INGEST_SUBMIT_MAX", default=1000)
# Queued sources waited this long with none finishing: "ingest stalled" in health, dashboard, late jobs.
INGEST_STALLED_MINUTES = env.int("INGEST_STALLED_MINUTES", default=360)
# Spotify answered null for a track's features: ask again after this many days.
AUDIO_FEATURES_NULL_RETRY_DAYS = env.int("AUDIO_FEATURES_NULL_RETRY_DAYS", default=7)
# An app refused audio features (403): probe again after this many hours.
AUDIO_FEATURES_RECHECK_HOURS = env.int("AUDIO_FEATURES_RECHECK_HOURS", default=24)
# A capability an app was refused (a 403 from that endpoint: several albums) is tried again after this.
SPOTIFY_CAPABILITY_RECHECK_HOURS = env.int("SPOTIFY_CAPABILITY_RECHECK_HOURS", default=24)
# verify_playlists: playlists per run (healthy accounts first), and what a playlist deleted or
# unfollowed by its owner on Spotify becomes: "recreate" (audited) or "retire".
PLAYLIST_VERIFY_BATCH = env.int("PLAYLIST_VERIFY_BATCH", default=5000)
PLAYLIST_DELETED_ON_SPOTIFY = env.str("PLAYLIST_DELETED_ON_SPOTIFY", default="recreate")
if PLAYLIST_DELETED_ON_SPOTIFY not in ("recreate", "retire"):
    raise ValueError("PLAYLIST_DELETED_ON_SPOTIFY is 'recreate' or 'retire'")

# --- Domain defaults (overridable per policy/account) ---------------------------------
PLAYLIST_SIZE = env.int("PLAYLIST_SIZE", default=50)
PLAYLIST_COOLDOWN_DAYS = env.int("PLAYLIST_COOLDOWN_DAYS", default=5)
PLAYLIST_ARTIST_CAP = env.int("PLAYLIST_ARTIST_CAP", default=2)
PLAYLIST_RESHUFFLE_DAYS = env.int("PLAYLIST_RESHUFFLE_DAYS", default=5)
PLAYLISTS_PER_ACCOUNT_MAX = env.int("PLAYLISTS_PER_ACCOUNT_MAX", default=200)
# refresh_tokens runs every 30 min: refresh what expires before the next run plus this margin.
TOKEN_REFRESH_MARGIN_MINUTES = env.int("TOKEN_REFRESH_MARGIN_MINUTES", default=15)
# Refresh tokens die 6 months after authorization; warn this many days ahead.
REAUTH_WARNING_DAYS = env.int("REAUTH_WARNING_DAYS", default=14)
ACCOUNT_DEGRADED_AFTER_FAILURES = env.int("ACCOUNT_DEGRADED_AFTER_FAILURES", default=3)
ACCOUNT_QUARANTINE_AFTER_FAILURES = env.int("ACCOUNT_QUARANTINE_AFTER_FAILURES", default=10)

# --- Retention (days) -----------------------------------------------------------------
RETENTION_JOB_RUNS_DAYS = env.int("RETENTION_JOB_RUNS_DAYS", default=30)
RETENTION_TASK_RESULTS_DAYS = env.int("RETENTION_TASK_RESULTS_DAYS", default=7)
RETENTION_SNAPSHOTS_DAYS = env.int("RETENTION_SNAPSHOTS_DAYS", default=60)
RETENTION_DEAD_LETTERS_DAYS = env.int("RETENTION_DEAD_LETTERS_DAYS", default=30)
RETENTION_METRIC_SNAPSHOTS_DAYS = env.int("RETENTION_METRIC_SNAPSHOTS_DAYS", default=90)

# `make backup` keeps this many archives under var/backups/.
BACKUP_KEEP = env.int("BACKUP_KEEP", default=14)

# --- Alerts and mail (docs/runbooks/alert-channels.md) --------------------------------
# EMAIL_URL as django-environ reads it: smtp://user:pass@host:587, smtp+tls://..., consolemail://,
# filemail:///var/mail (a relative file path is under the project directory).
if env("EMAIL_URL", default=""):
    _email = {name: value for name, value in env.email_url("EMAIL_URL").items() if value is not None}
    if _email.get("EMAIL_FILE_PATH") and not Path(_email["EMAIL_FILE_PATH"]).is_absolute():
        _email["EMAIL_FILE_PATH"] = str(BASE_DIR / _email["EMAIL_FILE_PATH"])
    vars().update(_email)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="opsconsole@localhost")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Webhook and ping targets on loopback/private addresses are refused unless this is true (SSRF).
ALERT_WEBHOOK_ALLOW_PRIVATE = env.bool("ALERT_WEBHOOK_ALLOW_PRIVATE", default=False)
ALERT_DELIVERY_TIMEOUT_SECONDS = env.float("ALERT_DELIVERY_TIMEOUT_SECONDS", default=10.0)
ALERT_DELIVERY_BACKOFF_BASE_SECONDS = env.float("ALERT_DELIVERY_BACKOFF_BASE_SECONDS", default=30.0)
ALERT_DELIVERY_BACKOFF_MAX_SECONDS = env.float("ALERT_DELIVERY_BACKOFF_MAX_SECONDS", default=1800.0)
# A just-started evaluator does not call beat or the workers gone before this many seconds (startup grace).
ALERT_STARTUP_GRACE_SECONDS = env.float("ALERT_STARTUP_GRACE_SECONDS", default=180.0)
# A grouped notification names at most this many subjects ("... and N more").
ALERT_GROUP_SUBJECTS_MAX = env.int("ALERT_GROUP_SUBJECTS_MAX", default=20)
# An alert opened and resolved more than this many times within an hour stays open, flapping.
ALERT_FLAP_THRESHOLD = env.int("ALERT_FLAP_THRESHOLD", default=4)
# PagerDuty's Events API v2 endpoint (the tests point it at a receiver on loopback).
ALERT_PAGERDUTY_URL = env("ALERT_PAGERDUTY_URL", default="https://events.pagerduty.com/v2/enqueue")
# Links in notifications point here (the admin's own address as people reach it).
ALERT_CONSOLE_URL = env("ALERT_CONSOLE_URL", default="http://127.0.0.1:8000")
# Where a rule's runbook file (docs/runbooks/<file>) is read: the console serves them to staff by
# default; point it at the repository's web view or a wiki that mirrors docs/runbooks/.
RUNBOOK_BASE_URL = env("RUNBOOK_BASE_URL", default=ALERT_CONSOLE_URL.rstrip("/") + "/runbooks")
JOB_PING_TIMEOUT_SECONDS = env.float("JOB_PING_TIMEOUT_SECONDS", default=3.0)
# MemoryUsageHigh: a worker pool process's resident memory limit (0: workers not watched).
WORKER_MEMORY_LIMIT_MB = env.int("WORKER_MEMORY_LIMIT_MB", default=1024)

# --- Celery (cookiecutter-django's block) ---------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
# django-celery-results' backend, retrying a lost database connection (jobs/result_backend.py).
CELERY_RESULT_BACKEND = "jobs.result_backend:DatabaseBackend"
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
# From 0.5 s doubling to 5 s apart (with jitter): a database restart is waited out, a long outage not.
CELERY_RESULT_BACKEND_MAX_RETRIES = 20
CELERY_RESULT_BACKEND_BASE_SLEEP_BETWEEN_RETRIES_MS = 500
CELERY_RESULT_BACKEND_MAX_SLEEP_BETWEEN_RETRIES_MS = 5000
# A broker restart takes seconds: every publish (beat's schedule, a queued job, a task's retry) waits
# it out, about 25 s at most, instead of failing at once (Celery's default gives up after ~1 s, and
# drops a task whose retry it cannot publish). jobs.services marks runs it still could not queue.
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 8, "interval_start": 0.5, "interval_step": 1.0, "interval_max": 4.0}
CELERY_RESULT_EXTENDED = True
# Our daily `retention` job prunes task results (RETENTION_TASK_RESULTS_DAYS): no second
# cleanup schedule (celery.backend_cleanup) next to it.
CELERY_RESULT_EXPIRES = None
CELERY_CACHE_BACKEND = "default"
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Off: the JobRun says a task started (jobs.signals). Storing STARTED in the result backend ran
# before the task body, so with the database down it failed outside the body and Celery dropped the
# message, its work and any retry with it (the chaos soak; tests/jobs/test_task_base.py).
CELERY_TASK_TRACK_STARTED = False
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
# Redis redelivers an unacked task after visibility_timeout: keep it far above the hard limit.
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
# Test runs share the machine's Redis with each other: their queues get a prefix of their own.
CELERY_BROKER_KEY_PREFIX = env("CELERY_BROKER_KEY_PREFIX", default="")
if CELERY_BROKER_KEY_PREFIX:
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = CELERY_BROKER_KEY_PREFIX
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# DatabaseScheduler plus a Redis heartbeat on every tick, so health can tell beat is alive.
CELERY_BEAT_SCHEDULER = "jobs.beat:HeartbeatScheduler"
BEAT_HEARTBEAT_MAX_AGE_SECONDS = env.int("BEAT_HEARTBEAT_MAX_AGE_SECONDS", default=60)
# Each worker writes a heartbeat to Redis this often; three missed ones and it counts as gone
# (jobs.heartbeat). Health and the NoWorkers alert read heartbeats, never ping workers.
WORKER_HEARTBEAT_SECONDS = env.float("WORKER_HEARTBEAT_SECONDS", default=10.0)
if WORKER_HEARTBEAT_SECONDS <= 0:
    raise ValueError("WORKER_HEARTBEAT_SECONDS must be positive")
# How long queue triage, which an operator asks for, waits for workers to answer an inspect.
QUEUES_INSPECT_TIMEOUT_SECONDS = env.float("QUEUES_INSPECT_TIMEOUT_SECONDS", default=1.0)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
DJANGO_CELERY_BEAT_TZ_AWARE = True

# --- DRF ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # DRF's default is AllowAny: staff-only unless a view says otherwise.
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.StaffGroupPermission"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        # TokenOrBearerAuthentication behind the login lockout (core.lockout).
        "core.lockout.LockoutTokenAuthentication",
    ],
    # DRF's JSON, encoded by orjson (core/renderers.py).
    "DEFAULT_RENDERER_CLASSES": ["core.renderers.OrjsonRenderer"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.DefaultPagination",
    # Every list filters through its FilterSet (`filterset_class`); drf-spectacular documents them.
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# API token -> user kept this long per process; revoking a token, or changing a user or their
# groups, clears every process's cache at once (core.authentication). 0 turns it off.
API_TOKEN_CACHE_SECONDS = env.float("API_TOKEN_CACHE_SECONDS", default=60.0)
# A new API token's life unless `create_api_token --expires` says otherwise (core.models.ApiToken).
API_TOKEN_DEFAULT_DAYS = env.int("API_TOKEN_DEFAULT_DAYS", default=90)
if API_TOKEN_DEFAULT_DAYS <= 0:
    raise ValueError("API_TOKEN_DEFAULT_DAYS must be positive (`create_api_token --expires never` makes a token without expiry)")
SPECTACULAR_SETTINGS = {
    "TITLE": "opsconsole API",
    "DESCRIPTION": "Operations API for the Spotify playlist automation fleet.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["core.permissions.StaffGroupPermission"],
    # Each operation names the API token scope it needs (core.schema).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.schema.token_scopes"],
    # Several models have a `status` field with different choices: name each enum.
    "ENUM_NAME_OVERRIDES": {
        "JobRunStatusEnum": "jobs.models.JobRun.Status",
        "RateLimitKindEnum": "spotify.models.RateLimitSetting.Kind",
        "AlbumSourceStatusEnum": "ingest.models.AlbumSource.Status",
        "DeadLetterStatusEnum": "ingest.models.DeadLetter.Status",
        "PlaylistStatusEnum": "playlists.models.Playlist.Status",
        "PlaylistSyncStateEnum": "playlists.models.Playlist.SyncState",
        "AccountHealthEnum": "accounts.models.SpotifyAccount.Health",
    },
}

# --- Logging: structured JSON lines; spotipy kept at INFO (it logs Authorization at DEBUG)
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "core.logging.JsonFormatter"}},
    "filters": {"context": {"()": "core.logging.ContextFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "spotipy": {"level": "INFO"},
        "pgserver": {"level": "WARNING"},
        # django-health-check logs a traceback per failed probe; metrics.health logs one line.
        "health_check": {"level": "ERROR"},
        "urllib3": {"level": "WARNING"},
        "django.db.backends": {"level": "INFO"},
    },
}
