"""Reads for the anomalies page (/anomalies/): who sees which spend anomalies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from billing.models import SpendAnomaly
from leaderboard.access import Viewer

PAGE_DAYS = 90
PAGE_LIMIT = 200


@dataclass(frozen=True)
class AnomalyPage:
    since: date
    anomalies: list[SpendAnomaly]  # newest day first, engineer loaded
    more: bool  # older ones past PAGE_LIMIT are not listed


def spend_anomaly_page(*, viewer: Viewer, today: date, days: int = PAGE_DAYS, limit: int = PAGE_LIMIT) -> AnomalyPage:
    """The anomalies of the last `days` days the viewer may see: finance and admins everyone's,
    a manager their reporting chain's and their own, an engineer their own. One query (none
    for a viewer who is nobody in the org chart)."""
    since = today - timedelta(days=days)
    if not viewer.sees_everyone and viewer.engineer_id is None:
        return AnomalyPage(since=since, anomalies=[], more=False)
    rows = (
        SpendAnomaly.objects.filter(day__gte=since)
        .select_related("engineer")
        .order_by("-day", "engineer__name", "rule")
    )
    if not viewer.sees_everyone:
        rows = rows.filter(engineer_id__in=[viewer.engineer_id, *viewer.chain_ids])
    found = list(rows[: limit + 1])
    return AnomalyPage(since=since, anomalies=found[:limit], more=len(found) > limit)
