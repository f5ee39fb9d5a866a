"""An import through a real Celery worker (a subprocess) and Redis, as in production."""

import pytest
from django.core.management import call_command

from usage.models import DailyUsage, ImportBatch

from .workers import broker_reachable, celery_workers


@pytest.fixture
def worker(transactional_db):
    reason = broker_reachable()
    if reason:
        pytest.skip(reason)
    with celery_workers(1) as workers:
        yield workers


@pytest.mark.worker
def test_an_import_runs_through_a_real_worker(worker, samples):
    call_command("import_usage", str(samples / "anthropic_usage_report_p1.json"), timeout=120)
    batch = ImportBatch.objects.get()
    assert batch.status == "done", batch.error
    assert batch.started_at is not None and batch.rows_accepted == 107
    assert DailyUsage.objects.exists()
    assert worker.alive(), worker.output()
