"""Thin Celery entry points for the precomputed boards and the pages computed ahead."""

from celery import shared_task
from django.utils import timezone

from billing.tasks import DB_RETRY
from leaderboard.services import RefreshBusy, board_snapshots_refresh
from leaderboard.warm import pages_warm


@shared_task(bind=True, acks_late=True, max_retries=20)
def board_snapshots_refresh_task(self) -> str:
    """After an import's commit and by beat. A burst of imports costs one rebuild, not one each:
    a refresh leaves nothing for the ones queued before it. Then the pages that read the new
    snapshots are computed ahead, as their own task (a failure there is not the refresh's)."""
    try:
        result = board_snapshots_refresh()
    except RefreshBusy as exc:  # another refresh runs; this one's changes may postdate it
        raise self.retry(exc=exc, countdown=15) from exc
    pages_warm_task.delay()
    return f"v{result.version}: {len(result.periods)} periods, {len(result.weeks)} weeks in {result.seconds} s"


@shared_task(**DB_RETRY)
def pages_warm_task() -> str:
    """/impact/ and the top-level teams' pages, computed ahead where what they read has changed."""
    warmed = pages_warm(today=timezone.now().date())
    return ", ".join(warmed) or "nothing to compute"
