"""Reads for the finance review (/finance/): spend by vendor, product, team and cost center for
a month, against budgets and last month, the forecast to month end, top movers, and the
reconciliation of attributed usage against the vendors' billed totals.

Months are half-open [start, end). Money is Decimal; every sum comes from DailyUsage (metered
usage) plus the seat ledger (billing.seats), so the page and the exports agree with
`usage_report` to the cent and show what the company pays.

"Previous" is last month, except while the month runs: its usage so far is then set against the
same days of last month (`previous_end`), as /me/ does, not against all of it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import BooleanField, Count, ExpressionWrapper, Q, Sum
from django.db.models.functions import TruncMonth

from billing.forecast import LOOKBACK_DAYS, Forecast, forecast_spend
from billing.models import BillingLine, CapPeriod, TeamBudget
from billing.seats import IdleSeats, idle_seats, seat_costs, seat_costs_by_month
from usage.display import tool_label, vendor_label
from usage.models import DailyUsage, Team
from usage.services.computed import (
    ENGINEERS,
    MEMBERSHIPS,
    ROLLUP,
    TEAMS,
    compute_and_store,
    computed,
    computed_entry,
    versions_sql,
)

ZERO = Decimal(0)
UNMAPPED = ExpressionWrapper(Q(engineer__isnull=True), output_field=BooleanField())
CHART_MONTHS = 6
MOVERS = 5
# What a vendor's cost report bills, by product. Anthropic's cost report covers the API only:
# Claude Code on a subscription is in the analytics export but on another invoice. A vendor
# not listed here is reconciled against all of its products.
RECONCILED_PRODUCTS: dict[str, tuple[str, ...]] = {"anthropic": ("api",), "openai": ("api",)}


IDLE_SEATS_SHOWN = 50  # the costliest; the count and the monthly total cover them all
# Teams listed on the page: the costliest, every budgeted team and the (no team) / (unmapped)
# lines. At 7,500 teams the whole table was 2.4 MB of HTML; all of them are in the Teams CSV.
TEAMS_SHOWN = 50


def month_shift(start: date, months: int) -> date:
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def previous_end(*, start: date, today: date) -> date:
    """End (exclusive) of last month's days compared with the month from `start`: as many days
    as have elapsed when the month contains today (today included, capped at last month's end:
    Mar 1-31 vs Feb 1-28), otherwise all of last month (`start`)."""
    if not start <= today < month_shift(start, 1):
        return start
    return min(month_shift(start, -1) + (today - start) + timedelta(days=1), start)


@dataclass(frozen=True)
class SpendLine:
    """One group's spend this month and last, in USD (labels: None is unmapped / none).
    cost_usd and previous_usd are what is paid: metered usage plus seats."""

    key: str | None
    label: str
    cost_usd: Decimal
    previous_usd: Decimal
    tokens: int = 0
    seat_usd: Decimal = ZERO  # the part of cost_usd that is seats
    budget_usd: Decimal | None = None  # monthly team budget of the team's subtree
    subtree_usd: Decimal | None = None  # spend of the team and the teams below it

    @property
    def metered_usd(self) -> Decimal:
        return self.cost_usd - self.seat_usd

    @property
    def change_usd(self) -> Decimal:
        return self.cost_usd - self.previous_usd

    @property
    def change_pct(self) -> Decimal | None:
        return None if not self.previous_usd else self.change_usd / self.previous_usd * 100

    @property
    def budget_left_usd(self) -> Decimal | None:
        return None if self.budget_usd is None else self.budget_usd - (self.subtree_usd or ZERO)

    @property
    def budget_used_pct(self) -> Decimal | None:
        if not self.budget_usd:
            return None
        return (self.subtree_usd or ZERO) / self.budget_usd * 100


@dataclass(frozen=True)
class Reconciliation:
    """A vendor's billed total for the month against its usage of the reconciled products."""

    vendor: str
    products: tuple[str, ...]  # empty: every product
    billed_usd: Decimal
    attributed_usd: Decimal  # usage with an engineer
    unmapped_usd: Decimal  # usage whose identity maps to nobody
    unpriced_rows: int  # rollup rows with tokens that have no price (their dollars are unknown)
    unpriced_tokens: int

    @property
    def other_usd(self) -> Decimal:
        """Rounding, unpriced models and anything the usage exports do not show."""
        return self.billed_usd - self.attributed_usd - self.unmapped_usd

    def pct(self, amount: Decimal) -> Decimal | None:
        return amount / self.billed_usd * 100 if self.billed_usd else None

    @property
    def attributed_pct(self) -> Decimal | None:
        return self.pct(self.attributed_usd)

    @property
    def unmapped_pct(self) -> Decimal | None:
        return self.pct(self.unmapped_usd)

    @property
    def other_pct(self) -> Decimal | None:
        return self.pct(self.other_usd)


@dataclass(frozen=True)
class FinanceOverview:
    start: date
    end: date  # exclusive
    previous_start: date
    previous_end: date  # exclusive; before `start` while the month runs (the same elapsed days)
    to_date: bool  # the month contains today: previous figures are the same days of last month
    total_usd: Decimal  # metered + seats: what the company pays
    previous_total_usd: Decimal  # metered in [previous_start, previous_end) + last month's seats
    total_tokens: int
    seat_usd: Decimal  # the month's seats, prorated by day (in total_usd)
    forecast: Forecast | None  # metered usage only; for the month that contains today
    vendors: list[SpendLine]
    products: list[SpendLine]
    teams: list[SpendLine]
    cost_centers: list[SpendLine]
    team_movers: list[SpendLine]  # biggest increases, then biggest decreases
    engineer_movers: list[SpendLine]
    reconciliation: list[Reconciliation]
    chart_months: list[date]
    chart_vendors: dict[str, list[Decimal]]  # vendor -> spend per chart month, zero-filled
    idle_seats: IdleSeats  # as of the month's last day, or today in the current month
    idle_as_of: date

    @property
    def change_usd(self) -> Decimal:
        return self.total_usd - self.previous_total_usd

    @property
    def teams_shown(self) -> list[SpendLine]:
        """The TEAMS_SHOWN costliest teams, and every team with a budget or no team at all."""
        return [
            line
            for n, line in enumerate(self.teams)
            if n < TEAMS_SHOWN or line.budget_usd is not None or line.key is None
        ]

    @property
    def teams_not_shown(self) -> tuple[int, Decimal]:
        """How many teams the page leaves out, and what they cost this month."""
        shown = {line.key for line in self.teams_shown}
        rest = [line for line in self.teams if line.key not in shown]
        return len(rest), sum((line.cost_usd for line in rest), ZERO)

    @property
    def metered_usd(self) -> Decimal:
        return self.total_usd - self.seat_usd

    @property
    def previous_days(self) -> int:
        return (self.previous_end - self.previous_start).days

    @property
    def previous_label(self) -> str:
        """What the previous figures cover, for headings: "Oct 1–24" while the month runs."""
        if not self.to_date:
            return "Last month"
        return f"{self.previous_start:%b} 1–{self.previous_days}"

    @property
    def forecast_total_usd(self) -> Decimal | None:
        """The metered forecast plus the month's seats (known in advance)."""
        return None if self.forecast is None else self.forecast.projected_usd + self.seat_usd


# Everything the page groups metered usage by, from one pass over two months of the rollup:
# first summed per (engineer, team, vendor, product), this month and last month up to `before`
# apart; the page's groupings (GROUPING SETS) and the engineers' biggest rises and falls are then
# read from those few rows. Four aggregates and the movers' each read the two months (2.7M rows at
# 50,000 engineers) on their own before.
METERED_SQL = """
WITH per AS MATERIALIZED (
    SELECT d.engineer_id, d.team_id, d.vendor, d.product,
           sum(d.cost_usd) FILTER (WHERE d.day >= %(start)s) AS cost,
           sum(d.cost_usd) FILTER (WHERE d.day < %(before)s) AS previous,
           sum(d.tokens) FILTER (WHERE d.day >= %(start)s) AS tokens
    FROM usage_dailyusage d
    WHERE d.day >= %(previous)s AND d.day < %(end)s AND (d.day >= %(start)s OR d.day < %(before)s)
    GROUP BY d.engineer_id, d.team_id, d.vendor, d.product
), moves AS (
    SELECT engineer_id, sum(cost) AS cost, sum(previous) AS previous, sum(tokens)::bigint AS tokens,
           COALESCE(sum(cost), 0) - COALESCE(sum(previous), 0) AS delta
    FROM per WHERE engineer_id IS NOT NULL GROUP BY engineer_id
)
SELECT 0 AS part, GROUPING(p.vendor, p.product, e.cost_center, p.team_id, p.engineer_id IS NULL) AS sets,
       p.vendor, p.product, e.cost_center, p.team_id, p.engineer_id IS NULL AS unmapped,
       NULL::bigint AS engineer_id, NULL::text AS name, sum(p.cost), sum(p.previous), sum(p.tokens)::bigint,
       0::numeric AS rank_key
FROM per p LEFT JOIN usage_engineer e ON e.id = p.engineer_id
GROUP BY GROUPING SETS ((p.vendor), (p.vendor, p.product), (e.cost_center, p.engineer_id IS NULL),
                        (p.team_id, p.engineer_id IS NULL))
UNION ALL
SELECT 1, NULL, NULL, NULL, NULL, NULL, NULL, m.engineer_id, e.name, m.cost, m.previous, m.tokens, -m.delta
FROM (SELECT * FROM moves WHERE delta > 0 ORDER BY delta DESC, engineer_id LIMIT %(limit)s) m
JOIN usage_engineer e ON e.id = m.engineer_id
UNION ALL
SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, m.engineer_id, e.name, m.cost, m.previous, m.tokens, m.delta
FROM (SELECT * FROM moves WHERE delta < 0 ORDER BY delta, engineer_id LIMIT %(limit)s) m
JOIN usage_engineer e ON e.id = m.engineer_id
ORDER BY part, rank_key, engineer_id
"""
# GROUPING(vendor, product, cost_center, team_id, unmapped) of each set: a bit is 1 where the
# column is not one of the set's keys.
SETS = {0b01111: "vendor", 0b00111: "product", 0b11010: "center", 0b11100: "team"}


@dataclass(frozen=True)
class Metered:
    """Metered usage this month and last, per grouping (rows of dicts, as _with_seats takes them)."""

    vendor: list[dict]
    product: list[dict]
    center: list[dict]
    team: list[dict]
    engineer_movers: list[SpendLine]


def _metered(start: date, end: date, before: date | None = None) -> Metered:
    """Metered spend this month and last month up to `before` (default: all of it) per vendor,
    product, cost center and team, and the engineers' biggest rises and falls. One query."""
    before = start if before is None else before
    params = {"start": start, "previous": month_shift(start, -1), "before": before, "end": end, "limit": MOVERS}
    with connection.cursor() as cursor:
        cursor.execute(METERED_SQL, params)
        rows = cursor.fetchall()
    groups: dict[str, list[dict]] = {name: [] for name in SETS.values()}
    movers = []
    for part, sets, vendor, product, center, team_id, unmapped, engineer_id, name, cost, previous, tokens, _ in rows:
        sums = {"cost": cost, "previous": previous, "tokens": tokens}
        if part:
            movers.append(_line(str(engineer_id), name, sums))
            continue
        grouping = SETS[sets]
        keys = {
            "vendor": {"vendor": vendor},
            "product": {"vendor": vendor, "product": product},
            "center": {"center": center, "unmapped": unmapped},
            "team": {"team_key": team_id, "unmapped": unmapped},
        }[grouping]
        groups[grouping].append({**keys, **sums})
    return Metered(**groups, engineer_movers=movers)


def _line(key, label: str, row: dict, **extra) -> SpendLine:
    return SpendLine(
        key=key,
        label=label,
        cost_usd=row["cost"] or ZERO,
        previous_usd=row["previous"] or ZERO,
        tokens=row["tokens"] or 0,
        seat_usd=row.get("seats", ZERO),
        **extra,
    )


def _seat_rows(start: date, end: date) -> list[dict]:
    """Seat USD per month, vendor, product, team of the day and cost center for this month and
    last (every grouping of the page is summed from these), and per month and vendor for the
    chart's months before (no team cut needed there). Two queries."""
    previous = month_shift(start, -1)
    keys = ("month", "vendor", "product", "team_key", "center", "unmapped")
    older = seat_costs_by_month(start=month_shift(start, 1 - CHART_MONTHS), end=previous)
    return older + seat_costs(start=previous, end=end, keys=keys)


def _with_seats(rows: list[dict], seats: list[dict], start: date, *fields: str) -> list[dict]:
    """Metered rows of `_grouped` with this month's and last month's seats added per group
    (a group with seats only gets a row); `seats` is the part of `cost` that is seats. Both
    months' seats are whole months, also while this one runs: a seat is paid for the month, its
    days to come included, so it is set against last month's whole seat."""
    merged = {tuple(row[f] for f in fields): {**row, "seats": ZERO} for row in rows}
    previous = month_shift(start, -1)
    for seat in seats:
        if seat["month"] not in (start, previous):
            continue
        empty = {**{f: seat[f] for f in fields}, "cost": None, "previous": None, "tokens": 0, "seats": ZERO}
        row = merged.setdefault(tuple(seat[f] for f in fields), empty)
        column = "cost" if seat["month"] == start else "previous"
        row[column] = (row[column] or ZERO) + seat["cost_usd"]
        if seat["month"] == start:
            row["seats"] += seat["cost_usd"]
    return list(merged.values())


def _by_spend(lines: list[SpendLine]) -> list[SpendLine]:
    return sorted(lines, key=lambda line: (-line.cost_usd, -line.previous_usd, line.label))


def _movers(lines: list[SpendLine], limit: int = MOVERS) -> list[SpendLine]:
    ups = sorted((line for line in lines if line.change_usd > 0), key=lambda line: -line.change_usd)[:limit]
    downs = sorted((line for line in lines if line.change_usd < 0), key=lambda line: line.change_usd)[:limit]
    return ups + downs


def _team_lines(rows: list[dict]) -> tuple[list[SpendLine], dict[int, Decimal]]:
    """Per team (the team of the day), metered and seats (`_with_seats` rows), each with the spend
    of its subtree, then the (no team) / (unmapped) lines; and the subtree spend of every team
    (a budgeted team without spend of its own still has its subtree's). One query."""
    teams = {pk: (name, parent) for pk, name, parent in Team.objects.values_list("pk", "name", "parent_id")}
    subtree: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        team_id, seen = row["team_key"], set()
        while team_id is not None and team_id not in seen:  # a cycle cannot loop forever
            seen.add(team_id)
            subtree[team_id] += row["cost"] or ZERO
            team_id = teams[team_id][1] if team_id in teams else None
    by_team = {row["team_key"]: row for row in rows if row["team_key"] is not None}
    lines = [
        _line(str(team_id), teams[team_id][0], by_team[team_id], subtree_usd=subtree[team_id])
        for team_id in sorted(by_team)
    ]
    lines += [
        _line(None, "(unmapped)" if row["unmapped"] else "(no team)", row) for row in rows if row["team_key"] is None
    ]
    return lines, dict(subtree)


def _teams(lines: list[SpendLine], subtree: dict[int, Decimal]) -> list[SpendLine]:
    """The team lines with the monthly budget of each team's subtree; a budgeted team is listed
    even without spend of its own. One query: budgets are read live (finance sets them here)."""
    budgets = {
        team_id: (amount, name)
        for team_id, amount, name in TeamBudget.objects.filter(period=CapPeriod.MONTH).values_list(
            "team_id", "amount_usd", "team__name"
        )
    }
    listed = []
    for line in lines:
        if line.key is not None and int(line.key) in budgets:
            line = replace(line, budget_usd=budgets.pop(int(line.key))[0])
        listed.append(line)
    empty = {"cost": ZERO, "previous": ZERO, "tokens": 0}
    listed += [
        _line(str(team_id), name, empty, budget_usd=amount, subtree_usd=subtree.get(team_id, ZERO))
        for team_id, (amount, name) in budgets.items()
    ]
    teams = sorted((line for line in listed if line.key is not None), key=lambda line: int(line.key))
    return _by_spend(teams + [line for line in listed if line.key is None])


def _forecast_history(start: date, end: date, today: date) -> dict[date, Decimal] | None:
    """The company's metered spend per day that the month-end projection reads. One query;
    None for a month that does not contain today (no forecast)."""
    if not start <= today < end:
        return None
    history_start = today - timedelta(days=LOOKBACK_DAYS)
    return dict(
        DailyUsage.objects.in_period(history_start, today + timedelta(days=1))
        .values_list("day")
        .annotate(cost=Sum("cost_usd"))
        .order_by()
    )


def _chart_months(start: date) -> list[date]:
    return [month_shift(start, -n) for n in range(CHART_MONTHS - 1, -1, -1)]


def _chart_usage(start: date, end: date) -> list[tuple[date, str, Decimal]]:
    """Metered spend per month and vendor over the chart's months. One query."""
    return list(
        DailyUsage.objects.in_period(_chart_months(start)[0], end)
        .annotate(month=TruncMonth("day"))
        .values_list("month", "vendor")
        .annotate(cost=Sum("cost_usd"))
        .order_by()
    )


def _chart(start: date, usage: list[tuple[date, str, Decimal]], seats: list[dict]):
    """Spend (metered and seats) per vendor and month over the last CHART_MONTHS months,
    zero-filled: (months, {vendor: spend per month})."""
    months = _chart_months(start)
    series: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for month, vendor, cost in usage:
        series[vendor][month] = cost
    for seat in seats:
        series[seat["vendor"]][seat["month"]] = series[seat["vendor"]].get(seat["month"], ZERO) + seat["cost_usd"]
    ordered = sorted(series, key=lambda vendor: -sum(series[vendor].values()))
    return months, {vendor: [series[vendor].get(m, ZERO) for m in months] for vendor in ordered}


def finance_reconciliation(*, start: date, end: date) -> list[Reconciliation]:
    """Per vendor with a billed total in [start, end): billed vs attributed vs unmapped usage of
    the products its cost report covers (RECONCILED_PRODUCTS). Two queries."""
    billed = dict(
        BillingLine.objects.filter(day__gte=start, day__lt=end)
        .values_list("vendor")
        .annotate(total=Sum("cost_usd"))
        .order_by()
    )
    scope = Q()
    for vendor in billed:
        products = RECONCILED_PRODUCTS.get(vendor, ())
        scope |= Q(vendor=vendor, product__in=products) if products else Q(vendor=vendor)
    usage = {}
    if billed:
        usage = {
            row["vendor"]: row
            for row in DailyUsage.objects.in_period(start, end)
            .filter(scope)
            .values("vendor")
            .annotate(
                attributed=Sum("cost_usd", filter=Q(engineer__isnull=False), default=ZERO),
                unmapped=Sum("cost_usd", filter=Q(engineer__isnull=True), default=ZERO),
                unpriced_rows=Count("id", filter=Q(unpriced_tokens__gt=0)),
                unpriced_tokens=Sum("unpriced_tokens", default=0),
            )
            .order_by()
        }
    return [
        Reconciliation(
            vendor=vendor,
            products=RECONCILED_PRODUCTS.get(vendor, ()),
            billed_usd=total,
            attributed_usd=usage.get(vendor, {}).get("attributed", ZERO),
            unmapped_usd=usage.get(vendor, {}).get("unmapped", ZERO),
            unpriced_rows=usage.get(vendor, {}).get("unpriced_rows", 0),
            unpriced_tokens=usage.get(vendor, {}).get("unpriced_tokens", 0),
        )
        for vendor, total in sorted(billed.items())
    ]


@dataclass(frozen=True)
class FinanceData:
    """What /finance/ sums over the rollup and the seat ledger for one month: the costly part of
    the page (seconds at 50,000 engineers), kept in FinanceCache. Budgets and the vendors' billed
    totals are read live: they are cheap, and finance edits budgets on the page."""

    vendor_rows: list[dict]  # _with_seats rows: metered and seats per group
    product_rows: list[dict]
    center_rows: list[dict]
    team_lines: list[SpendLine]  # without budgets (_teams adds them)
    subtree: dict[int, Decimal]
    engineer_movers: list[SpendLine]
    chart_months: list[date]
    chart_vendors: dict[str, list[Decimal]]
    forecast_history: dict[date, Decimal] | None
    idle: IdleSeats


# Everything FinanceData reads: the rollup, engineers (names, cost centers), teams, memberships
# and the seat ledger (billing_seat_version, migration billing/0005).
VERSIONS_SQL = versions_sql(
    ROLLUP, ENGINEERS, TEAMS, MEMBERSHIPS, "(SELECT version FROM billing_seat_version WHERE id = 1)"
)
CACHE_KIND = "finance"


@dataclass(frozen=True)
class _Month:
    """The month /finance/ shows for `today`, and what its FinanceData depends on."""

    start: date
    end: date
    before: date  # previous_end
    idle_as_of: date
    to_date: bool

    @classmethod
    def of(cls, start: date, today: date) -> _Month:
        end = month_shift(start, 1)
        return cls(
            start,
            end,
            previous_end(start=start, today=today),
            min(end - timedelta(days=1), today),
            start <= today < end,
        )

    def key(self, today: date) -> str:
        # The forecast reads up to today; another month depends on today only through `before`
        # and the idle seats' day, both in the key.
        forecast_day = today.isoformat() if self.to_date else "-"
        return f"{self.start}:{self.before}:{self.idle_as_of}:{settings.IDLE_SEAT_DAYS}:{forecast_day}"


def _compute(month: _Month, today: date) -> FinanceData:
    """Eight queries (seven for a month that does not contain today)."""
    start = month.start
    seats = _seat_rows(start, month.end)
    metered = _metered(start, month.end, month.before)
    team_lines, subtree = _team_lines(_with_seats(metered.team, seats, start, "team_key", "unmapped"))
    chart_months, chart_vendors = _chart(start, _chart_usage(start, month.end), seats)
    return FinanceData(
        vendor_rows=_with_seats(metered.vendor, seats, start, "vendor"),
        product_rows=_with_seats(metered.product, seats, start, "vendor", "product"),
        center_rows=_with_seats(metered.center, seats, start, "center", "unmapped"),
        team_lines=team_lines,
        subtree=subtree,
        engineer_movers=metered.engineer_movers,
        chart_months=chart_months,
        chart_vendors=chart_vendors,
        forecast_history=_forecast_history(start, month.end, today),
        idle=idle_seats(as_of=month.idle_as_of, idle_days=settings.IDLE_SEAT_DAYS, limit=IDLE_SEATS_SHOWN),
    )


def finance_data(*, start: date, today: date) -> FinanceData:
    """The month's FinanceData: read back while nothing it reads has changed since it was
    computed (one query), else computed and kept (usage.services.computed)."""
    month = _Month.of(start, today)
    return computed(
        kind=CACHE_KIND,
        key=month.key(today),
        versions=VERSIONS_SQL,
        compute=lambda: _compute(month, today),
        of=FinanceData,
    )


def finance_cache_warm(*, today: date, changed_at: datetime | None = None) -> bool:
    """Compute the running month's FinanceData ahead of the page when what it reads has changed,
    or it was built before `changed_at` (an import's commit: its rows may have been invisible to
    that build, usage.services.computed). True when it computed."""
    month = _Month.of(today.replace(day=1), today)
    key = month.key(today)
    built_at = computed_entry(kind=CACHE_KIND, key=key, versions=VERSIONS_SQL)
    if built_at is not None and (changed_at is None or built_at > changed_at):
        return False
    compute_and_store(kind=CACHE_KIND, key=key, versions=VERSIONS_SQL, compute=lambda: _compute(month, today))
    return True


def finance_overview(*, start: date, today: date) -> FinanceOverview:
    """Everything /finance/ shows for the month starting `start`, metered usage and seats,
    against last month (its same elapsed days while the month runs: `previous_end`).
    Three queries when the month's FinanceData is cached (finance_data), whatever the number of
    teams, engineers, seats or rows: the entry, budgets, bills; one more when some vendor billed
    the month (its usage to reconcile)."""
    month = _Month.of(start, today)
    data = finance_data(start=start, today=today)
    vendors = _by_spend([_line(r["vendor"], vendor_label(r["vendor"]), r) for r in data.vendor_rows])
    products = _by_spend(
        [_line(f"{r['vendor']}/{r['product']}", tool_label(r["vendor"], r["product"]), r) for r in data.product_rows]
    )
    centers = [_line(r["center"], _center_label(r["center"], r["unmapped"]), r) for r in data.center_rows]
    teams = _teams(data.team_lines, data.subtree)
    total = sum((line.cost_usd for line in vendors), ZERO)
    seat_total = sum((line.seat_usd for line in vendors), ZERO)
    forecast = None
    if data.forecast_history is not None:
        forecast = forecast_spend(
            spent_usd=total - seat_total,
            history=data.forecast_history,
            today=today,
            period_end=month.end,
            cap_usd=None,
        )
    return FinanceOverview(
        start=start,
        end=month.end,
        previous_start=month_shift(start, -1),
        previous_end=month.before,
        to_date=month.to_date,
        total_usd=total,
        previous_total_usd=sum((line.previous_usd for line in vendors), ZERO),
        total_tokens=sum(line.tokens for line in vendors),
        seat_usd=seat_total,
        forecast=forecast,
        vendors=vendors,
        products=products,
        teams=teams,
        cost_centers=_by_spend(centers),
        team_movers=_movers([line for line in teams if line.key is not None]),
        engineer_movers=data.engineer_movers,
        reconciliation=finance_reconciliation(start=start, end=month.end),
        chart_months=data.chart_months,
        chart_vendors=data.chart_vendors,
        idle_seats=data.idle,
        idle_as_of=month.idle_as_of,
    )


def _center_label(center: str | None, unmapped: bool) -> str:
    if unmapped:
        return "(unmapped)"
    return center or "(no cost center)"
