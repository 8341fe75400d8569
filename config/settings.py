"""Settings, read from the environment in one place.

With no environment at all the service runs on the embedded default: SQLite, an in-process
Dramatiq worker (StubBroker), in-memory rate-limit counters and local files. Setting
``DATABASE_URL`` and ``REDIS_URL`` switches to PostgreSQL, the Redis broker and Redis counters,
with separate worker processes.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str
from lib.logcontext import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

# Off unless asked for: `make run` sets DJANGO_DEBUG=true for itself, production leaves it unset.
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set unless DJANGO_DEBUG is true")
    SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105 - local development only
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["*"] if DEBUG else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set unless DJANGO_DEBUG is true (comma-separated host names)")

# HTTPS. On by default outside DEBUG; each can be turned off from the environment (e.g. a
# stack run over plain http on localhost). The proxy header is trusted by default outside DEBUG
# because production runs behind a TLS-terminating proxy that sets it; set
# SECURE_PROXY_SSL_HEADER to an empty string where no such proxy strips a client's own copy.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# The health probe of a load balancer or orchestrator talks plain http to the pod.
SECURE_REDIRECT_EXEMPT = env_list("SECURE_REDIRECT_EXEMPT", [r"^api/health$"])
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
_proxy_header = env_str("SECURE_PROXY_SSL_HEADER", "" if DEBUG else "HTTP_X_FORWARDED_PROTO,https")
if _proxy_header:
    _name, _sep, _value = _proxy_header.partition(",")
    if not _sep or not _name.strip() or not _value.strip():
        raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER must look like 'HTTP_X_FORWARDED_PROTO,https'")
    SECURE_PROXY_SSL_HEADER = (_name.strip(), _value.strip())
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "restoration.dashboard.error_pages.csrf_failure"
# Absolute base for URLs handed to API clients (polling_url, media_url, webhooks). Empty means
# "derive from the request".
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL").rstrip("/")
# Set by `manage.py runservice` to the origin it serves (never from the environment): what links
# built without a request use when PUBLIC_BASE_URL is not set (lib.base_url.stored_base_url).
SERVED_BASE_URL = ""

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc as static files: the docs work without internet
    "corsheaders",
    "django_dramatiq",
    # Sign-up, email verification, login, password reset and two-factor authentication.
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "auditlog",
    "accounts",
    "billing",
    "jobs",
    "restoration",
    "moderation",
]

MIDDLEWARE = [
    "lib.requestid.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # A PostgreSQL that accepts connections and then says nothing must not hold a web worker:
    # libpq gives up connecting after this (it counts anything under 2 as 2). A database that is
    # down answers 503 (config.errors), never 500.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DB_CONNECT_TIMEOUT_S", 5, minimum=2)
    )
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A fresh clone has no var/ until `make run` makes it; `manage.py migrate` straight away
    # would fail with "unable to open database file".
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # The embedded default runs web requests and the in-process worker on threads; WAL and a
    # busy timeout keep SQLite's writer lock from surfacing as "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
# The key look-up and the admission statement are prepared once per connection (lib.db); off for
# a connection pooler in transaction mode, which does not keep prepared statements.
DB_PREPARE_HOT_STATEMENTS = env_bool("DB_PREPARE_HOT_STATEMENTS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "account_login"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",  # the admin's login and operator commands
    "allauth.account.auth_backends.AuthenticationBackend",
]

# --- Accounts (django-allauth). A stranger signs up with an email address, which must be
# verified before the first login; existing users may also log in with their username.
ACCOUNT_LOGIN_METHODS = {"email", "username"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_FORMS = {
    "signup": "accounts.forms.SignupForm",
    "login": "accounts.forms.LoginForm",
    "change_password": "accounts.forms.ChangePasswordForm",
    "set_password": "accounts.forms.SetPasswordForm",
    "reset_password_from_key": "accounts.forms.ResetPasswordKeyForm",
}
# People are shown by name or email address, never by the username allauth derives for them.
ACCOUNT_USER_DISPLAY = "accounts.display.user_display"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[CodeFormer Cloud] "
# Security notices to the account's own address: password changed, set or reset, an address added,
# removed or made primary (to the old one), two-factor turned on or off, recovery codes used.
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
# Brute-force protection on login: failed attempts per client IP and per account (the login
# identifier), counted in Django's cache (Redis when REDIS_URL is set). A locked account says so
# on the form; other accounts from the same IP keep working until the per-IP budget is spent.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env_str("LOGIN_FAILED_RATE_LIMIT", "20/m/ip,5/5m/key"),
    "login": env_str("LOGIN_RATE_LIMIT", "30/m/ip"),
}
# Behind a proxy the client IP is the last-but-N X-Forwarded-For entry; 0 means REMOTE_ADDR.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
# How long a team invitation link works.
INVITATION_TTL_DAYS = env_int("INVITATION_TTL_DAYS", 7, minimum=1)
MFA_ADAPTER = "accounts.mfa_adapter.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "CodeFormer Cloud"
# One 30 s step either side, for phones whose clocks drift; a used code is refused within its window.
MFA_TOTP_TOLERANCE = 1

# --- Outgoing mail (verification, password reset, invitations), with Django 6.1's MAILERS
# (tests swap in the locmem outbox). SMTP to EMAIL_HOST, or to the local MTA on port 25 outside
# DEBUG when none is named; printed to the console in development.
_smtp_host = env_str("EMAIL_HOST", "" if DEBUG else "localhost")
if _smtp_host:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _smtp_host,
                "port": env_int("EMAIL_PORT", 25 if _smtp_host == "localhost" else 587, minimum=1),
                "username": env_str("EMAIL_HOST_USER"),
                "password": env_str("EMAIL_HOST_PASSWORD"),
                "use_tls": env_bool("EMAIL_USE_TLS", _smtp_host != "localhost"),
                "timeout": env_int("EMAIL_TIMEOUT", 10, minimum=1),
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "CodeFormer Cloud <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# Sentence case for the few headings django-allauth writes in title case (see the catalog's header).
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# In development WhiteNoise serves straight from the apps' static folders.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))

# --- Storage: local files by default, S3 (or any S3-compatible store) when a bucket is set.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    _media_backend = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "querystring_auth": True,
            "querystring_expire": env_int("MEDIA_URL_TTL_S", 3600, minimum=60),
            "file_overwrite": False,
            "default_acl": None,
        },
    }
else:
    _media_backend = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _media_backend,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Redis, the broker and the rate-limit counters.
REDIS_URL = env_str("REDIS_URL")
EMBEDDED_WORKER = env_bool("EMBEDDED_WORKER", not REDIS_URL)
# Every Redis client (rate-limit counters, broker, cache) gives up on a connect or a reply after
# these, so a Redis that hangs costs a request a fraction of a second instead of its web worker.
# The timeout is per socket operation (each reply), not per transfer. A worker process may be
# given larger values in its own environment.
REDIS_SOCKET_CONNECT_TIMEOUT_S = env_float("REDIS_SOCKET_CONNECT_TIMEOUT_S", 0.5, minimum=0.01)
REDIS_SOCKET_TIMEOUT_S = env_float("REDIS_SOCKET_TIMEOUT_S", 0.5, minimum=0.01)
REDIS_CONNECTION_OPTIONS = {
    "socket_connect_timeout": REDIS_SOCKET_CONNECT_TIMEOUT_S,
    "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
}
# After one failed Redis call a process skips that Redis for this long (lib.breaker): rate
# limiting fails open, and job messages are left to the stale-job sweep, which sends them once
# Redis answers again. Each request then pays no timeout at all.
REDIS_FAIL_OPEN_S = env_int("REDIS_FAIL_OPEN_S", 15, minimum=1)

_dramatiq_middleware = [
    "dramatiq.middleware.AgeLimit",
    "dramatiq.middleware.TimeLimit",
    # Raises Shutdown in actors that set notify_shutdown (process_job) when the worker stops.
    "dramatiq.middleware.ShutdownNotifications",
    "dramatiq.middleware.Callbacks",
    "dramatiq.middleware.Retries",
    "django_dramatiq.middleware.DbConnectionsMiddleware",
    "jobs.metrics.WorkerMetricsMiddleware",
]
if REDIS_URL:
    import redis

    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.redis.RedisBroker",
        # Our own pool, not {"url": ...}: RedisBroker builds the pool from a url alone and
        # silently drops connection options given next to it, timeouts included.
        "OPTIONS": {
            "connection_pool": redis.ConnectionPool.from_url(REDIS_URL, **REDIS_CONNECTION_OPTIONS),
            "namespace": env_str("DRAMATIQ_NAMESPACE", "codeformer"),
        },
        "MIDDLEWARE": _dramatiq_middleware,
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": dict(REDIS_CONNECTION_OPTIONS),
        }
    }
    RATE_LIMIT_STORAGE_URI = env_str("RATE_LIMIT_STORAGE_URI", REDIS_URL)
else:
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.stub.StubBroker",
        "OPTIONS": {},
        "MIDDLEWARE": _dramatiq_middleware,
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    RATE_LIMIT_STORAGE_URI = env_str("RATE_LIMIT_STORAGE_URI", "memory://")
DRAMATIQ_AUTODISCOVER_MODULES = ["actors"]

# --- API keys: digests are HMAC-SHA256 under this pepper (rotating it invalidates every key).
API_KEY_PEPPER = env_str("API_KEY_PEPPER") or hashlib.sha256(f"api-key:{SECRET_KEY}".encode()).hexdigest()

# --- Product limits.
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 20 * 1024 * 1024, minimum=1024)
MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS", 40_000_000, minimum=1)
MAX_OUTPUT_PIXELS = env_int("MAX_OUTPUT_PIXELS", 64_000_000, minimum=1)
MAX_IMAGES_PER_REQUEST = env_int("MAX_IMAGES_PER_REQUEST", 8, minimum=1)
# Django refuses request bodies past this before any view runs; base64 inflates by 4/3.
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES * 4 // 3 * MAX_IMAGES_PER_REQUEST + 64 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
IMAGE_FETCH_TIMEOUT_S = env_int("IMAGE_FETCH_TIMEOUT_S", 15, minimum=1)
IMAGE_FETCH_MAX_REDIRECTS = env_int("IMAGE_FETCH_MAX_REDIRECTS", 3, minimum=0)
# Image URLs one organization may have the server fetching at once (0: no limit). A fetch can
# take up to IMAGE_FETCH_TIMEOUT_S of a web worker; the cap keeps one tenant from taking them all.
IMAGE_FETCHES_PER_ORGANIZATION = env_int("IMAGE_FETCHES_PER_ORGANIZATION", 4, minimum=0)
# Networks the server may reach despite the SSRF rules (e.g. an internal image store). Empty in
# production; tests that need a local HTTP server add 127.0.0.1/32 for themselves.
try:
    OUTBOUND_ALLOWED_NETWORKS = [ipaddress.ip_network(n) for n in env_list("OUTBOUND_ALLOWED_NETWORKS")]
except ValueError as exc:
    raise ImproperlyConfigured(f"OUTBOUND_ALLOWED_NETWORKS: {exc}") from exc

RESULT_RETENTION_HOURS = env_int("RESULT_RETENTION_HOURS", 24, minimum=1)
MEDIA_URL_TTL_S = env_int("MEDIA_URL_TTL_S", 3600, minimum=60)
JOB_TIME_LIMIT_S = env_int("JOB_TIME_LIMIT_S", 900, minimum=10)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3, minimum=1)
# How often (at most) a running job's worker re-reads the job's row to learn of a cancel.
JOB_CANCEL_POLL_MS = env_int("JOB_CANCEL_POLL_MS", 500, minimum=50)
# A PROCESSING job not finished this long after it started belongs to a dead worker whatever its
# heartbeat says (the backstop: a thread stuck where the time limit cannot reach it). Must exceed
# the time limit, or a job still running inside its limit would be taken from its worker.
JOB_STALE_AFTER_S = env_int("JOB_STALE_AFTER_S", JOB_TIME_LIMIT_S + 120, minimum=10)
if JOB_STALE_AFTER_S <= JOB_TIME_LIMIT_S:
    raise ImproperlyConfigured(
        f"JOB_STALE_AFTER_S ({JOB_STALE_AFTER_S}) must exceed JOB_TIME_LIMIT_S ({JOB_TIME_LIMIT_S}): "
        "the sweep would re-queue jobs that are still running"
    )
DEMO_SYNC_TIMEOUT_S = env_int("DEMO_SYNC_TIMEOUT_S", 300, minimum=1)
# How long a process prices submissions from its copy of the price table (billing.pricing);
# an edit applies at once in the process that made it, within this many seconds elsewhere.
PRICE_TABLE_CACHE_S = env_int("PRICE_TABLE_CACHE_S", 10, minimum=0)
# The live feed (SSE) of a request: how often it looks for news, how long one connection lasts
# before the client reconnects (a web worker is never held longer), and the keep-alive period.
LIVE_STREAM_POLL_MS = env_int("LIVE_STREAM_POLL_MS", 500, minimum=50)
LIVE_STREAM_MAX_S = env_int("LIVE_STREAM_MAX_S", 55, minimum=1)
LIVE_STREAM_HEARTBEAT_S = env_int("LIVE_STREAM_HEARTBEAT_S", 15, minimum=1)
# `Prefer: wait=N` on the gateway's generate waits at most this long for the result.
GATEWAY_PREFER_WAIT_MAX_S = env_int("GATEWAY_PREFER_WAIT_MAX_S", 60, minimum=1)
# Each gpu worker writes its heartbeat this often; one not seen for WORKER_DEAD_AFTER_S is dead,
# and the sweep (every JOB_SWEEP_INTERVAL_S) re-queues its jobs: about a minute by default.
WORKER_HEARTBEAT_S = env_int("WORKER_HEARTBEAT_S", 15, minimum=1)
WORKER_DEAD_AFTER_S = env_int("WORKER_DEAD_AFTER_S", 3 * WORKER_HEARTBEAT_S, minimum=2)
if WORKER_DEAD_AFTER_S <= WORKER_HEARTBEAT_S:
    raise ImproperlyConfigured(
        f"WORKER_DEAD_AFTER_S ({WORKER_DEAD_AFTER_S}) must exceed WORKER_HEARTBEAT_S ({WORKER_HEARTBEAT_S}): "
        "a live worker would count as dead between two beats and lose its running jobs"
    )
JOB_SWEEP_INTERVAL_S = env_int("JOB_SWEEP_INTERVAL_S", 15, minimum=1)
# Delays (seconds) before each webhook attempt after the first: 7 attempts over ~3.6 hours.
WEBHOOK_RETRY_DELAYS_S = [
    int(s) for s in env_list("WEBHOOK_RETRY_DELAYS_S", ["30", "120", "600", "1800", "3600", "7200"])
]
WEBHOOK_TIMEOUT_S = env_int("WEBHOOK_TIMEOUT_S", 10, minimum=1)
WEBHOOK_SECRET_OVERLAP_HOURS = env_int("WEBHOOK_SECRET_OVERLAP_HOURS", 24, minimum=0)

# --- The engine.
WEIGHTS_DIR = Path(env_str("WEIGHTS_DIR", str(BASE_DIR / "weights")))
ML_DEVICE = env_str("ML_DEVICE", "auto")
if ML_DEVICE not in {"auto", "cpu", "cuda", "mps"}:
    raise ImproperlyConfigured(f"ML_DEVICE must be auto, cpu, cuda or mps, got {ML_DEVICE!r}")
ML_NUM_THREADS = env_int("ML_NUM_THREADS", 0, minimum=0) or None
ML_BG_TILE = env_int("ML_BG_TILE", 400, minimum=32)  # a Real-ESRGAN tile's area bound: ML_BG_TILE² pixels
# On a CPU the faces and tiles of a job run side by side, one torch thread each (ml/parallel.py):
# 0 = as many at once as torch threads, 1 = one after another.
ML_CPU_PARALLEL = env_int("ML_CPU_PARALLEL", 0, minimum=0) or None
# GPU worker throughput: with several worker threads (rundramatiq --threads N) sharing one
# engine, the faces of concurrent jobs are restored in shared forwards of up to ML_FACE_BATCH
# faces, gathered for at most ML_FACE_BATCH_WINDOW_MS (ml/batching.py). 0 or 1: off (CPU).
# Fair sharing between GPU workers: run them with dramatiq_queue_prefetch=N (the env var the
# Dramatiq worker reads), so a worker holds no more gpu messages than it runs.
ML_FACE_BATCH = env_int("ML_FACE_BATCH", 0, minimum=0)
ML_FACE_BATCH_WINDOW_MS = env_int("ML_FACE_BATCH_WINDOW_MS", 20, minimum=0)
# CodeFormer's weights are non-commercial (S-Lab License 1.0): list only the models this
# deployment has the rights to serve.
ENABLED_MODELS = env_list("ENABLED_MODELS", ["codeformer"])
# Dotted path of the engine factory the worker uses; tests point it at small fakes where the
# real network is not what is under test.
RESTORATION_ENGINE = env_str("RESTORATION_ENGINE", "jobs.engine.build_pipeline")

# --- HTTP API.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_PARSER_CLASSES": [
        "restoration.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "config.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CodeFormer face restoration API",
    "DESCRIPTION": "Asynchronous gateway API and synchronous demo API for CodeFormer face restoration.",
    # The description is replaced by restoration.api.schema.api_guide (authentication, money,
    # limits and headers, results, webhooks), written from this deployment's settings.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "restoration.api.schema.add_guide"],
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The order of the docs' sections: the API customers call first, abuse reports last (the
    # tools otherwise list tags in the order the paths come, and /api/abuse/... sorts first).
    "TAGS": [
        {"name": "Gateway API", "description": "Queue restorations, then poll, stream or take a webhook."},
        {"name": "Demo API", "description": "Restore in one call and get the result in the answer."},
        {"name": "Trust and safety", "description": "Report a restoration that should not exist."},
    ],
    # A key pasted into "Authorize" survives a reload of the page (it stays in this browser).
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "deepLinking": True},
}
CORS_ALLOW_ALL_ORIGINS = True
CORS_URLS_REGEX = r"^/(api|v2|codeformer-image-restoration)/.*$"
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "cache-control",
    "content-type",
    "idempotency-key",
    "last-event-id",
    "ocp-apim-subscription-key",
    "prefer",
    "x-webhook-url",
    "x-requested-with",
]
# Every header the API documents in an answer, so a browser app can read them too.
CORS_EXPOSE_HEADERS = [
    "retry-after",
    "x-request-id",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-policy",
    "idempotent-replayed",
    "preference-applied",
]

# --- Trust and safety.
# Staff pages need a second factor (allauth.mfa) outside development.
STAFF_REQUIRE_2FA = env_bool("STAFF_REQUIRE_2FA", not DEBUG)
# The largest wallet adjustment a staff member may type, either way (minor units; default
# $1,000.00): a slip of the keyboard must not mint a fortune. Larger credits come as payments.
STAFF_ADJUSTMENT_MAX = env_int("STAFF_ADJUSTMENT_MAX", 100_000, minimum=1)
# PDQ: inputs within this many bits (of 256) of a blocked hash are refused; ThreatExchange uses 31.
PDQ_MATCH_DISTANCE = env_int("PDQ_MATCH_DISTANCE", 31, minimum=0)
# Hashes of flat, featureless images (quality below this) collide too easily to refuse anyone on.
PDQ_MIN_QUALITY = env_int("PDQ_MIN_QUALITY", 50, minimum=0)
ABUSE_REPORTS_PER_HOUR = env_int("ABUSE_REPORTS_PER_HOUR", 5, minimum=1)
ABUSE_REPORT_MIN_SECONDS = env_int("ABUSE_REPORT_MIN_SECONDS", 3, minimum=0)
ABUSE_REPORT_CHALLENGE_MAX_AGE_S = env_int("ABUSE_REPORT_CHALLENGE_MAX_AGE_S", 3600, minimum=60)
# Reverse proxies in front of the app that append to X-Forwarded-For (the client's address is
# that many entries from the right). Production runs behind one, as SECURE_PROXY_SSL_HEADER assumes.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0 if DEBUG else 1, minimum=0)
# The audit trail (django-auditlog) names the request each entry came from.
AUDITLOG_CID_GETTER = "lib.requestid.current_request_id"

# --- Stripe (top-ups, auto-recharge, subscriptions) switches on when configured.
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
# Where customers write for credit when card payments are off (and for invoices): the wallet
# page shows it. By default billing@ the first named host of ALLOWED_HOSTS.
_named_hosts = [h.lstrip(".") for h in ALLOWED_HOSTS if h not in {"*", "localhost", "127.0.0.1"} and "*" not in h]
BILLING_CONTACT_EMAIL = env_str("BILLING_CONTACT_EMAIL", f"billing@{_named_hosts[0] if _named_hosts else 'localhost'}")
if "@" not in BILLING_CONTACT_EMAIL:
    raise ImproperlyConfigured(f"BILLING_CONTACT_EMAIL must be an email address, got {BILLING_CONTACT_EMAIL!r}")
# Where customers write about a suspended organization, a revoked key set or a taken-down result
# (the dashboard, the 403s and the suspension e-mail name it). By default the billing address,
# so a deployment with one inbox needs nothing more.
SUPPORT_CONTACT_EMAIL = env_str("SUPPORT_CONTACT_EMAIL", BILLING_CONTACT_EMAIL)
if "@" not in SUPPORT_CONTACT_EMAIL:
    raise ImproperlyConfigured(f"SUPPORT_CONTACT_EMAIL must be an email address, got {SUPPORT_CONTACT_EMAIL!r}")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
# Card top-ups: the preset amounts offered and the bounds of a custom amount (minor units).
TOPUP_MIN_AMOUNT = env_int("TOPUP_MIN_AMOUNT", 500, minimum=50)
TOPUP_MAX_AMOUNT = env_int("TOPUP_MAX_AMOUNT", 1_000_000, minimum=TOPUP_MIN_AMOUNT)
TOPUP_PRESETS = [int(v) for v in env_list("TOPUP_PRESETS", ["1000", "2500", "5000", "10000", "25000"])]
if any(not TOPUP_MIN_AMOUNT <= v <= TOPUP_MAX_AMOUNT for v in TOPUP_PRESETS):
    raise ImproperlyConfigured("TOPUP_PRESETS must lie between TOPUP_MIN_AMOUNT and TOPUP_MAX_AMOUNT")
# Who issues the receipts (name, address, tax id), printed at the top of every receipt.
RECEIPT_SELLER_NAME = env_str("RECEIPT_SELLER_NAME", "CodeFormer Cloud")
# Failed off-session charges in a row after which auto-recharge switches itself off.
AUTO_RECHARGE_MAX_FAILURES = env_int("AUTO_RECHARGE_MAX_FAILURES", 3, minimum=1)
# What one GPU-second costs us (minor units, may be fractional): the staff report shows margin
# per image when set.
GPU_COST_PER_SECOND = float(env_str("GPU_COST_PER_SECOND", "0") or 0)

# Billing notices go out through Django's mail API (whatever mail backend is configured). For
# a production provider install django-anymail (pinned in requirements/web.txt), point the mail
# backend at e.g. "anymail.backends.postmark.EmailBackend" and set ANYMAIL_* variables:
ANYMAIL = {key[len("ANYMAIL_") :]: value for key, value in os.environ.items() if key.startswith("ANYMAIL_")}
# Models whose non-commercial weights this deployment has written permission to sell (e.g.
# "codeformer" after the S-Lab licensors granted it). Matters on a commercial deployment.
COMMERCIAL_LICENCE_GRANTED = env_list("COMMERCIAL_LICENCE_GRANTED")
# Whether this deployment sells restorations. A production one does unless its operator says
# otherwise: wallets are charged per photo whether the credit came from Stripe or from an invoice
# that staff booked, so "no Stripe keys" does not make it non-commercial. Only the development
# default (DJANGO_DEBUG=true, `make run` on one's own machine) assumes a try-out; a research or
# personal deployment sets COMMERCIAL_DEPLOYMENT=false. Stripe keys make any deployment commercial.
COMMERCIAL_DEPLOYMENT = env_bool("COMMERCIAL_DEPLOYMENT", not DEBUG)
# The billing details' country list (django-countries) under the names people look for.
COUNTRIES_OVERRIDE = {"BS": "Bahamas", "NR": "Nauru"}

# Plain lines for a developer, JSON (one object a line, with the request ids) for production.
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be plain or json")
LOGGING = logging_config(fmt=LOG_FORMAT, level=env_str("LOG_LEVEL", "INFO"))

# --- Metrics: the web's /metrics answers only a bearer of METRICS_TOKEN (404 while unset); each
# worker process serves its own on WORKER_METRICS_PORT (0: off).
METRICS_TOKEN = env_str("METRICS_TOKEN")
WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 0, minimum=0)
