"""One settings module, configured from the environment (see .env.example).

Development defaults are safe and local (SpatiaLite file, Redis on localhost);
with DEBUG off the app refuses to start without a real SECRET_KEY and
FIELD_ENCRYPTION_KEY.
"""

import base64
import hashlib
import re
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from redis.connection import parse_url as parse_redis_url

from fleet import __version__ as fleet_version

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")  # empty counts as unset


def _weak_secret(key: str) -> bool:
    return len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure") or "change-me" in key


if DEBUG and not SECRET_KEY:
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production-0123456789"  # noqa: S105
elif _weak_secret(SECRET_KEY):
    raise ImproperlyConfigured("SECRET_KEY must be set to a random string of at least 50 characters when DEBUG is off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])


def _field_encryption_keys() -> list[str]:
    keys = env.list("FIELD_ENCRYPTION_KEY", default=[])
    if keys:
        return keys
    if not DEBUG:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY (a Fernet key) must be set when DEBUG is off.")
    return [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]


# First key encrypts; all keys decrypt (comma-separated, for rotation).
FIELD_ENCRYPTION_KEYS = _field_encryption_keys()

INSTALLED_APPS = [
    "daphne",
    "fleet.core.adminsite.FleetAdminConfig",  # django.contrib.admin, its site asking fleet.core.access
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "leaflet",
    "channels",
    "axes",
    "csp",
    "fleet.core",
    "fleet.vendors",
    "fleet.tracking",
    "fleet.geo",
    "fleet.dispatch",
    "fleet.events",
    "fleet.webhooks",
    "fleet.api",
    "fleet.live",
    "fleet.reports",
    "fleet.web",
    "fleet.simulators",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout page
]

ROOT_URLCONF = "fleet.urls"
WSGI_APPLICATION = "fleet.wsgi.application"
ASGI_APPLICATION = "fleet.asgi.application"

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
                "fleet.web.context.navigation",
            ],
        },
    },
]

# postgres:// URLs get the PostGIS backend: the model needs GeoDjango either way.
_DB_ENGINES = {
    "django.db.backends.postgresql": "django.contrib.gis.db.backends.postgis",
    "django.db.backends.sqlite3": "django.contrib.gis.db.backends.spatialite",
}
DATABASE_URL = env.str("DATABASE_URL", default="") or f"spatialite:///{BASE_DIR / 'fleet.sqlite3'}"
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
DATABASES["default"]["ENGINE"] = _DB_ENGINES.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
# Spelled out (Django would derive the same): the live-server tests' forked Daphne derives it again from a
# NAME that already is the test database's, so an implicit name would become test_test_<name> there.
DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str("TEST_DATABASE_NAME", default=None) or (
    f"test_{DATABASES['default']['NAME']}" if not DATABASES["default"]["ENGINE"].endswith("spatialite") else None
)
if DATABASES["default"]["ENGINE"].endswith("spatialite"):
    # Web, worker, beat and the stream process write at once: WAL, waiting for locks, IMMEDIATE
    # transactions; tests get a file too, so threads and subprocesses share their database.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"]["NAME"] = DATABASES["default"]["TEST"]["NAME"] or str(BASE_DIR / ".run/test.sqlite3")
    (BASE_DIR / ".run").mkdir(exist_ok=True)
SPATIALITE_LIBRARY_PATH = env.str("SPATIALITE_LIBRARY_PATH", default="mod_spatialite")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Invitations (fleet/core/members.py) go out by email: the console in development, SMTP in production
# (EMAIL_URL such as smtp+tls://user:password@mail.example.com:587).
EMAIL_URL = env.str("EMAIL_URL", default="") or ("consolemail://" if DEBUG else "smtp://localhost:25")
vars().update(env.email_url_config(EMAIL_URL))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="fleet <fleet@localhost>")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login throttling (django-axes): every password login (the login page, the admin's) is checked first; after
# LOGIN_FAILURE_LIMIT failures of one username from one IP address, that pair is locked for LOGIN_LOCKOUT_MINUTES
# (HTTP 429 and a page saying so; its passwords are not even hashed meanwhile). A successful login clears the
# count; superusers unlock early in the admin (Axes: Access attempts).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "fleet.core.auth.lockout"  # templates/registration/locked_out.html
AXES_DISABLE_ACCESS_LOG = True  # failures are recorded, successful logins are not
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
# Django itself keeps UTC; TIME_ZONE from the environment is the default for new organisations.
TIME_ZONE = "UTC"
FLEET_DEFAULT_TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# With DEBUG off, pages link the hashed names of STATIC_ROOT/staticfiles.json: collectstatic must have run
# (make run does; manage.py check --deploy warns when the manifest is missing or behind).
STATIC_ROOT = Path(env.str("STATIC_ROOT", default="") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded files (task files): kept here, never served as static files (reach them through the app).
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default="") or BASE_DIR / "media")
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

REDIS_URL = env.str("REDIS_URL", default="") or "redis://127.0.0.1:6379/0"


def default_channel_prefix(secret_key: str, database_name: str, redis_url: str) -> str:
    """This installation's channel-layer prefix. Redis pub/sub ignores the database number, so without it
    installations sharing a Redis server share every group. All processes of one installation agree on
    the SECRET_KEY (sessions), the database and the Redis database; two installations differ in one."""
    redis_db = parse_redis_url(redis_url).get("db", 0)
    seed = f"fleet channel prefix\n{secret_key}\n{database_name}\n{redis_db}"
    return f"fleet{hashlib.sha256(seed.encode()).hexdigest()[:12]}."


CHANNEL_PREFIX = env.str("CHANNEL_PREFIX", default="") or default_channel_prefix(
    SECRET_KEY, str(DATABASES["default"]["NAME"]), REDIS_URL
)
if not re.fullmatch(r"[A-Za-z0-9._-]{1,40}", CHANNEL_PREFIX):
    raise ImproperlyConfigured("CHANNEL_PREFIX may hold only letters, digits, '.', '_' and '-' (at most 40).")
CHANNEL_LAYERS = {
    "default": {
        # channels_redis's RedisPubSubChannelLayer, decoding a group message once per process; the prefix
        # starts every channel and group name it subscribes to or publishes on.
        "BACKEND": "fleet.live.layers.SharedDecodePubSubLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": CHANNEL_PREFIX, "capacity": 5000, "expiry": 30},
    }
}
# The live socket (docs/live-protocol.md): seconds between access re-checks, and the least time between two
# snapshots a client's `resync` frames may cost.
LIVE_ACCESS_CHECK_S = env.float("LIVE_ACCESS_CHECK_S", default=30.0)
LIVE_RESYNC_MIN_S = env.float("LIVE_RESYNC_MIN_S", default=10.0)
if not 0 < LIVE_ACCESS_CHECK_S <= 60 or LIVE_RESYNC_MIN_S < 0:
    raise ImproperlyConfigured("LIVE_ACCESS_CHECK_S must be in (0, 60] seconds and LIVE_RESYNC_MIN_S at least 0.")

# Django's cache (the reports' closed-day cache, fleet/reports/cache.py), shared by every process.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "fleet",
    }
}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
if CELERY_BROKER_URL.startswith("redis://"):
    # kombu's Redis transport with a worker's exit at a Redis restart mended (fleet/core/broker.py)
    CELERY_BROKER_TRANSPORT = "fleet.core.broker:Transport"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_TIME_LIMIT = 600
CELERY_TASK_SOFT_TIME_LIMIT = 540
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_BEAT_SCHEDULE = {
    "enqueue-due-syncs": {"task": "fleet.vendors.tasks.enqueue_due_syncs", "schedule": 5.0},
    "prune-sync-runs": {"task": "fleet.vendors.tasks.prune_sync_runs", "schedule": 86400.0},
    "recover-ingest-backlog": {"task": "fleet.tracking.tasks.recover_ingest_backlog", "schedule": 60.0},
    "maintain-position-partitions": {"task": "fleet.tracking.tasks.maintain_partitions", "schedule": 3600.0},
    "refresh-device-states": {"task": "fleet.live.tasks.refresh_device_states", "schedule": 15.0},
    "report-offline-devices": {"task": "fleet.events.tasks.report_offline", "schedule": 60.0},
    "check-tasks": {"task": "fleet.events.tasks.check_tasks", "schedule": 60.0},
    "check-maintenance": {"task": "fleet.events.tasks.check_maintenance", "schedule": 900.0},
    "prune-report-jobs": {"task": "fleet.reports.tasks.prune_report_jobs", "schedule": 86400.0},
    "prune-gpx-imports": {"task": "fleet.tracking.tasks.prune_gpx_imports", "schedule": 86400.0},
    # At :05 and :35: within minutes of each local midnight (whole and half-hour offsets), and of 01:00 UTC,
    # when the archive closes the UTC day and the keys of the days that read it change.
    "warm-report-cache": {"task": "fleet.reports.tasks.warm_report_cache", "schedule": crontab(minute="5,35")},
    "send-scheduled-reports": {"task": "fleet.reports.tasks.send_scheduled_reports", "schedule": 300.0},
    "archive-closed-days": {"task": "fleet.tracking.tasks.archive_closed_days", "schedule": 86400.0},
    "deliver-overdue-webhooks": {"task": "fleet.webhooks.tasks.deliver_overdue", "schedule": 60.0},
    "prune-webhook-deliveries": {"task": "fleet.webhooks.tasks.prune_deliveries", "schedule": 86400.0},
    "fill-address-cache": {"task": "fleet.geo.tasks.fill_address_cache", "schedule": 60.0},
}

# Webhooks (fleet/webhooks/send.py): per-request timeout (s); retries from WEBHOOK_RETRY_BASE_S doubling up to
# WEBHOOK_RETRY_MAX_S apart (kept under the Redis broker's one-hour visibility timeout, so a countdown is never
# delivered twice) for WEBHOOK_RETRY_FOR_S; an endpoint whose attempts all failed WEBHOOK_DISABLE_AFTER_FAILURES
# times in a row over at least WEBHOOK_DISABLE_AFTER_S is switched off; the delivery log is kept WEBHOOK_LOG_DAYS.
WEBHOOK_TIMEOUT_S = env.float("WEBHOOK_TIMEOUT_S", default=10.0)
WEBHOOK_RETRY_BASE_S = env.float("WEBHOOK_RETRY_BASE_S", default=30.0)
WEBHOOK_RETRY_MAX_S = env.float("WEBHOOK_RETRY_MAX_S", default=1800.0)
WEBHOOK_RETRY_FOR_S = env.int("WEBHOOK_RETRY_FOR_S", default=86400)
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=20)
WEBHOOK_DISABLE_AFTER_S = env.int("WEBHOOK_DISABLE_AFTER_S", default=86400)
WEBHOOK_LOG_DAYS = env.int("WEBHOOK_LOG_DAYS", default=30)

# The vendors' own reports beside ours ("As reported by vendor", the vendor's POI visits beside the visits report):
# the reports app reaches vendor code only here.
REPORTS_VENDOR_FETCH = "fleet.vendors.reports.fetch"
REPORTS_VENDOR_POI_VISITS = "fleet.vendors.reports.poi_visits"
# Background report jobs (fleet/reports/jobs.py): the Celery queue they go to (empty: the default queue; a
# worker started with -Q <queue> serves them), and how many may be queued or running at once per user and per
# organisation (more are refused with HTTP 429 until one is done).
REPORTS_QUEUE = env.str("REPORTS_QUEUE", default="")
REPORT_JOBS_PER_USER = env.int("REPORT_JOBS_PER_USER", default=3)
REPORT_JOBS_PER_ORGANIZATION = env.int("REPORT_JOBS_PER_ORGANIZATION", default=10)

# Positions on PostgreSQL live in daily range partitions created this many days ahead;
# partitions (and SpatiaLite rows) older than the retention are dropped. 0 keeps everything.
POSITION_PARTITION_DAYS_AHEAD = env.int("POSITION_PARTITION_DAYS_AHEAD", default=7)
POSITION_RETENTION_DAYS = env.int("POSITION_RETENTION_DAYS", default=0)

# GPX uploads: the address space (MB) reading one file may add to its worker process (fleet/tracking/gpxjobs.py).
GPX_IMPORT_MEMORY_MB = env.int("GPX_IMPORT_MEMORY_MB", default=1024)

# Vendor HTTP: per-request timeout (s), attempts on connection errors/5xx, history fetched on a first sync.
VENDOR_HTTP_TIMEOUT = env.float("VENDOR_HTTP_TIMEOUT", default=20.0)
VENDOR_HTTP_ATTEMPTS = env.int("VENDOR_HTTP_ATTEMPTS", default=4)
VENDOR_INITIAL_HISTORY_S = env.int("VENDOR_INITIAL_HISTORY_S", default=86400)
# A sync run starts no chunk of devices' positions after this many seconds: the rest is the next run's, at once.
SYNC_POSITIONS_BUDGET_S = env.float("SYNC_POSITIONS_BUDGET_S", default=120.0)
# fleet-v2 (Telemax) counts its rate limits over this many seconds (60 at the vendor; shorter against a simulator).
FLEETV2_RATE_WINDOW_S = env.float("FLEETV2_RATE_WINDOW_S", default=60.0)
POI_REPORT_TIMEOUT_S = env.int("POI_REPORT_TIMEOUT_S", default=900)  # a vendor's POI report not made by then fails
# The event engine (fleet/events) runs on every ingested batch; off only for a bench comparing ingest without it.
EVENTS_ENGINE = env.bool("EVENTS_ENGINE", default=True)
# Files attached to tasks (images, PDF documents): the largest accepted, in bytes.
TASK_FILE_MAX_BYTES = env.int("TASK_FILE_MAX_BYTES", default=10 * 1024 * 1024)
# Metrotec and iTrack (Navixy: code 15 = too many requests) document no rate. fleet learns one per account, shared
# by every worker (fleet/vendors/ratelimit.py): it starts at *_RATE requests/s, grows by that much per second of
# traffic while the vendor answers, halves on a 429, a 5xx or a timeout, and never exceeds *_RATE_MAX; besides,
# never more than *_CONCURRENCY history requests of one sync are in flight at once.
METROTEC_RATE = env.float("METROTEC_RATE", default=50.0)
METROTEC_RATE_MAX = env.float("METROTEC_RATE_MAX", default=400.0)
METROTEC_CONCURRENCY = env.int("METROTEC_CONCURRENCY", default=8)
ITRACK_RATE = env.float("ITRACK_RATE", default=20.0)
ITRACK_RATE_MAX = env.float("ITRACK_RATE_MAX", default=400.0)
ITRACK_CONCURRENCY = env.int("ITRACK_CONCURRENCY", default=8)
# Metrotec's fuel events cost a request per vehicle: asked at most this often (seconds), not on every sync.
METROTEC_EVENTS_EVERY_S = env.int("METROTEC_EVENTS_EVERY_S", default=600)
# Vendor servers on loopback, private, link-local (cloud metadata), multicast or reserved addresses are refused
# (fleet/core/egress.py) unless this is on: on in development (the demo's simulators are on 127.0.0.1), off in
# production unless a vendor server really is on the private network.
VENDOR_ALLOW_PRIVATE_NETWORKS = env.bool("VENDOR_ALLOW_PRIVATE_NETWORKS", default=DEBUG)

# Addresses (fleet/geo/geocoding, docs/geocoding.md). Offline answers (geofences, POIs, the streets table) need no
# setting. GEOCODER_URL names a Nominatim or Photon server (GEOCODER_KIND: nominatim | photon) whose answers are
# cached per ~10 m cell for GEOCODER_CACHE_DAYS; a Celery task asks for the cells reports and the device card
# missed, GEOCODER_BATCH at most per run, GEOCODER_RATE requests/s at most (1: the public Nominatim's policy),
# each within GEOCODER_TIMEOUT_S. Nominatim requires a User-Agent naming the application and a contact
# (default: fleet/<version> and the address of DEFAULT_FROM_EMAIL). GEOCODER_LANGUAGE: Accept-Language / lang.
# The URL is the operator's configuration, so a server on loopback or the private network (a self-hosted
# Nominatim) is allowed unless GEOCODER_ALLOW_PRIVATE_NETWORKS is false; the address guard still runs.
GEOCODER_URL = env.str("GEOCODER_URL", default="")
GEOCODER_KIND = env.str("GEOCODER_KIND", default="nominatim")
if GEOCODER_KIND not in ("nominatim", "photon"):
    raise ImproperlyConfigured("GEOCODER_KIND must be nominatim or photon.")
GEOCODER_RATE = env.float("GEOCODER_RATE", default=1.0)
if not GEOCODER_RATE > 0:
    raise ImproperlyConfigured("GEOCODER_RATE must be a number of requests per second above 0.")
GEOCODER_BATCH = env.int("GEOCODER_BATCH", default=50)
GEOCODER_TIMEOUT_S = env.float("GEOCODER_TIMEOUT_S", default=5.0)
GEOCODER_CACHE_DAYS = env.int("GEOCODER_CACHE_DAYS", default=90)
GEOCODER_LANGUAGE = env.str("GEOCODER_LANGUAGE", default="")
GEOCODER_USER_AGENT = env.str("GEOCODER_USER_AGENT", default="").strip() or (
    f"fleet/{fleet_version} ({parseaddr(DEFAULT_FROM_EMAIL)[1] or 'no contact'})"
)
GEOCODER_ALLOW_PRIVATE_NETWORKS = env.bool("GEOCODER_ALLOW_PRIVATE_NETWORKS", default=True)

# The REST API (fleet/api, docs/api.md): a user's API tokens (Bearer) or the dashboard's session.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "fleet.api.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "fleet.api.auth.TokenScope"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "fleet.api.paging.ById",
    "PAGE_SIZE": 100,
    "DEFAULT_THROTTLE_CLASSES": ["fleet.api.auth.TokenThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api": env.str("API_THROTTLE_RATE", default="600/min")},
    "EXCEPTION_HANDLER": "fleet.api.errors.handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "fleet API",
    "VERSION": "1.0.0",
    "DESCRIPTION": "Devices, positions (and a cursor feed), events, geofences and POIs (GeoJSON), tasks. "
    "Authenticate with `Authorization: Bearer <token>` (tokens are made on the API tokens page).",
    "COMPONENT_SPLIT_REQUEST": True,  # read-only fields only in answers, Features only in answers
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "fleet.api.schema.drop_database_int_bounds",
        "fleet.api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "fleet.dispatch.models.Task.Status",
        "DeviceStatusEnum": "fleet.tracking.models.Device.Status",
        "FeatureTypeEnum": ["Feature"],
    },
}

LEAFLET_CONFIG = {
    "DEFAULT_CENTER": (env.float("MAP_CENTER_LAT", default=60.17), env.float("MAP_CENTER_LON", default=24.94)),
    "DEFAULT_ZOOM": env.int("MAP_ZOOM", default=12),
    "TILES": [
        (
            "Map",
            env.str("MAP_TILE_URL", default="https://tile.openstreetmap.org/{z}/{x}/{y}.png"),
            {
                "attribution": env.str("MAP_TILE_ATTRIBUTION", default="&copy; OpenStreetMap contributors"),
                "maxZoom": 19,
            },
        )
    ],
    "RESET_VIEW": False,
}
# The offline street map every map falls back to when MAP_TILE_URL does not answer: a PMTiles archive served by
# fleet itself (default: the demo's streets of central Helsinki; empty: none), or instead a self-hosted
# {z}/{x}/{y} raster tile URL. A relative path is taken from the project's directory.
_offline_pmtiles = env.str("MAP_OFFLINE_PMTILES", default="fleet/simulators/data/helsinki_basemap.pmtiles")
MAP_OFFLINE = {
    "PMTILES": BASE_DIR / _offline_pmtiles if _offline_pmtiles else None,
    "TILE_URL": env.str("MAP_OFFLINE_TILE_URL", default=""),
    "ATTRIBUTION": env.str("MAP_OFFLINE_ATTRIBUTION", default="&copy; OpenStreetMap contributors"),
}


def _tile_origin(url: str) -> str | None:
    """The CSP source of a tile URL template: its scheme and host, a {s} subdomain as a wildcard; None for a
    URL on this site."""
    parts = urlsplit(url)
    if not parts.netloc:
        return None
    host = re.sub(r"\{[^}]*\}", "*", parts.netloc)
    return f"{parts.scheme}://{host}"


# Content-Security-Policy (django-csp): scripts and styles only from our static files (no inline script; the
# admin's map widget gets a nonce), images also from the tile servers, data only from this site.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        # data: for Leaflet's blank tile (a 1x1 GIF it puts in place of a tile that failed or left the view)
        "img-src": [
            SELF,
            "data:",
            *filter(None, (_tile_origin(url) for _, url, _ in LEAFLET_CONFIG["TILES"])),
            *filter(None, [_tile_origin(MAP_OFFLINE["TILE_URL"])]),
        ],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}

if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    # Off only where the site is served over plain HTTP on one's own machine (make run).
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)

# Debian 12 ships GDAL 3.6; we never open user-supplied raster/vector files with GDAL.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]
