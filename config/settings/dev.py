"""Local development: DEBUG on, so a fresh checkout runs without any secret set."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")

from .base import *  # noqa: E402,F403
