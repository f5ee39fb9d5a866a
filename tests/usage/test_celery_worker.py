"""An import through a real Celery worker (a subprocess) and Redis, as in production."""

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.db import connection

from config.celery import app as celery_app
from usage.models import DailyUsage, ImportBatch

ROOT = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("CELERY_BROKER_URL", "")


def broker_reachable() -> str | None:
    """None when a Redis broker answers, else why the test cannot run."""
    if not BROKER.startswith("redis://"):
        return "CELERY_BROKER_URL is not set to a redis:// URL (the suite runs tasks eagerly)"
    import redis

    try:
        redis.Redis.from_url(BROKER, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis at {BROKER} does not answer: {exc}"
    return None


def worker_database_url() -> str:
    s = connection.settings_dict
    host = s["HOST"] or ""
    if host.startswith("/"):  # a unix socket (the embedded server)
        return f"postgresql://{quote(s['USER'] or '')}:@/{s['NAME']}?host={quote(host)}"
    return f"postgresql://{quote(s['USER'] or '')}:{quote(s['PASSWORD'] or '')}@{host}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def worker(transactional_db):
    reason = broker_reachable()
    if reason:
        pytest.skip(reason)
    queue = f"test-ingest-{uuid.uuid4().hex[:8]}"  # no other worker on this Redis can take our task
    env = {**os.environ, "DATABASE_URL": worker_database_url(), "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "--pool", "solo", "-l", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    old = (celery_app.conf.task_always_eager, celery_app.conf.task_routes)
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_routes = {"usage.tasks.*": {"queue": queue}}
    try:
        yield proc
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_routes = old
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.worker
def test_an_import_runs_through_a_real_worker(worker, samples):
    call_command("import_usage", str(samples / "anthropic_usage_report_p1.json"), timeout=120)
    batch = ImportBatch.objects.get()
    assert batch.status == "done", batch.error
    assert batch.started_at is not None and batch.rows_accepted == 107
    assert DailyUsage.objects.exists()
    assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
