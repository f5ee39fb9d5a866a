"""Spend anomalies: a day of metered spend far above the engineer's own recent days.

Two rules (thresholds in settings, env-overridable), each on the engineer's daily spend from
DailyUsage with days without spend counted as $0 (from their first day with spend on):
- `zscore`: more than ANOMALY_ZSCORE standard deviations above the mean of the 28 days before;
- `multiple`: more than ANOMALY_MULTIPLE times the mean of the 7 days before.
Neither fires on a day below ANOMALY_MIN_DAY_USD or with fewer than ANOMALY_MIN_ACTIVE_DAYS
days with spend among the 28 before (too little history to have a baseline).

Detection is one set-based statement (window functions) that upserts SpendAnomaly rows, unique
per (engineer, day, rule); only rows it inserts are announced, so re-running never re-alerts.
The engineer's manager gets an email and the team's webhook a post, each once per day found
(a day that broke both rules is one message), for days in the last ANOMALY_ALERT_DAYS only.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from billing.models import SpendAnomaly
from billing.services.notifications import DeliveryError, team_webhook_url, webhook_post
from usage.models import TeamMembership

logger = logging.getLogger(__name__)
CHANNELS = ("email", "webhook")
BASELINE_DAYS = 28
SHORT_DAYS = 7

# Per engineer and day: the day's spend and sums over the 28 and 7 days before it (RANGE
# frames on the date, so missing days are simply absent = $0; dividing by the window length
# zero-fills). A window starts no earlier than the engineer's first day with spend in the rows
# read, so a new joiner is not measured against weeks of zeros from before they started.
# Population variance = E[x²] − E[x]². active28 >= min_days (>= 1) keeps n28 and n7 above 0.
# Reads DailyUsage by (engineer, day) or by day (daily_usage_engineer_day, daily_usage_day).
DETECT_SQL = """
WITH daily AS (
    SELECT engineer_id, day, sum(cost_usd) AS cost
    FROM usage_dailyusage
    WHERE engineer_id IS NOT NULL {engineer_filter}
        AND day >= %(read_from)s AND day <= %(until)s
    GROUP BY engineer_id, day
),
windows AS (
    SELECT engineer_id, day, cost,
        coalesce(sum(cost) OVER w28, 0) AS sum28,
        coalesce(sum(cost * cost) OVER w28, 0) AS sumsq28,
        count(*) FILTER (WHERE cost > 0) OVER w28 AS active28,
        coalesce(sum(cost) OVER w7, 0) AS sum7,
        coalesce(sum(cost * cost) OVER w7, 0) AS sumsq7,
        min(day) OVER (PARTITION BY engineer_id) AS first_day
    FROM daily
    WINDOW w28 AS (PARTITION BY engineer_id ORDER BY day
                   RANGE BETWEEN INTERVAL '28 days' PRECEDING AND INTERVAL '1 day' PRECEDING),
           w7 AS (PARTITION BY engineer_id ORDER BY day
                  RANGE BETWEEN INTERVAL '7 days' PRECEDING AND INTERVAL '1 day' PRECEDING)
),
lengths AS (
    SELECT *, least(28, day - first_day)::numeric AS n28, least(7, day - first_day)::numeric AS n7
    FROM windows
    WHERE day >= %(since)s AND cost >= %(min_usd)s AND active28 >= %(min_days)s
),
baselines AS (
    SELECT engineer_id, day, cost,
        sum28 / n28 AS mean28, sqrt(greatest(sumsq28 / n28 - (sum28 / n28) ^ 2, 0)) AS std28,
        sum7 / n7 AS mean7, sqrt(greatest(sumsq7 / n7 - (sum7 / n7) ^ 2, 0)) AS std7
    FROM lengths
),
found AS (
    SELECT engineer_id, day, 'zscore' AS rule, cost, mean28 AS mean, std28 AS std
    FROM baselines WHERE cost > mean28 + %(zscore)s * std28
    UNION ALL
    SELECT engineer_id, day, 'multiple', cost, mean7, std7
    FROM baselines WHERE mean7 > 0 AND cost > %(multiple)s * mean7
)
INSERT INTO billing_spendanomaly
    (engineer_id, day, rule, amount_usd, baseline_mean_usd, baseline_std_usd, created_at, delivery_error)
SELECT engineer_id, day, rule, cost, mean, std, now(), '' FROM found
ORDER BY engineer_id, day, rule
ON CONFLICT (engineer_id, day, rule) DO UPDATE
    SET amount_usd = EXCLUDED.amount_usd,
        baseline_mean_usd = EXCLUDED.baseline_mean_usd,
        baseline_std_usd = EXCLUDED.baseline_std_usd
    WHERE billing_spendanomaly.amount_usd IS DISTINCT FROM EXCLUDED.amount_usd
RETURNING id, xmax = 0 AS inserted, day
"""


def spend_anomalies_detect(
    *, engineer_ids: list[int] | None = None, today: date | None = None, since: date | None = None
) -> list[int]:
    """Find anomalous days in [since, today] (default: the last ANOMALY_RESCAN_DAYS) for the
    engineers given (None: everyone), store them, and queue the manager's alert for each new
    one on commit. Returns the new rows' ids. Idempotent: a day found again changes only its
    amounts (a restated export) and is not announced again."""
    today = today or timezone.localdate()
    since = since or today - timedelta(days=settings.ANOMALY_RESCAN_DAYS)
    if engineer_ids is not None and not engineer_ids:
        return []
    params = {
        "read_from": since - timedelta(days=BASELINE_DAYS),
        "since": since,
        "until": today,
        "min_usd": Decimal(str(settings.ANOMALY_MIN_DAY_USD)),
        "min_days": settings.ANOMALY_MIN_ACTIVE_DAYS,
        "zscore": Decimal(str(settings.ANOMALY_ZSCORE)),
        "multiple": Decimal(str(settings.ANOMALY_MULTIPLE)),
        "engineers": sorted(engineer_ids or []),
    }
    engineer_filter = "AND engineer_id = ANY(%(engineers)s)" if engineer_ids is not None else ""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(DETECT_SQL.format(engineer_filter=engineer_filter), params)
        new = [(pk, day) for pk, inserted, day in cursor.fetchall() if inserted]
        # Only recent days are news: the first run over a backfill finds weeks of anomalies at
        # once (50,000 engineers: tens of thousands), which are stored and listed, not announced.
        recent = today - timedelta(days=settings.ANOMALY_ALERT_DAYS - 1)
        spend_anomalies_notify_queue(anomaly_ids=[pk for pk, day in new if day >= recent])
        new_ids = [pk for pk, _ in new]
    return new_ids


def spend_anomalies_detect_after_import(*, engineer_ids: list[int], first_day: date | None = None) -> None:
    """Queue detection, on commit, for the engineers whose usage a batch loaded, over the days
    from the batch's first one (a day's spend moves the baselines of the 28 after it; a new day's
    log checks one day, not ANOMALY_RESCAN_DAYS: 50,000 engineers took 39 s). It runs apart from
    ingest, so a failure there never fails the import."""
    if engineer_ids:
        from billing.tasks import spend_anomalies_detect_task

        since = first_day.isoformat() if first_day else None
        transaction.on_commit(
            lambda: spend_anomalies_detect_task.delay(engineer_ids=engineer_ids, since=since), robust=True
        )


def spend_anomalies_notify_queue(*, anomaly_ids: list[int]) -> None:
    from billing.tasks import spend_anomaly_deliver_task

    for anomaly_id in anomaly_ids:
        for channel in CHANNELS:
            transaction.on_commit(
                partial(spend_anomaly_deliver_task.delay, anomaly_id=anomaly_id, channel=channel), robust=True
            )


def _why(anomaly: SpendAnomaly) -> str:
    mean, std = anomaly.baseline_mean_usd, anomaly.baseline_std_usd
    if anomaly.rule == "multiple":
        times = anomaly.amount_usd / mean if mean else 0
        return f"{times:.1f}× their 7-day average of ${mean:,.2f}"
    sigmas = (anomaly.amount_usd - mean) / std if std else 0
    return f"{sigmas:.1f} standard deviations above their 28-day average of ${mean:,.2f} (σ ${std:,.2f})"


def spend_anomaly_message(anomalies: list[SpendAnomaly]) -> tuple[str, str]:
    """Subject and text of the alert for one engineer's day (one anomaly per rule it broke),
    for the manager (email) and chat (webhook)."""
    first = anomalies[0]
    who, spent = first.engineer.name, f"${first.amount_usd:,.2f}"
    why = " and ".join(_why(a) for a in anomalies)
    subject = f"Spend anomaly: {who} spent {spent} on {first.day:%b %-d}"
    return subject, f"{who} spent {spent} on AI tools on {first.day:%Y-%m-%d}, {why}."


def spend_anomaly_deliver(*, anomaly_id: int, channel: str, final_attempt: bool = False) -> bool:
    """Tell the manager (email) or the team channel (webhook) about an anomalous day, once:
    the day's anomalies not yet told on this channel are stamped before sending (so the rows
    of a day that broke both rules make one message) and the stamps released if the send fails
    transiently (DeliveryError: the task retries). True when sent now; False when already
    told, or there is nobody (no manager, no webhook) to tell."""
    stamp = "emailed_at" if channel == "email" else "webhook_at"
    anomaly = SpendAnomaly.objects.select_related("engineer__manager").get(pk=anomaly_id)
    if getattr(anomaly, stamp) is not None:
        return False
    manager = anomaly.engineer.manager
    url = "" if channel == "email" else team_webhook_url(team_id=_team_on(anomaly))
    if (channel == "email" and (manager is None or not manager.email)) or (channel == "webhook" and not url):
        return False
    untold = SpendAnomaly.objects.filter(engineer_id=anomaly.engineer_id, day=anomaly.day, **{f"{stamp}__isnull": True})
    with transaction.atomic():
        day = list(untold.select_for_update().select_related("engineer").order_by("rule"))
        if anomaly_id not in {a.pk for a in day}:
            return False  # another task told this day already
        claimed = SpendAnomaly.objects.filter(pk__in=[a.pk for a in day])
        claimed.update(**{stamp: timezone.now()})
    subject, text = spend_anomaly_message(day)
    try:
        if channel == "email":
            try:
                send_mail(f"[Tokenboard] {subject}", text, settings.DEFAULT_FROM_EMAIL, [manager.email])
            except OSError as exc:
                raise DeliveryError(str(exc)) from exc
            return True
        sent = webhook_post(url=url, payload={"text": text})
        if not sent:  # refused (4xx): a retry would not change it; the stamp stays, the reason is kept
            claimed.update(delivery_error="webhook: refused by the receiver")
        return sent
    except DeliveryError as exc:
        claimed.update(**{stamp: None}, delivery_error=f"{channel}: {exc}"[:1000])
        if not final_attempt:
            raise
        logger.warning("anomaly %s: %s delivery failed for good: %s", anomaly_id, channel, exc)
        return False


def _team_on(anomaly: SpendAnomaly) -> int | None:
    """The team the engineer was in on the anomaly's day (its webhook is told)."""
    return (
        TeamMembership.objects.on(anomaly.day)
        .filter(engineer_id=anomaly.engineer_id)
        .values_list("team_id", flat=True)
        .first()
    )
