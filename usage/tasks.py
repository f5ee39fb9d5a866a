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
