"""Thin Celery entry points for the precomputed boards."""

from datetime import datetime

from celery import shared_task

from leaderboard.services import RefreshBusy, board_snapshots_refresh


@shared_task(bind=True, acks_late=True, max_retries=20)
def board_snapshots_refresh_task(self, *, changed_at: str | None = None) -> str:
    """`changed_at`: an import's commit time (ISO); snapshots built after it are left alone, so
    a burst of imports costs one rebuild, not one each."""
    try:
        result = board_snapshots_refresh(changed_at=datetime.fromisoformat(changed_at) if changed_at else None)
    except RefreshBusy as exc:  # another refresh runs; this one's changes may postdate it
        raise self.retry(exc=exc, countdown=15) from exc
    return f"v{result.version}: {len(result.periods)} periods, {len(result.weeks)} weeks in {result.seconds} s"
