"""Reads of the billing app: effective caps, spend against them, and what the pages show.

A cap limits an engineer's spend on the tool it is checked for (a vendor, or a vendor and a
product). The effective cap is the most specific policy in force: engineer > team (the nearest
team above, from the engineer's current team up) > org, and within one scope a policy naming
the tool beats a generic one. It is prorated by the days the engineer is employed in the
period, and raised by approved, unexpired exceptions. Spend always comes from the ledger
(DailyUsage) for the period asked, so nothing is lost when a period ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Q, Sum

from billing.forecast import Forecast, forecast_spend
from billing.models import CapException, CapPolicy, CapStatus, TeamBudget
from billing.periods import days_between, period_bounds
from leaderboard.access import chain_is_everyone, chain_q
from usage.display import tool_label
from usage.models import DailyUsage, Engineer, Team, TeamMembership

CENT = Decimal("0.01")
ZERO = Decimal(0)
SCOPE_RANK: dict[str, int] = {CapPolicy.Scope.ENGINEER: 0, CapPolicy.Scope.TEAM: 1, CapPolicy.Scope.ORG: 2}


@dataclass(frozen=True)
class EffectiveCap:
    """An engineer's cap for one tool in the period containing the day asked about. USD."""

    cap_usd: Decimal
    base_usd: Decimal  # the policy's amount, before proration and raises
    raised_usd: Decimal  # approved exceptions in force
    period: str  # month | quarter | year
    period_start: date
    period_end: date  # exclusive
    policy_id: int
    policy: str  # what set the cap, for people and for the API


@dataclass(frozen=True)
class Person:
    """What resolution needs to know about an engineer."""

    id: int
    team_id: int | None  # current team
    start_date: date | None = None
    end_date: date | None = None  # last day employed (inclusive)


@dataclass
class CapRules:
    """Policies, the team tree and approved raises in force on `today`, loaded once."""

    today: date
    policies: list[CapPolicy]
    team_parent: dict[int, int | None]
    raises: dict[int, list[CapException]] = field(default_factory=dict)  # by engineer id

    def ancestors(self, team_id: int | None) -> dict[int, int]:
        """The team and the teams above it, each with its distance (0 = the team itself)."""
        distance: dict[int, int] = {}
        while team_id is not None and team_id not in distance:  # a cycle cannot loop forever
            distance[team_id] = len(distance)
            team_id = self.team_parent.get(team_id)
        return distance


def cap_rules_load(*, today: date, engineer_ids: Iterable[int] | None = None) -> CapRules:
    """Three queries: policies in force, the team tree, and approved raises (of some engineers)."""
    policies = list(
        CapPolicy.objects.filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today)).select_related(
            "team", "engineer"
        )
    )
    team_parent: dict[int, int | None] = dict(Team.objects.values_list("pk", "parent_id"))
    raises_qs = CapException.objects.filter(status=CapException.Status.APPROVED, until__gte=today)
    if engineer_ids is not None:
        raises_qs = raises_qs.filter(engineer_id__in=list(engineer_ids))
    raises: dict[int, list[CapException]] = {}
    for exception in raises_qs.order_by("pk"):
        raises.setdefault(exception.engineer_id, []).append(exception)
    return CapRules(today=today, policies=policies, team_parent=team_parent, raises=raises)


def tool_covers(rule_vendor: str, rule_product: str, vendor: str, product: str) -> bool:
    """A rule for ("" = any) vendor and product applies to a request for (vendor, product)."""
    return rule_vendor in ("", vendor) and rule_product in ("", product)


def _winning_policy(rules: CapRules, person: Person, vendor: str, product: str) -> CapPolicy | None:
    distances = rules.ancestors(person.team_id)
    best, best_key = None, None
    for policy in rules.policies:
        if not tool_covers(policy.vendor, policy.product, vendor, product):
            continue
        if policy.scope == CapPolicy.Scope.ENGINEER and policy.engineer_id != person.id:
            continue
        if policy.scope == CapPolicy.Scope.TEAM and policy.team_id not in distances:
            continue
        distance = distances[policy.team_id] if policy.team_id is not None else 0
        tool_rank = -(2 * bool(policy.vendor) + bool(policy.product))
        key = (SCOPE_RANK[policy.scope], distance, tool_rank)
        if best_key is None or key < best_key:
            best, best_key = policy, key
    return best


def employed_days(person: Person, start: date, end: date) -> int:
    """Days of [start, end) on which the engineer is employed (start_date..end_date inclusive)."""
    first = max(start, person.start_date) if person.start_date else start
    last_excl = min(end, person.end_date + timedelta(days=1)) if person.end_date else end
    return days_between(first, last_excl)


def cap_resolve(rules: CapRules, person: Person, *, vendor: str, product: str = "") -> EffectiveCap | None:
    """The effective cap (see the module docstring), or None when no policy applies. Pure."""
    policy = _winning_policy(rules, person, vendor, product)
    if policy is None:
        return None
    start, end = period_bounds(policy.period, rules.today, fiscal_start_month=settings.FISCAL_YEAR_START_MONTH)
    total_days, employed = days_between(start, end), employed_days(person, start, end)
    base = policy.amount_usd
    cap = base * employed / total_days if employed < total_days else base
    raises = [r for r in rules.raises.get(person.id, []) if tool_covers(r.vendor, r.product, vendor, product)]
    raised = sum((r.amount_usd for r in raises), ZERO)
    words = [policy.describe()]
    if employed < total_days:
        words.append(f"prorated {employed}/{total_days} days")
    words += [f"+${r.amount_usd} approved until {r.until}" for r in raises]
    return EffectiveCap(
        cap_usd=(cap + raised).quantize(CENT, rounding=ROUND_HALF_UP),
        base_usd=base,
        raised_usd=raised,
        period=policy.period,
        period_start=start,
        period_end=end,
        policy_id=policy.pk,
        policy="; ".join(words),
    )


def person_load(*, engineer_id: int, today: date) -> Person | None:
    """The engineer and their current team: two queries."""
    row = Engineer.objects.filter(pk=engineer_id).values("pk", "start_date", "end_date").first()
    if row is None:
        return None
    team_id = TeamMembership.objects.on(today).filter(engineer_id=engineer_id).values_list("team_id", flat=True).first()
    return Person(id=row["pk"], team_id=team_id, start_date=row["start_date"], end_date=row["end_date"])


def cap_effective(*, engineer_id: int, vendor: str, product: str = "", today: date) -> EffectiveCap | None:
    """An engineer's effective cap for a tool on `today` (None: no policy applies)."""
    person = person_load(engineer_id=engineer_id, today=today)
    if person is None:
        return None
    rules = cap_rules_load(today=today, engineer_ids=[engineer_id])
    return cap_resolve(rules, person, vendor=vendor, product=product)


KNOWN_TOOLS_DAYS = 90


def engineer_tools(*, engineer_id: int, today: date) -> list[tuple[str, str]]:
    """The tools (vendor, product) an engineer used in the last KNOWN_TOOLS_DAYS days, for the
    raise form's suggestions. One query on (engineer, day)."""
    rows = (
        DailyUsage.objects.filter(engineer_id=engineer_id)
        .in_period(today - timedelta(days=KNOWN_TOOLS_DAYS), today + timedelta(days=1))
        .values_list("vendor", "product")
        .distinct()
        .order_by("vendor", "product")
    )
    return list(rows)


def known_vendors(*, today: date) -> set[str]:
    """Vendors anyone used in the last KNOWN_TOOLS_DAYS days, or that a cap names: what a raise
    can be for. Two queries; the first reads the days' part of the rollup (daily_usage_key)."""
    since = today - timedelta(days=KNOWN_TOOLS_DAYS)
    used = DailyUsage.objects.in_period(since, today + timedelta(days=1)).values_list("vendor", flat=True)
    named = CapPolicy.objects.exclude(vendor="").values_list("vendor", flat=True)
    return set(used.distinct().order_by()) | set(named.distinct().order_by())


def usage_for_tool(vendor: str, product: str) -> Q:
    condition = Q()
    if vendor:
        condition &= Q(vendor=vendor)
    if product:
        condition &= Q(product=product)
    return condition


def cap_spend(*, engineer_id: int, vendor: str, product: str = "", start: date, end: date) -> Decimal:
    """USD spent by an engineer on a tool over [start, end), from the ledger. One query."""
    total = (
        DailyUsage.objects.filter(engineer_id=engineer_id)
        .filter(usage_for_tool(vendor, product))
        .in_period(start, end)
        .aggregate(total=Sum("cost_usd"))["total"]
    )
    return total or ZERO


@dataclass(frozen=True)
class CapLine:
    """One tool's cap on an engineer's page: cap, spend and forecast for the current period."""

    vendor: str
    product: str
    cap_usd: Decimal | None
    spent_usd: Decimal
    period_start: date
    period_end: date
    policy: str
    forecast: Forecast | None

    @property
    def used_pct(self) -> int | None:
        if not self.cap_usd:
            return None
        return int(self.spent_usd * 100 / self.cap_usd)


def engineer_cap_lines(*, engineer_id: int, today: date) -> list[CapLine]:
    """The engineer's caps per tool (from CapStatus, kept current by evaluation) with a
    forecast from the last four weeks of the ledger. Two queries."""
    statuses = list(
        CapStatus.objects.filter(engineer_id=engineer_id, period_end__gt=today)
        .exclude(vendor="")
        .exclude(cap_usd__isnull=True, spent_usd=0)  # a tool neither capped nor used (its cap was lifted)
        .order_by("vendor", "product")
    )
    window_start = today - timedelta(days=28)
    daily: dict[tuple[str, str], dict[date, Decimal]] = {}
    rows = (
        DailyUsage.objects.filter(engineer_id=engineer_id, day__gte=window_start, day__lte=today)
        .values_list("vendor", "product", "day")
        .annotate(cost=Sum("cost_usd"))
    )
    for vendor, product, day, cost in rows:
        daily.setdefault((vendor, product), {})[day] = cost
    lines = []
    for status in statuses:
        history: dict[date, Decimal] = {}
        for (vendor, product), series in daily.items():
            if tool_covers(status.vendor, status.product, vendor, product):
                for day, cost in series.items():
                    history[day] = history.get(day, ZERO) + cost
        forecast = forecast_spend(
            spent_usd=status.spent_usd,
            history=history,
            today=today,
            period_end=status.period_end,
            cap_usd=status.cap_usd,
        )
        lines.append(
            CapLine(
                vendor=status.vendor,
                product=status.product,
                cap_usd=status.cap_usd,
                spent_usd=status.spent_usd,
                period_start=status.period_start,
                period_end=status.period_end,
                policy=status.policy,
                forecast=forecast,
            )
        )
    return lines


@dataclass(frozen=True)
class RaiseRow:
    """A request to go over a cap, as the approvals page lists it."""

    id: int
    engineer_id: int
    engineer_name: str
    engineer_email: str
    tool: str
    amount_usd: Decimal
    until: date
    reason: str
    status: str
    created_on: date
    decided_by: str
    decision_note: str


@dataclass(frozen=True)
class ApprovalsPage:
    waiting: list[RaiseRow]  # pending requests this viewer may decide
    mine: list[RaiseRow]  # the viewer's own requests, newest first
    decided: list[RaiseRow]  # recent decisions on people this viewer may decide for


def _raise_rows(queryset) -> list[RaiseRow]:
    return [
        RaiseRow(
            id=e.pk,
            engineer_id=e.engineer_id,
            engineer_name=e.engineer.name,
            engineer_email=e.engineer.email,
            tool=tool_label(e.vendor, e.product) or "all tools",
            amount_usd=e.amount_usd,
            until=e.until,
            reason=e.reason,
            status=e.status,
            created_on=e.created_at.date(),
            decided_by=e.decided_by.get_username() if e.decided_by else "",
            decision_note=e.decision_note,
        )
        for e in queryset.select_related("engineer", "decided_by")
    ]


def approvals_page(*, viewer, limit: int = 50) -> ApprovalsPage:
    """Requests waiting for the viewer (their chain; everyone for finance and admins), the
    viewer's own, and recent decisions. Three queries, four for a manager (chain_is_everyone)."""
    others = CapException.objects.exclude(engineer_id=viewer.engineer_id)
    if not viewer.sees_everyone:
        others = others.filter(chain_q(viewer, "engineer_id", everyone=chain_is_everyone(viewer)))
    mine = (
        CapException.objects.filter(engineer_id=viewer.engineer_id)
        if viewer.engineer_id
        else CapException.objects.none()
    )
    return ApprovalsPage(
        waiting=_raise_rows(others.filter(status=CapException.Status.PENDING).order_by("created_at")[:limit]),
        mine=_raise_rows(mine.order_by("-created_at")[:limit]),
        decided=_raise_rows(others.exclude(status=CapException.Status.PENDING).order_by("-decided_at")[:limit]),
    )


@dataclass(frozen=True)
class BudgetLine:
    """A team budget on the team page: the pooled amount, the subtree's spend, the forecast."""

    period: str
    amount_usd: Decimal
    spent_usd: Decimal
    period_start: date
    period_end: date
    forecast: Forecast

    @property
    def used_pct(self) -> int | None:
        return int(self.spent_usd * 100 / self.amount_usd) if self.amount_usd else None


def team_budget_lines(*, team_id: int, today: date) -> list[BudgetLine]:
    """The team's budgets with the spend of its whole subtree this period (each day's usage
    counted for the team the engineer was in that day). Four queries."""
    budgets = list(TeamBudget.objects.filter(team_id=team_id).order_by("period"))
    if not budgets:
        return []
    children: dict[int | None, list[int]] = {}
    for pk, parent_id in Team.objects.values_list("pk", "parent_id"):
        children.setdefault(parent_id, []).append(pk)
    tree, stack = set(), [team_id]
    while stack:
        pk = stack.pop()
        if pk not in tree:
            tree.add(pk)
            stack += children.get(pk, [])
    fy = settings.FISCAL_YEAR_START_MONTH
    bounds = {b.period: period_bounds(b.period, today, fiscal_start_month=fy) for b in budgets}
    usage = DailyUsage.objects.filter(team_id__in=tree, day__lte=today)
    sums = usage.aggregate(
        **{p: Sum("cost_usd", filter=Q(day__gte=s, day__lt=e), default=ZERO) for p, (s, e) in bounds.items()}
    )
    window_start = today - timedelta(days=28)
    history = dict(usage.filter(day__gte=window_start).values_list("day").annotate(cost=Sum("cost_usd")))
    return [
        BudgetLine(
            period=b.period,
            amount_usd=b.amount_usd,
            spent_usd=sums[b.period],
            period_start=bounds[b.period][0],
            period_end=bounds[b.period][1],
            forecast=forecast_spend(
                spent_usd=sums[b.period],
                history=history,
                today=today,
                period_end=bounds[b.period][1],
                cap_usd=b.amount_usd,
                history_start=window_start,
            ),
        )
        for b in budgets
    ]
