"""Thin Celery entry points of the billing app: ids and ISO dates in, one service call."""

from datetime import date, datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from billing import finance
from billing.services import anomalies, evaluation, notifications, tools

# Work on the database: retried when the connection drops (a failover, a restart).
DB_RETRY = {
    "acks_late": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 5,
}

# Alert messages (email, webhook): six retries, backing off from 30 s (doubling, jittered); the
# last attempt records the failure.
DELIVERY_RETRY = {
    "acks_late": True,
    "autoretry_for": (notifications.DeliveryError,),
    "retry_backoff": 30,
    "retry_backoff_max": 3600,
    "retry_jitter": True,
    "max_retries": 6,
}


@shared_task(**DB_RETRY)
def caps_evaluate_task(*, engineer_ids: list[int] | None = None, today: str | None = None) -> int:
    """After an import (the engineers it touched) or hourly by beat (everyone: no ids)."""
    result = evaluation.caps_evaluate(engineer_ids=engineer_ids, today=date.fromisoformat(today) if today else None)
    return len(result.alerts)


@shared_task(
    bind=True,
    **DELIVERY_RETRY,
)
def cap_alert_deliver_task(self, *, alert_id: int, channel: str) -> bool:
    return notifications.cap_alert_deliver(
        alert_id=alert_id, channel=channel, final_attempt=self.request.retries >= self.max_retries
    )


@shared_task(
    **DELIVERY_RETRY,
)
def tool_violation_notify_task(*, violation_id: int) -> bool:
    return tools.tool_violation_notify(violation_id=violation_id)


@shared_task(**DB_RETRY)
def spend_anomalies_detect_task(
    *, engineer_ids: list[int] | None = None, today: str | None = None, since: str | None = None
) -> int:
    """After an import (the engineers it touched, from its first day) or daily by beat (everyone:
    no ids). Never further back than ANOMALY_RESCAN_DAYS."""
    day = date.fromisoformat(today) if today else timezone.localdate()
    earliest = day - timedelta(days=settings.ANOMALY_RESCAN_DAYS)
    start = max(date.fromisoformat(since), earliest) if since else earliest
    found = anomalies.spend_anomalies_detect(engineer_ids=engineer_ids, today=day, since=start)
    return len(found)


@shared_task(
    bind=True,
    **DELIVERY_RETRY,
)
def spend_anomalies_deliver_task(self, *, anomaly_ids: list[int], channel: str) -> int:
    """One message per recipient on the channel (normally one: ids are grouped when queued)."""
    return anomalies.spend_anomalies_deliver(
        anomaly_ids=anomaly_ids, channel=channel, final_attempt=self.request.retries >= self.max_retries
    )


@shared_task(**DB_RETRY)
def finance_cache_warm_task(*, changed_at: str | None = None) -> bool:
    """After an import's commit (its time, ISO) or by beat: the running month's /finance/ figures
    computed ahead of the page when what they read has changed. A burst of imports costs one
    computation: a warm started after a commit leaves the ones queued before it nothing to do."""
    moment = datetime.fromisoformat(changed_at) if changed_at else None
    return finance.finance_cache_warm(today=timezone.localdate(), changed_at=moment)
