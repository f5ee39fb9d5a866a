"""Thin Celery entry points for the precomputed boards and the pages computed ahead."""

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from billing.tasks import DB_RETRY
from leaderboard.services import RefreshBusy, board_snapshots_refresh
from leaderboard.warm import pages_warm


@shared_task(bind=True, acks_late=True, max_retries=20)
def board_snapshots_refresh_task(self, *, changed_at: str | None = None) -> str:
    """`changed_at`: an import's commit time (ISO); snapshots built after it are left alone, so
    a burst of imports costs one rebuild, not one each. Then the pages that read the new
    snapshots are computed ahead, as their own task (a failure there is not the refresh's)."""
    try:
        result = board_snapshots_refresh(changed_at=datetime.fromisoformat(changed_at) if changed_at else None)
    except RefreshBusy as exc:  # another refresh runs; this one's changes may postdate it
        raise self.retry(exc=exc, countdown=15) from exc
    pages_warm_task.delay()
    return f"v{result.version}: {len(result.periods)} periods, {len(result.weeks)} weeks in {result.seconds} s"


@shared_task(**DB_RETRY)
def pages_warm_task() -> str:
    """/impact/ and the top-level teams' pages, computed ahead where what they read has changed."""
    warmed = pages_warm(today=timezone.now().date())
    return ", ".join(warmed) or "nothing to compute"
