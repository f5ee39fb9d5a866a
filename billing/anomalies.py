"""Reads for the anomalies page (/anomalies/): who sees which spend anomalies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from billing.models import SpendAnomaly
from leaderboard.access import Viewer, chain_is_everyone, chain_q
from usage.models import Engineer

PAGE_DAYS = 90
PAGE_LIMIT = 200


@dataclass(frozen=True)
class AnomalyDay:
    """One engineer's anomalous day, with the rule or rules it broke (one row each)."""

    engineer: Engineer
    day: date
    rules: list[SpendAnomaly]

    @property
    def amount_usd(self):
        return self.rules[0].amount_usd

    @property
    def emailed_at(self):
        return min((a.emailed_at for a in self.rules if a.emailed_at), default=None)

    @property
    def webhook_at(self):
        return min((a.webhook_at for a in self.rules if a.webhook_at), default=None)

    @property
    def delivery_error(self) -> str:
        return next((a.delivery_error for a in self.rules if a.delivery_error), "")

    @property
    def announced(self) -> bool:
        """Whether finding it queued the alerts: only a day found within ANOMALY_ALERT_DAYS of
        itself is news (a backfill's days are listed, never sent)."""
        found = min(timezone.localdate(a.created_at) for a in self.rules)
        return self.day > found - timedelta(days=settings.ANOMALY_ALERT_DAYS)


@dataclass(frozen=True)
class AnomalyPage:
    since: date
    days: list[AnomalyDay]  # newest first
    more: bool  # older ones past the limit are not listed

    @property
    def anomalies(self) -> list[SpendAnomaly]:
        return [a for d in self.days for a in d.rules]


def spend_anomaly_page(*, viewer: Viewer, today: date, days: int = PAGE_DAYS, limit: int = PAGE_LIMIT) -> AnomalyPage:
    """The anomalies of the last `days` days the viewer may see: finance and admins everyone's,
    a manager their reporting chain's and their own, an engineer their own. One query, two for
    a manager (chain_is_everyone), none for a viewer who is nobody in the org chart."""
    since = today - timedelta(days=days)
    if not viewer.sees_everyone and viewer.engineer_id is None:
        return AnomalyPage(since=since, days=[], more=False)
    rows = (
        SpendAnomaly.objects.filter(day__gte=since)
        .select_related("engineer")
        .order_by("-day", "engineer__name", "engineer_id", "-rule")
    )
    if not viewer.sees_everyone and not chain_is_everyone(viewer):  # the top manager sees all
        rows = rows.filter(Q(engineer_id=viewer.engineer_id) | chain_q(viewer, "engineer_id", everyone=False))
    found = list(rows[: limit + 1])
    days: list[AnomalyDay] = []
    for anomaly in found[:limit]:
        if days and (days[-1].engineer.pk, days[-1].day) == (anomaly.engineer_id, anomaly.day):
            days[-1].rules.append(anomaly)
        else:
            days.append(AnomalyDay(engineer=anomaly.engineer, day=anomaly.day, rules=[anomaly]))
    return AnomalyPage(since=since, days=days, more=len(found) > limit)
