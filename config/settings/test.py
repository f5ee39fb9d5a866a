"""Tests: the same engine as production (PostgreSQL), fast hashing, in-memory email."""

import os

os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-key")

from .base import *  # noqa: E402,F403
from .base import BASE_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = BASE_DIR / ".data" / "test-media"
# Tests call tasks eagerly unless a test starts its own worker against a real broker.
CELERY_TASK_ALWAYS_EAGER = True
# Pages trust a snapshot only when nothing changed since it was built: tests see exact numbers.
LEADERBOARD_SNAPSHOT_MAX_STALE_SECONDS = 0
