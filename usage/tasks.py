"""Thin Celery entry points: ids in, one service call, retries only for transient errors."""

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from usage.services import ingest


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def import_batch_process_task(*, batch_id: int) -> str:
    return ingest.import_batch_process(batch_id=batch_id).status


@shared_task
def import_batch_requeue_stale_task() -> list[int]:
    return ingest.import_batch_requeue_stale(older_than_minutes=settings.IMPORT_STALE_AFTER_MINUTES)


@shared_task(acks_late=True)
def usage_source_run_task(*, source_id: int, force: bool = False) -> str:
    from usage.services.sources import usage_source_run

    result = usage_source_run(source_id=source_id, force=force)
    return result.error or result.skipped or f"{result.rows} rows"


@shared_task
def usage_sources_due_task() -> list[int]:
    from usage.services.sources import usage_sources_due

    return usage_sources_due()


@shared_task
def usage_partitions_ensure_task() -> list[str]:
    from usage.services.partitions import usage_partitions_ensure

    return usage_partitions_ensure()
