"""Spend anomalies: a day of metered spend far above the engineer's own recent days.

Two rules (thresholds in settings, env-overridable), each on the engineer's daily spend from
DailyUsage with days without spend counted as $0 (from their first day with spend on):
- `zscore`: more than ANOMALY_ZSCORE standard deviations above the mean of the 28 days before;
- `multiple`: more than ANOMALY_MULTIPLE times the mean of the 7 days before.
Neither fires on a day below ANOMALY_MIN_DAY_USD or with fewer than ANOMALY_MIN_ACTIVE_DAYS
days with spend among the 28 before (too little history to have a baseline).

Detection is one set-based statement (window functions) that upserts SpendAnomaly rows, unique
per (engineer, day, rule); only rows it inserts are announced, so re-running never re-alerts.
Each manager gets one email and each team webhook one post per detection run, listing the
days found for their people (a day that broke both rules is one line), for days in the last
ANOMALY_ALERT_DAYS only; each row is told once per channel.
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
from billing.services.notifications import DeliveryError, team_webhook_urls, webhook_post
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
    """Queue, on commit, one message per recipient and channel for the anomalies a detection
    found: a manager gets one email listing their people's days, a team channel one post. A new
    day's import can find thousands at 50,000 engineers; one message per day found was an inbox
    flood (2,924 anomalies queued 5,848 tasks)."""
    from billing.tasks import spend_anomalies_deliver_task

    if not anomaly_ids:
        return
    rows = list(SpendAnomaly.objects.filter(pk__in=anomaly_ids).select_related("engineer__manager").order_by("pk"))
    for channel in CHANNELS:
        for group in _by_recipient(rows, channel).values():
            transaction.on_commit(
                partial(spend_anomalies_deliver_task.delay, anomaly_ids=[a.pk for a in group], channel=channel),
                robust=True,
            )


def _by_recipient(rows: list[SpendAnomaly], channel: str) -> dict[int | str, list[SpendAnomaly]]:
    """The rows grouped by who is told on the channel: the engineer's manager (email; by id) or
    the webhook of their team on the day (or the nearest team above with one; by URL). Rows
    with nobody to tell are left out."""
    groups: dict[int | str, list[SpendAnomaly]] = {}
    if channel == "email":
        for anomaly in rows:
            manager = anomaly.engineer.manager
            if manager is not None and manager.email:
                groups.setdefault(manager.pk, []).append(anomaly)
        return groups
    teams = _teams_on({(a.engineer_id, a.day) for a in rows})
    urls = team_webhook_urls(team_ids=sorted(set(teams.values())))
    for anomaly in rows:
        url = urls.get(teams.get((anomaly.engineer_id, anomaly.day)), "")
        if url:
            groups.setdefault(url, []).append(anomaly)
    return groups


def _teams_on(engineer_days: set[tuple[int, date]]) -> dict[tuple[int, date], int]:
    """The team each engineer was in on each day: one query per distinct day (alerts cover the
    last ANOMALY_ALERT_DAYS days, so a handful)."""
    teams: dict[tuple[int, date], int] = {}
    by_day: dict[date, set[int]] = {}
    for engineer_id, day in engineer_days:
        by_day.setdefault(day, set()).add(engineer_id)
    for day, engineer_ids in sorted(by_day.items()):
        memberships = TeamMembership.objects.on(day).filter(engineer_id__in=engineer_ids)
        for engineer_id, team_id in memberships.values_list("engineer_id", "team_id"):
            teams[(engineer_id, day)] = team_id
    return teams


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


def spend_anomalies_message(anomalies: list[SpendAnomaly]) -> tuple[str, str]:
    """Subject and text of one message about several engineer-days (a digest): the biggest
    days first, at most ANOMALY_DIGEST_LINES of them, then how many more and where they are
    listed. A single engineer-day reads as spend_anomaly_message."""
    days: dict[tuple[int, date], list[SpendAnomaly]] = {}
    for anomaly in sorted(anomalies, key=lambda a: (a.engineer_id, a.day, a.rule)):
        days.setdefault((anomaly.engineer_id, anomaly.day), []).append(anomaly)
    if len(days) == 1:
        return spend_anomaly_message(next(iter(days.values())))
    people = len({engineer_id for engineer_id, _ in days})
    first, last = min(day for _, day in days), max(day for _, day in days)
    who = f"{people} {'person' if people == 1 else 'people'}"
    when = f"on {first:%b %-d}" if first == last else f"{len(days)} days, {first:%b %-d} – {last:%b %-d}"
    subject = f"Spend anomalies: {who} {when}" if first == last else f"Spend anomalies: {who}, {when}"
    biggest = sorted(days.values(), key=lambda rules: (-rules[0].amount_usd, rules[0].engineer.name))
    shown = biggest[: settings.ANOMALY_DIGEST_LINES]
    lines = [f"- {spend_anomaly_message(rules)[1]}" for rules in shown]
    if len(biggest) > len(shown):
        lines.append(f"… and {len(biggest) - len(shown)} more, listed on Tokenboard's anomalies page.")
    intro = "Days of AI spend far above the person's own recent days, the biggest first:"
    return subject, "\n".join([intro, *lines])


def spend_anomalies_deliver(*, anomaly_ids: list[int], channel: str, final_attempt: bool = False) -> int:
    """Tell the managers (email) or the team channels (webhook) about anomalous days, once,
    in one message per recipient. The rows not yet told on this channel are stamped before
    sending (a concurrent task finds them told) and a recipient's stamps released if their
    send fails transiently (DeliveryError: the task retries the rest). Returns the number of
    messages sent now; rows already told, or with nobody to tell (no manager, no webhook),
    send nothing."""
    stamp = "emailed_at" if channel == "email" else "webhook_at"
    with transaction.atomic():
        untold = SpendAnomaly.objects.filter(pk__in=anomaly_ids, **{f"{stamp}__isnull": True})
        rows = list(untold.select_for_update(of=("self",)).select_related("engineer__manager").order_by("pk"))
        groups = _by_recipient(rows, channel)  # who is told is read now: a reorg since is followed
        claimed = [a.pk for group in groups.values() for a in group]
        SpendAnomaly.objects.filter(pk__in=claimed).update(**{stamp: timezone.now()})
    sent = 0
    pending = list(groups.items())
    for n, (recipient, group) in enumerate(pending):
        subject, text = spend_anomalies_message(group)
        pks = [a.pk for a in group]
        try:
            if channel == "email":
                _email(subject, text, to=group[0].engineer.manager.email)
            elif not webhook_post(url=str(recipient), payload={"text": text}):
                # Refused (4xx): a retry would not change it; the stamps stay, the reason is kept.
                SpendAnomaly.objects.filter(pk__in=pks).update(delivery_error="webhook: refused by the receiver")
                continue
        except DeliveryError as exc:
            unsent = [a.pk for _, rest in pending[n:] for a in rest]
            SpendAnomaly.objects.filter(pk__in=unsent).update(
                **{stamp: None}, delivery_error=f"{channel}: {exc}"[:1000]
            )
            if not final_attempt:
                raise
            logger.warning("anomalies %s: %s delivery failed for good: %s", unsent[:10], channel, exc)
            return sent
        sent += 1
    return sent


def _email(subject: str, text: str, *, to: str) -> None:
    try:
        send_mail(f"[Tokenboard] {subject}", text, settings.DEFAULT_FROM_EMAIL, [to])
    except OSError as exc:
        raise DeliveryError(str(exc)) from exc
