"""Cap evaluation: refresh CapStatus, make CapAlert rows once per threshold, ring notifications.

Runs after each import for the engineers it touched, hourly by beat for everyone, and after a
policy, budget or exception changes. Idempotent: running it twice leaves the same rows, and
only an alert row made by this run is notified.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from billing.forecast import LOOKBACK_DAYS, forecast_spend
from billing.models import CapAlert, CapAlertKind, CapPeriod, CapPolicy, CapStatus, TeamBudget
from billing.periods import period_bounds
from billing.selectors import CapRules, Person, cap_resolve, cap_rules_load, tool_covers
from billing.services.tools import tool_violations_evaluate
from usage.models import DailyUsage, Engineer, TeamMembership

logger = logging.getLogger(__name__)
CHUNK = 1000
ZERO = Decimal(0)
FORECAST_THRESHOLD = 100

Key = tuple[str, str]  # (vendor, product); "" = any


@dataclass
class EvaluationResult:
    engineers: int = 0
    statuses: int = 0
    alerts: list[int] = field(default_factory=list)  # ids of alert rows made by this run


@dataclass(frozen=True)
class Periods:
    """The current month, quarter or fiscal year (those asked for), and the span of days to read."""

    bounds: dict[str, tuple[date, date]]
    today: date

    @classmethod
    def on(cls, today: date, kinds: Iterable[str] = tuple(CapPeriod.values)) -> Periods:
        fy = settings.FISCAL_YEAR_START_MONTH
        return cls({p: period_bounds(p, today, fiscal_start_month=fy) for p in sorted(set(kinds))}, today)

    @property
    def read_from(self) -> date:
        return min([start for start, _ in self.bounds.values()] + [self.today - timedelta(days=LOOKBACK_DAYS)])

    def sums(self) -> dict[str, Sum]:
        return {p: Sum("cost_usd", filter=Q(day__gte=s, day__lt=e), default=ZERO) for p, (s, e) in self.bounds.items()}


def caps_evaluate(
    *,
    engineer_ids: Iterable[int] | None = None,
    today: date | None = None,
    extra_keys: Iterable[Key] = (),
    org_wide: bool = True,
) -> EvaluationResult:
    """Evaluate the caps of some engineers (None: everyone employed today) and, with
    `org_wide`, every team budget and tool policy. `extra_keys` are tools to keep a CapStatus for even without
    usage (the ones gateways ask about)."""
    today = today or timezone.localdate()
    everyone = engineer_ids is None
    if engineer_ids is None:
        ids = sorted(Engineer.objects.active_on(today).values_list("pk", flat=True))
    else:
        ids = sorted(set(engineer_ids))
    rules = cap_rules_load(today=today, engineer_ids=None if everyone else ids)
    # Only the periods a cap is counted over: a status without a cap shows the month. With no
    # yearly cap nobody's fiscal year is summed (at 50,000 engineers, a year of the rollup is
    # tens of millions of rows read per evaluation).
    periods = Periods.on(today, {CapPeriod.MONTH, *(policy.period for policy in rules.policies)})
    result = EvaluationResult(engineers=len(ids))
    for start in range(0, len(ids), CHUNK):
        with transaction.atomic():
            _evaluate_chunk(rules, periods, ids[start : start + CHUNK], set(extra_keys), result)
    if org_wide:
        with transaction.atomic():
            result.alerts += team_budgets_evaluate(rules=rules, today=today)
            tool_violations_evaluate(today=today)
    return result


def _people(ids: list[int], today: date) -> dict[int, Person]:
    teams = dict(TeamMembership.objects.on(today).filter(engineer_id__in=ids).values_list("engineer_id", "team_id"))
    return {
        pk: Person(id=pk, team_id=teams.get(pk), start_date=start, end_date=end)
        for pk, start, end in Engineer.objects.filter(pk__in=ids).values_list("pk", "start_date", "end_date")
    }


def _evaluate_chunk(
    rules: CapRules, periods: Periods, ids: list[int], extra_keys: set[Key], result: EvaluationResult
) -> None:
    people = _people(ids, periods.today)
    spend: dict[int, dict[Key, dict[str, Decimal]]] = {}
    row: Any  # sums per period kind (annotations the stubs cannot see), by engineer and tool
    for row in (
        DailyUsage.objects.filter(engineer_id__in=ids, day__gte=periods.read_from, day__lte=periods.today)
        .values("engineer_id", "vendor", "product")
        .annotate(**periods.sums())
    ):
        spend.setdefault(row["engineer_id"], {})[(row["vendor"], row["product"])] = row
    daily: dict[int, dict[Key, dict[date, Decimal]]] = {}
    for engineer_id, vendor, product, day, cost in (
        DailyUsage.objects.filter(
            engineer_id__in=ids, day__gte=periods.today - timedelta(days=LOOKBACK_DAYS), day__lte=periods.today
        )
        .values_list("engineer_id", "vendor", "product", "day")
        .annotate(cost=Sum("cost_usd"))
    ):
        daily.setdefault(engineer_id, {}).setdefault((vendor, product), {})[day] = cost
    keys: dict[int, set[Key]] = {pk: set(spend.get(pk, {})) | extra_keys for pk in people}
    for engineer_id, vendor, product in CapStatus.objects.filter(engineer_id__in=ids).values_list(
        "engineer_id", "vendor", "product"
    ):
        keys[engineer_id].add((vendor, product))
    for pk, person in people.items():
        keys[pk] |= _unused_capped_tools(rules, person, keys[pk])
    statuses, candidates = [], []
    for pk, person in people.items():
        for key in sorted(keys[pk]):
            status, alerts = _evaluate_key(rules, periods, person, key, spend.get(pk, {}), daily.get(pk, {}))
            statuses.append(status)
            candidates += alerts
    _statuses_save(statuses)
    result.statuses += len(statuses)
    result.alerts += _alerts_create(candidates, CapAlert.objects.filter(engineer_id__in=ids))


# A chunk's statuses in one statement, a column per array: bulk_create built the same upsert
# from 2,500 model instances (4 s of Python per 128,000 statuses to build them, 6 s to compile
# the SQL, 2 s for psycopg to parse it). A status that did not change is not written again:
# evaluating everyone rewrote all 128,000 rows hourly and after each import, which left the
# table and its index mostly dead rows between vacuums. updated_at: when it last changed.
STATUSES_SAVE_SQL = """
INSERT INTO billing_capstatus AS c
    (engineer_id, vendor, product, period_start, period_end, cap_usd, spent_usd, policy, updated_at)
SELECT s.*, now()
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::date[], %s::date[], %s::numeric[], %s::numeric[], %s::text[]) s
ON CONFLICT (engineer_id, vendor, product) DO UPDATE SET
    period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end, cap_usd = EXCLUDED.cap_usd,
    spent_usd = EXCLUDED.spent_usd, policy = EXCLUDED.policy, updated_at = EXCLUDED.updated_at
WHERE (c.period_start, c.period_end, c.cap_usd, c.spent_usd, c.policy)
    IS DISTINCT FROM (EXCLUDED.period_start, EXCLUDED.period_end, EXCLUDED.cap_usd, EXCLUDED.spent_usd, EXCLUDED.policy)
"""


def _statuses_save(statuses: list[tuple]) -> None:
    """Insert or update the statuses (tuples in STATUSES_SAVE_SQL's column order)."""
    if statuses:
        with connection.cursor() as cursor:
            cursor.execute(STATUSES_SAVE_SQL, [list(column) for column in zip(*statuses, strict=True)])


def _unused_capped_tools(rules: CapRules, person: Person, keys: set[Key]) -> set[Key]:
    """Tools a tool-specific policy caps for this person that none of their keys falls under:
    their status says "$0 of $X" (on /me/ and to a gateway) before the first dollar is spent."""
    distances = rules.ancestors(person.team_id)
    tools = set()
    for policy in rules.policies:
        if not policy.vendor:
            continue
        if policy.scope == CapPolicy.Scope.ENGINEER and policy.engineer_id != person.id:
            continue
        if policy.scope == CapPolicy.Scope.TEAM and policy.team_id not in distances:
            continue
        if not any(tool_covers(policy.vendor, policy.product, vendor, product) for vendor, product in keys):
            tools.add((policy.vendor, policy.product))
    return tools


def _covered(key: Key, by_tool: dict[Key, dict]) -> list[Key]:
    vendor, product = key
    return [k for k in by_tool if vendor in ("", k[0]) and product in ("", k[1])]


def _evaluate_key(
    rules: CapRules,
    periods: Periods,
    person: Person,
    key: Key,
    spend: dict[Key, dict[str, Decimal]],
    daily: dict[Key, dict[date, Decimal]],
) -> tuple[tuple, list[CapAlert]]:
    vendor, product = key
    cap = cap_resolve(rules, person, vendor=vendor, product=product)
    period = CapPeriod.MONTH if cap is None else cap.period
    start, end = periods.bounds[period]
    spent = sum((spend[k][period] for k in _covered(key, spend)), ZERO)
    # A CapStatus row, in STATUSES_SAVE_SQL's column order.
    status = (
        person.id,
        vendor,
        product,
        start,
        end,
        cap.cap_usd if cap else None,
        spent,
        cap.policy[:255] if cap else "",
    )
    # Alerts only for a whole tool the engineer used: a request key like (vendor, "") would
    # repeat the alerts of the products under it.
    if cap is None or not (vendor and product) or spent <= 0:
        return status, []
    common = {
        "engineer_id": person.id,
        "policy_id": cap.policy_id,
        "vendor": vendor,
        "product": product,
        "period_start": start,
        "period_end": end,
        "cap_usd": cap.cap_usd,
    }
    alerts = _threshold_alerts(spent, cap.cap_usd, common)
    if settings.CAP_FORECAST_ALERTS and spent < cap.cap_usd:
        history_start = periods.today - timedelta(days=LOOKBACK_DAYS)
        if person.start_date and person.start_date > history_start:
            history_start = person.start_date
        history: dict[date, Decimal] = {}
        for k in _covered(key, daily):
            for day, cost in daily[k].items():
                history[day] = history.get(day, ZERO) + cost
        alerts += _forecast_alert(spent, history, history_start, periods.today, common)
    return status, alerts


def _threshold_alerts(spent: Decimal, cap: Decimal, common: dict) -> list[CapAlert]:
    return [
        CapAlert(threshold_pct=pct, kind=CapAlertKind.SPEND, spent_usd=_cents(spent), **common)
        for pct in settings.CAP_ALERT_THRESHOLDS
        if spent * 100 >= cap * pct
    ]


def _forecast_alert(spent: Decimal, history: dict, history_start: date, today: date, common: dict) -> list[CapAlert]:
    forecast = forecast_spend(
        spent_usd=spent,
        history=history,
        today=today,
        period_end=common["period_end"],
        cap_usd=common["cap_usd"],
        history_start=history_start,
    )
    if forecast.crosses_on is None:
        return []
    return [
        CapAlert(
            threshold_pct=FORECAST_THRESHOLD,
            kind=CapAlertKind.FORECAST,
            spent_usd=_cents(spent),
            projected_usd=forecast.projected_usd,
            crosses_on=forecast.crosses_on,
            **common,
        )
    ]


def _cents(value: Decimal) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


ALERT_KEY = ("engineer_id", "team_id", "vendor", "product", "period_start", "period_end", "threshold_pct", "kind")


def _alerts_create(candidates: list[CapAlert], existing_qs) -> list[int]:
    """Make the alert rows that do not exist yet, and queue their notifications on commit.
    get_or_create settles a race with a concurrent evaluation on the unique constraint."""
    if not candidates:
        return []
    periods = {c.period_start for c in candidates}
    existing = set(existing_qs.filter(period_start__in=periods).values_list(*ALERT_KEY))
    made = []
    for alert in candidates:
        values = {name: getattr(alert, name) for name in ALERT_KEY}
        if tuple(values.values()) in existing:
            continue
        defaults = {
            f.attname: getattr(alert, f.attname) for f in CapAlert._meta.concrete_fields if f.attname not in values
        }
        defaults.pop("id")
        row, created = CapAlert.objects.get_or_create(**values, defaults=defaults)
        if created:
            made.append(row.pk)
    if made:
        from billing.services.notifications import cap_alerts_notify_queue

        cap_alerts_notify_queue(alert_ids=made)
    return made


def _subtrees(team_parent: dict[int, int | None], roots: Iterable[int]) -> dict[int, set[int]]:
    children: dict[int | None, list[int]] = {}
    for team_id, parent_id in team_parent.items():
        children.setdefault(parent_id, []).append(team_id)
    trees = {}
    for root in roots:
        seen, stack = set(), [root]
        while stack:
            team_id = stack.pop()
            if team_id not in seen:
                seen.add(team_id)
                stack += children.get(team_id, [])
        trees[root] = seen
    return trees


def team_budgets_evaluate(*, rules: CapRules, today: date) -> list[int]:
    """Threshold and forecast alerts for every team budget: spend of the team subtree (each
    day's usage counted for the team the engineer was in that day). Two queries, plus writes."""
    budgets = list(TeamBudget.objects.all())
    if not budgets:
        return []
    periods = Periods.on(today, {budget.period for budget in budgets})
    trees = _subtrees(rules.team_parent, {b.team_id for b in budgets})
    all_teams = set().union(*trees.values())
    sums: dict[int, Any] = {
        row["team_id"]: row
        for row in DailyUsage.objects.filter(team_id__in=all_teams, day__gte=periods.read_from, day__lte=periods.today)
        .values("team_id")
        .annotate(**periods.sums())
    }
    daily: dict[int, dict[date, Decimal]] = {}
    for team_id, day, cost in (
        DailyUsage.objects.filter(
            team_id__in=all_teams, day__gte=periods.today - timedelta(days=LOOKBACK_DAYS), day__lte=periods.today
        )
        .values_list("team_id", "day")
        .annotate(cost=Sum("cost_usd"))
    ):
        daily.setdefault(team_id, {})[day] = cost
    candidates = []
    for budget in budgets:
        start, end = periods.bounds[budget.period]
        tree = trees[budget.team_id]
        spent = sum((sums[t][budget.period] for t in tree if t in sums), ZERO)
        if spent <= 0:
            continue
        common = {
            "team_id": budget.team_id,
            "budget_id": budget.pk,
            "period_start": start,
            "period_end": end,
            "cap_usd": budget.amount_usd,
        }
        candidates += _threshold_alerts(spent, budget.amount_usd, common)
        if settings.CAP_FORECAST_ALERTS and spent < budget.amount_usd:
            history: dict[date, Decimal] = {}
            for team_id in tree:
                for day, cost in daily.get(team_id, {}).items():
                    history[day] = history.get(day, ZERO) + cost
            window = periods.today - timedelta(days=LOOKBACK_DAYS)
            candidates += _forecast_alert(spent, history, window, periods.today, common)
    return _alerts_create(candidates, CapAlert.objects.filter(team_id__in={b.team_id for b in budgets}))


def caps_evaluate_after_import(*, engineer_ids: list[int]) -> None:
    """Queue cap evaluation, on commit, for the engineers whose usage a batch loaded. The
    task runs apart from ingest: a failure there never fails or slows the import."""
    if engineer_ids:
        from billing.tasks import caps_evaluate_task

        transaction.on_commit(lambda: caps_evaluate_task.delay(engineer_ids=engineer_ids), robust=True)
