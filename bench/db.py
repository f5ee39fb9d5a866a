"""The bench's own database: created beside the dev database on the same server, never the dev one.

DATABASE_URL set: the bench creates (and later drops) `--db-name` on that server. Unset: the
embedded PostgreSQL (config.embedded_pg, under .data/pg) serves it, as for the app itself.
Django is then set up against the bench database through the environment, exactly as the
app would be configured in production (12-factor), so the web pages and the ingest pipeline
measured are the real ones.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parents[1]
SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def server_url() -> str:
    """The PostgreSQL server the app is configured for (any database on it)."""
    url = os.environ.get("DATABASE_URL", "")
    if url:
        return url
    from config.embedded_pg import embedded_database_url

    return embedded_database_url(BASE_DIR / ".data" / "pg")


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database (query string, e.g. a socket dir, kept)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def check_name(name: str, server: str) -> None:
    if not SAFE_NAME.match(name):
        raise SystemExit(f"--db-name {name!r}: use lower-case letters, digits and underscores")
    if name in {"postgres", "template0", "template1", database_name(server)}:
        raise SystemExit(f"--db-name {name!r} is the server's own or the app's database: the bench never touches it")
    if "bench" not in name:
        raise SystemExit(
            f"--db-name {name!r}: the name must contain 'bench' (a guard against dropping a real database)"
        )


def database_exists(server: str, name: str) -> bool:
    with psycopg.connect(with_database(server, "postgres"), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def database_create(server: str, name: str) -> None:
    """Drop `name` if it is there, then create it empty."""
    database_drop(server, name)
    with psycopg.connect(with_database(server, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_drop(server: str, name: str) -> None:
    with psycopg.connect(with_database(server, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def django_environment(bench_url: str, work_dir: Path) -> dict[str, str]:
    """Environment for Django (in this process and in the worker subprocess): production
    settings (DEBUG off, so no query log grows in memory), eager tasks, bench-only media."""
    return {
        "DATABASE_URL": bench_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-only-not-a-secret",
        "DJANGO_ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "MEDIA_ROOT": str(work_dir / "media"),
        "CELERY_BROKER_URL": "",  # eager: the pipeline runs in the measuring process
        "LOG_LEVEL": "WARNING",
        # Cap alerts for thousands of synthetic people go nowhere.
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
    }


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


def server_facts(url: str) -> dict:
    """PostgreSQL version and the settings that move these numbers most."""
    names = [
        "shared_buffers",
        "work_mem",
        "maintenance_work_mem",
        "max_parallel_workers_per_gather",
        "synchronous_commit",
        "fsync",
        "jit",
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = {name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0] for name in names}
    return {"postgresql_version": version, "postgresql_settings": settings}
