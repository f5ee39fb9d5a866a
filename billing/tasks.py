"""Thin Celery entry points of the billing app: ids and ISO dates in, one service call."""

from datetime import date, timedelta

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from billing.services import anomalies, evaluation, notifications, tools

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


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
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


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
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
def spend_anomaly_deliver_task(self, *, anomaly_id: int, channel: str) -> bool:
    return anomalies.spend_anomaly_deliver(
        anomaly_id=anomaly_id, channel=channel, final_attempt=self.request.retries >= self.max_retries
    )
