"""Settings, 12-factor: everything comes from the environment (see .env.example).

With DATABASE_URL unset an embedded PostgreSQL (pgserver) runs under .data/pg; with
CELERY_BROKER_URL unset tasks run eagerly in-process. Production sets both.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parents[2]
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# A secret with a default only while debugging: production fails loudly without one.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-key" if DEBUG else environ.Env.NOTSET)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "usage",
    "billing",
    "leaderboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
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
                "config.context_processors.site",
                "leaderboard.context_processors.nav",
            ],
        },
    },
]


def _database_url() -> str:
    url = env("DATABASE_URL", default="")
    if url:
        return url
    # No server configured: start (or reuse) an embedded PostgreSQL under .data/pg.
    from config.embedded_pg import embedded_database_url

    return embedded_database_url(BASE_DIR / ".data" / "pg")


DATABASES = {"default": env.db_url_config(_database_url())}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
# Dashboard aggregates cost more to JIT-compile than to run (seconds at 50k engineers).
DATABASES["default"].setdefault("OPTIONS", {})["options"] = env("DATABASE_OPTIONS", default="-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Optional single sign-on (OpenID Connect), off unless OIDC_RP_CLIENT_ID is set. Users are
# matched by email to the accounts import_org creates (username = email, lower case).
OIDC_ENABLED = bool(env("OIDC_RP_CLIENT_ID", default=""))
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
if OIDC_ENABLED:
    INSTALLED_APPS.append("mozilla_django_oidc")
    AUTHENTICATION_BACKENDS.insert(0, "config.oidc.EmailMatchingOIDCBackend")
    OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID")
    OIDC_RP_CLIENT_SECRET = env("OIDC_RP_CLIENT_SECRET")
    OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_OP_AUTHORIZATION_ENDPOINT")
    OIDC_OP_TOKEN_ENDPOINT = env("OIDC_OP_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = env("OIDC_OP_USER_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = env("OIDC_OP_JWKS_ENDPOINT", default=None)
    OIDC_RP_SIGN_ALGO = env("OIDC_RP_SIGN_ALGO", default="RS256")
    OIDC_RP_SCOPES = "openid email profile"
    # Only people in the org chart (or already known) may sign in: no accounts from thin air.
    OIDC_CREATE_USER = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / ".data" / "static")
# Raw export bytes are kept here (ImportBatch.raw_file). Workers on other hosts need the
# same storage: a shared volume, or an object store through django-storages.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / ".data" / "media")
MEDIA_URL = "media/"

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="tokenboard@localhost")

# Celery: a broker URL means real workers; none means tasks run in-process, eagerly.
CELERY_TASK_ALWAYS_EAGER = not env("CELERY_BROKER_URL", default="")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or "memory://"
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=60 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=55 * 60)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"usage.tasks.import_batch_process_task": {"queue": "ingest"}}
CELERY_BEAT_SCHEDULE = {
    # Monthly partitions of the raw usage table, three months ahead (usage/services/partitions.py).
    "ensure-usage-partitions": {
        "task": "usage.tasks.usage_partitions_ensure_task",
        "schedule": 6 * 3600.0,
    },
    "requeue-stale-import-batches": {
        "task": "usage.tasks.import_batch_requeue_stale_task",
        "schedule": 300.0,
    },
    # Connected sources (UsageSource) whose next run has come: each is queued, one run at a time.
    "run-due-sources": {
        "task": "usage.tasks.usage_sources_due_task",
        "schedule": env.float("SOURCES_DUE_EVERY_SECONDS", default=300.0),
    },
    # Caps and budgets of everyone, hourly: alerts, forecasts, and the cap-check table.
    "evaluate-caps": {
        "task": "billing.tasks.caps_evaluate_task",
        "schedule": env.float("CAP_EVALUATE_EVERY_SECONDS", default=3600.0),
    },
    # Spend anomalies of everyone over the last ANOMALY_RESCAN_DAYS, daily (also after each import).
    "detect-spend-anomalies": {
        "task": "billing.tasks.spend_anomalies_detect_task",
        "schedule": env.float("ANOMALY_DETECT_EVERY_SECONDS", default=86400.0),
    },
}

# Ingest
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=200 * 1024 * 1024)
# A batch still pending or running after this many minutes is handed to a worker again.
IMPORT_STALE_AFTER_MINUTES = env.int("IMPORT_STALE_AFTER_MINUTES", default=30)
# Connected sources: HTTP timeout per request (s); a run older than this many minutes is
# presumed dead and may be claimed again; at most this many days are pulled per run.
SOURCE_HTTP_TIMEOUT = env.float("SOURCE_HTTP_TIMEOUT", default=30.0)
SOURCE_STALE_AFTER_MINUTES = env.int("SOURCE_STALE_AFTER_MINUTES", default=60)
SOURCE_MAX_DAYS_PER_RUN = env.int("SOURCE_MAX_DAYS_PER_RUN", default=31)
# Where a source may read its key from: environment variables with this prefix, files under this
# directory. An admin naming DATABASE_URL or /etc/... would send that secret to the source's URL.
SOURCE_CREDENTIAL_ENV_PREFIX = env("SOURCE_CREDENTIAL_ENV_PREFIX", default="TOKENBOARD_SOURCE_")
SOURCE_SECRETS_DIR = env("SOURCE_SECRETS_DIR", default="/run/secrets")

# Budgets and caps
# The month the fiscal year starts (1 = January): yearly caps and quarters follow it.
FISCAL_YEAR_START_MONTH = env.int("FISCAL_YEAR_START_MONTH", default=1)
if not 1 <= FISCAL_YEAR_START_MONTH <= 12:
    raise ValueError(f"FISCAL_YEAR_START_MONTH must be 1..12, not {FISCAL_YEAR_START_MONTH}")
# Percentages of a cap or budget at which an alert is made (once per period each).
CAP_ALERT_THRESHOLDS = sorted(set(env.list("CAP_ALERT_THRESHOLDS", cast=int, default=[50, 80, 100])))
if not all(0 < pct <= 1000 for pct in CAP_ALERT_THRESHOLDS):
    raise ValueError(f"CAP_ALERT_THRESHOLDS must be percentages in 1..1000, not {CAP_ALERT_THRESHOLDS}")
# Also alert when spend is projected to reach the cap before the period ends.
CAP_FORECAST_ALERTS = env.bool("CAP_FORECAST_ALERTS", default=True)
CAP_WEBHOOK_TIMEOUT_SECONDS = env.float("CAP_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Spend anomalies: a day's metered spend more than ANOMALY_ZSCORE standard deviations above the
# engineer's trailing 28 days, or more than ANOMALY_MULTIPLE times their trailing 7-day mean
# (days without spend count as $0). Neither fires below ANOMALY_MIN_DAY_USD that day, or with
# fewer than ANOMALY_MIN_ACTIVE_DAYS days with spend among the 28 before it.
ANOMALY_ZSCORE = env.float("ANOMALY_ZSCORE", default=3.0)
ANOMALY_MULTIPLE = env.float("ANOMALY_MULTIPLE", default=5.0)
ANOMALY_MIN_DAY_USD = env.float("ANOMALY_MIN_DAY_USD", default=20.0)
ANOMALY_MIN_ACTIVE_DAYS = env.int("ANOMALY_MIN_ACTIVE_DAYS", default=5)
# Detection re-checks this many days back (a late or restated export can change a past day).
ANOMALY_RESCAN_DAYS = env.int("ANOMALY_RESCAN_DAYS", default=35)
# Managers are told about anomalies of the last N days only; older ones found by a backfill are
# stored and listed on /anomalies/ without an alert.
ANOMALY_ALERT_DAYS = env.int("ANOMALY_ALERT_DAYS", default=3)
# A manager or team channel gets one message per detection run, listing at most this many
# engineer-days (the biggest first); the rest are counted and listed on /anomalies/.
ANOMALY_DIGEST_LINES = env.int("ANOMALY_DIGEST_LINES", default=50)
# A seat held this long with no use of its tool in the last this-many days is idle (/finance/).
IDLE_SEAT_DAYS = env.int("IDLE_SEAT_DAYS", default=30)
if (
    ANOMALY_ZSCORE <= 0
    or ANOMALY_MULTIPLE <= 1
    or ANOMALY_MIN_DAY_USD < 0
    or not 1 <= ANOMALY_MIN_ACTIVE_DAYS <= 28
    or ANOMALY_DIGEST_LINES < 1
):
    raise ValueError(
        "ANOMALY_ZSCORE > 0, ANOMALY_MULTIPLE > 1, ANOMALY_MIN_DAY_USD >= 0, ANOMALY_MIN_ACTIVE_DAYS 1..28,"
        " ANOMALY_DIGEST_LINES >= 1"
    )
# Gateway admin APIs that `caps_export --push` sends the effective caps to.
LITELLM_API_BASE = env("LITELLM_API_BASE", default="")
LITELLM_API_KEY = env("LITELLM_API_KEY", default="")
CURSOR_API_BASE = env("CURSOR_API_BASE", default="https://api.cursor.com")
CURSOR_API_KEY = env("CURSOR_API_KEY", default="")

# Monthly USD per GitHub Copilot seat by `plan_type`, for `import_seats --format copilot_seats`
# (the seats API carries no price). Override as COPILOT_SEAT_PRICES_USD="business=19,enterprise=39".
COPILOT_SEAT_PRICES_USD = env.dict("COPILOT_SEAT_PRICES_USD", default={"business": "19", "enterprise": "39"})

# Impact page anti-gaming flags (docs/impact.md). Each flag fires on its evidence only.
# (a) Agents left running: at least this much spend over the last N days with no commit, PR or accepted line.
IMPACT_IDLE_DAYS = env.int("IMPACT_IDLE_DAYS", default=7)
IMPACT_IDLE_MIN_SPEND_USD = env.float("IMPACT_IDLE_MIN_SPEND_USD", default=50.0)
# (b) Cache churn: cache reads above this share of all tokens with output below this share, on enough tokens.
IMPACT_CACHE_READ_SHARE = env.float("IMPACT_CACHE_READ_SHARE", default=0.95)
IMPACT_CACHE_MAX_OUTPUT_SHARE = env.float("IMPACT_CACHE_MAX_OUTPUT_SHARE", default=0.005)
IMPACT_CACHE_MIN_TOKENS = env.int("IMPACT_CACHE_MIN_TOKENS", default=10_000_000)
# (c) Parked spend: above the peer average by no more than this fraction, among at least this many peers.
IMPACT_PARKED_MARGIN = env.float("IMPACT_PARKED_MARGIN", default=0.05)
IMPACT_PARKED_MIN_PEERS = env.int("IMPACT_PARKED_MIN_PEERS", default=5)
# The efficiency ranking (/efficiency/) ranks only people with at least this spend in the period.
EFFICIENCY_MIN_SPEND_USD = env.float("EFFICIENCY_MIN_SPEND_USD", default=10.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # The embedded server logs every process exit at INFO.
    "loggers": {
        "pgserver": {"level": "WARNING"},
        # In eager mode every task would print a success line into command output.
        "celery.app.trace": {"level": "WARNING"},
        # Eager mode's in-memory broker warns that it has no hostname.
        "kombu.connection": {"level": "ERROR"},
    },
}

# Leaderboard snapshots (leaderboard/services.py): pages read a precomputed board while it is
# no older than this after the rollup changed; refreshed after each import and from beat.
LEADERBOARD_SNAPSHOT_MAX_STALE_SECONDS = env.int("LEADERBOARD_SNAPSHOT_MAX_STALE_SECONDS", default=600)
# The board's team filter lists every team in the page up to this many; a bigger org's menu
# (7,500 teams: 370 KB, two thirds of the page) is fetched when the menu is first used.
LEADERBOARD_TEAM_MENU_INLINE = env.int("LEADERBOARD_TEAM_MENU_INLINE", default=300)
# The running month's /finance/ figures, when what they read changed (seats, org chart, rollup).
CELERY_BEAT_SCHEDULE["warm-finance"] = {
    "task": "billing.tasks.finance_cache_warm_task",
    "schedule": env.float("FINANCE_WARM_EVERY_SECONDS", default=300.0),
}
CELERY_BEAT_SCHEDULE["refresh-leaderboard-snapshots"] = {
    "task": "leaderboard.tasks.board_snapshots_refresh_task",
    "schedule": env.float("LEADERBOARD_REFRESH_EVERY_SECONDS", default=300.0),
}
