"""Checks shared by the cap services, the pages, the command line and the API: parsing of
amounts, dates and scopes with messages a person can act on, and who may change what."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.models import CapPeriod, CapPolicy
from billing.selectors import known_vendors
from leaderboard.access import viewer_for
from usage.display import PRODUCTS, VENDORS
from usage.models import Engineer, Team, TeamMembership

MAX_AMOUNT = Decimal("999999999999.99")


# ---------------------------------------------------------------------------------------------
# Parsing and checks shared by the pages, the command line and the API


def parse_amount(value: Any, *, label: str = "Amount", positive: bool = False) -> Decimal:
    """USD as a Decimal with at most two decimals; refuses text, NaN, negatives."""
    try:
        amount = Decimal(str(value).strip().lstrip("$").replace(",", ""))
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{label} must be a number of US dollars, not {str(value)!r}.") from None
    if not amount.is_finite():
        raise ValidationError(f"{label} must be a number of US dollars, not {str(value)!r}.")
    if amount < 0 or (positive and amount == 0):
        raise ValidationError(f"{label} must be {'more than' if positive else 'at least'} $0, not {value}.")
    if amount > MAX_AMOUNT:  # before quantize, which cannot hold 1e400 at two decimals
        raise ValidationError(f"{label} is too large: {value}.")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationError(f"{label} can have at most two decimals (cents), not {value}.")
    return amount.quantize(Decimal("0.01"))


def _identifier(text: str, names: dict[str, str]) -> str:
    """An identifier as the importers write it, from itself or its display name: "Claude Code"
    and "claude-code" are claude_code."""
    folded = "_".join(text.strip().lower().replace("-", " ").split())
    by_name = {"_".join(name.lower().split()): key for key, name in names.items()}
    return by_name.get(folded, folded)


def parse_tool(vendor: str, product: str, *, today: date) -> tuple[str, str]:
    """(vendor, product) of a cap, a raise or a tool policy, as identifiers ("" = any). A vendor
    that no one used lately, no cap names and Tokenboard does not know is refused as a typo
    ("antropic"): a rule for it would never apply to any usage."""
    vendor, product = _identifier(vendor, VENDORS), _identifier(product, PRODUCTS)
    if product and not vendor:
        raise ValidationError("Name the vendor of the product (e.g. anthropic for claude_code).")
    if vendor and vendor not in VENDORS:
        known = known_vendors(today=today)
        if vendor not in known:
            raise ValidationError(
                f"No one has used {vendor!r} lately and no cap names it: check the spelling "
                f"({', '.join(sorted(known)) or 'no vendors yet'}), or leave the vendor empty for every tool."
            )
    return vendor, product


def parse_day(value: date | str | None, *, label: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(f"{label} must be a date as YYYY-MM-DD, not {value!r}.") from None
    return value


def parse_expiry(value: date | str | None, *, today: date, label: str = "The expiry date") -> date | None:
    value = parse_day(value, label=label)
    if value is None:
        return None
    if value < today:
        raise ValidationError(f"{label} {value} is in the past (today is {today}).")
    return value


def parse_scope(text: str) -> tuple[str, str, str]:
    """'org' | 'team:<team name>' | 'engineer:<email>' -> (scope, team name, email)."""
    kind, _, name = text.strip().partition(":")
    kind, name = kind.strip().lower(), name.strip()
    if kind == CapPolicy.Scope.ORG and not name:
        return kind, "", ""
    if kind == CapPolicy.Scope.TEAM and name:
        return kind, name, ""
    if kind == CapPolicy.Scope.ENGINEER and name:
        return kind, "", name.lower()
    raise ValidationError(f"Scope must be org, team:<team name> or engineer:<email>, not {text!r}.")


def parse_period(value: str) -> str:
    if value not in CapPeriod.values:
        raise ValidationError(f"Period must be one of {', '.join(CapPeriod.values)}, not {value!r}.")
    return value


def team_by_name(name: str) -> Team:
    team = Team.objects.filter(name__iexact=name.strip()).first()
    if team is None:
        raise ValidationError(f"There is no team named {name!r}.")
    return team


def engineer_by_email(email: str) -> Engineer:
    engineer = Engineer.objects.by_email(email).first()
    if engineer is None:
        raise ValidationError(f"There is no engineer with the email {email!r}.")
    return engineer


def team_subtree_ids(team_id: int) -> set[int]:
    children: dict[int | None, list[int]] = {}
    for pk, parent_id in Team.objects.values_list("pk", "parent_id"):
        children.setdefault(parent_id, []).append(pk)
    seen, stack = set(), [team_id]
    while stack:
        pk = stack.pop()
        if pk not in seen:
            seen.add(pk)
            stack += children.get(pk, [])
    return seen


def team_member_ids(team_id: int, *, today: date) -> set[int]:
    """Current members of the team and of every team below it."""
    teams = team_subtree_ids(team_id)
    return set(TeamMembership.objects.on(today).filter(team_id__in=teams).values_list("engineer_id", flat=True))


def authorise(actor, *, team: Team | None = None, engineer: Engineer | None = None, today: date) -> None:
    """Finance and admins may act on anyone; a manager on people in their reporting chain and
    on a team whose current members are all in it (besides the manager); nobody else."""
    if actor is None:
        return
    viewer = viewer_for(actor)
    if viewer.sees_everyone:
        return
    if engineer is None and team is None:
        raise ValidationError("Only finance or an admin can change the org-wide default.")
    if engineer is not None and engineer.pk not in viewer.chain_ids:
        raise ValidationError(f"{engineer.email} is not in your reporting chain.")
    if team is not None:
        members = team_member_ids(team.pk, today=today) - {viewer.engineer_id}
        if not viewer.is_manager or not members <= viewer.chain_ids:
            raise ValidationError(f"Team {team.name} is not within your reporting chain.")


def evaluate_on_commit(*, engineer_ids: list[int] | None) -> None:
    """Caps changed: bring CapStatus (what gateways read) and alerts up to date."""
    from billing.tasks import caps_evaluate_task

    transaction.on_commit(lambda: caps_evaluate_task.delay(engineer_ids=engineer_ids), robust=True)


def affected_engineers(*, team: Team | None, engineer: Engineer | None, today: date) -> list[int] | None:
    if engineer is not None:
        return [engineer.pk]
    if team is not None:
        return sorted(team_member_ids(team.pk, today=today))
    return None  # the org default: everyone


def snapshot(obj, fields: tuple[str, ...]) -> dict[str, str]:
    return {name: "" if getattr(obj, name) is None else str(getattr(obj, name)) for name in fields}
