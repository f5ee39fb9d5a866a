"""Reads of the caps page (/caps/): the policies, overrides, team budgets, tool policies and
tool-policy violations a viewer administers. Managers get those of their chain and their
teams (leaderboard.access.cap_team_set), finance and admins everything."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Case, Q, Value, When

from billing.models import CapPolicy, TeamBudget, ToolPolicy, ToolViolation
from leaderboard.access import Viewer, cap_team_set, chain_is_everyone, chain_q
from usage.display import tool_label
from usage.models import Engineer, Team

LIMIT = 500


@dataclass(frozen=True)
class PolicyRow:
    id: int
    scope: str  # "Everyone (org default)", "Team Platform", "Alice Liddell"
    email: str  # of the engineer, for an engineer's policy
    tool: str
    amount_usd: Decimal
    period: str
    reason: str
    valid_until: date | None
    by: str
    changed_at: datetime
    editable: bool


@dataclass(frozen=True)
class BudgetRow:
    id: int
    team: str
    period: str
    amount_usd: Decimal
    reason: str
    by: str
    changed_at: datetime


@dataclass(frozen=True)
class ToolPolicyRow:
    id: int
    team: str
    tool: str
    starts_on: date
    reason: str
    by: str


@dataclass(frozen=True)
class ViolationRow:
    engineer_id: int
    engineer: str
    team: str
    tool: str
    first_day: date
    last_day: date
    days: int
    cost_usd: Decimal


@dataclass(frozen=True)
class CapsPage:
    policies: list[PolicyRow]
    budgets: list[BudgetRow]
    tool_policies: list[ToolPolicyRow]
    violations: list[ViolationRow]
    team_names: list[str]  # suggestions for the forms' team field
    emails: list[str]  # suggestions for the engineer field


def _tool(vendor: str, product: str) -> str:
    return tool_label(vendor, product) or "any tool"


def _by(obj) -> str:
    return obj.created_by.get_username() if obj.created_by else "command line"


def _policy_row(policy: CapPolicy, editable: bool) -> PolicyRow:
    if policy.team is not None:
        scope = f"Team {policy.team.name}"
    elif policy.engineer is not None:
        scope = policy.engineer.name
    else:
        scope = "Everyone (org default)"
    return PolicyRow(
        id=policy.pk,
        scope=scope,
        email=policy.engineer.email if policy.engineer else "",
        tool=_tool(policy.vendor, policy.product),
        amount_usd=policy.amount_usd,
        period=policy.period,
        reason=policy.reason,
        valid_until=policy.valid_until,
        by=_by(policy),
        changed_at=policy.updated_at,
        editable=editable,
    )


def caps_page(*, viewer: Viewer, today: date) -> CapsPage:
    """Everything the viewer administers, most specific scope last; expired overrides stay
    listed (they are history) until deleted. Six queries for finance and admins, eight for a
    manager (whether their chain is everyone, their teams)."""
    everyone = chain_is_everyone(viewer)
    teams = cap_team_set(viewer, today=today, everyone=everyone)
    policies = CapPolicy.objects.select_related("team", "engineer", "created_by").order_by(
        Case(
            When(scope=CapPolicy.Scope.ORG, then=Value(0)), When(scope=CapPolicy.Scope.TEAM, then=Value(1)), default=2
        ),
        "team__name",
        "engineer__email",
        "vendor",
        "product",
    )
    budgets = TeamBudget.objects.select_related("team", "created_by").order_by("team__name", "period")
    tools = ToolPolicy.objects.select_related("team", "created_by").order_by("team__name", "vendor", "product")
    violations = ToolViolation.objects.select_related("engineer", "tool_policy__team").order_by("-last_day")
    people = Engineer.objects.active_on(today).order_by("email")
    team_names = Team.objects.order_by("name")
    if teams is not None:
        # The org default is listed to managers (it applies to their people) but not editable.
        chain = chain_q(viewer, "engineer_id", everyone=everyone)
        policies = policies.filter(Q(scope=CapPolicy.Scope.ORG) | teams.q("team_id") | chain)
        budgets, tools = budgets.filter(teams.q("team_id")), tools.filter(teams.q("team_id"))
        violations = violations.filter(chain)
        people = people.filter(chain_q(viewer, "pk", everyone=everyone))
        team_names = team_names.filter(teams.q("pk"))
    return CapsPage(
        policies=[_policy_row(p, teams is None or p.scope != CapPolicy.Scope.ORG) for p in policies[:LIMIT]],
        budgets=[
            BudgetRow(b.pk, b.team.name, b.period, b.amount_usd, b.reason, _by(b), b.updated_at)
            for b in budgets[:LIMIT]
        ],
        tool_policies=[
            ToolPolicyRow(t.pk, t.team.name, _tool(t.vendor, t.product), t.starts_on, t.reason, _by(t))
            for t in tools[:LIMIT]
        ],
        violations=[
            ViolationRow(
                engineer_id=v.engineer_id,
                engineer=v.engineer.name,
                team=v.tool_policy.team.name,
                tool=_tool(v.vendor, v.product),
                first_day=v.first_day,
                last_day=v.last_day,
                days=v.days,
                cost_usd=v.cost_usd,
            )
            for v in violations[:LIMIT]
        ],
        team_names=list(team_names.values_list("name", flat=True)[:LIMIT]),
        emails=list(people.values_list("email", flat=True)[:LIMIT]),
    )
