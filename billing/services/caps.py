"""Writes of caps, team budgets and team webhooks: validated, authorised, audited, re-evaluated.

Every service here refuses bad input with a ValidationError whose message a person can act
on, before anything is written. `actor` is the Django user acting, or None for the command
line (which runs with the server's authority). Each create, change and delete writes an audit
entry with the old and new values and the reason, in the same transaction.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import CapPeriod, CapPolicy, TeamBudget, TeamWebhook
from billing.services.validation import (
    affected_engineers,
    authorise,
    engineer_by_email,
    evaluate_on_commit,
    parse_amount,
    parse_expiry,
    parse_period,
    parse_tool,
    snapshot,
    team_by_name,
)
from leaderboard.access import audit

# ---------------------------------------------------------------------------------------------
# Cap policies

POLICY_FIELDS = ("amount_usd", "period", "reason", "valid_until")


def cap_policy_set(
    *,
    actor,
    scope: str,
    amount_usd: Any,
    team_name: str = "",
    engineer_email: str = "",
    vendor: str = "",
    product: str = "",
    period: str = CapPeriod.MONTH,
    reason: str = "",
    valid_until: date | str | None = None,
    replace_existing: bool = False,
    today: date | None = None,
) -> tuple[CapPolicy, bool]:
    """Create a cap policy for a scope (org | team | engineer) and tool ("" = any). A second
    policy for the same scope and tool is refused, unless `replace_existing` (the command
    line) says to change that one. Returns (policy, created). Audited; caps are re-evaluated
    on commit."""
    today = today or timezone.localdate()
    amount, period, until = _policy_values(amount_usd, period, reason, valid_until, today)
    vendor, product = parse_tool(vendor, product, today=today)
    team = engineer = None
    if scope == CapPolicy.Scope.TEAM:
        team = team_by_name(team_name)
    elif scope == CapPolicy.Scope.ENGINEER:
        engineer = engineer_by_email(engineer_email)
    elif scope != CapPolicy.Scope.ORG:
        raise ValidationError(f"Scope must be org, team or engineer, not {scope!r}.")
    authorise(actor, team=team, engineer=engineer, today=today)
    with transaction.atomic():
        existing = (
            CapPolicy.objects.select_for_update()
            .filter(scope=scope, team=team, engineer=engineer, vendor=vendor, product=product)
            .first()
        )
        if existing is not None and not replace_existing:
            raise ValidationError(
                f"A policy is already set for this scope and tool (#{existing.pk}: {existing}); change it instead."
            )
        created = existing is None
        policy = existing or CapPolicy(
            scope=scope, team=team, engineer=engineer, vendor=vendor, product=product, created_by=actor
        )
        _policy_write(actor, policy, created, amount=amount, period=period, reason=reason, until=until, today=today)
    return policy, created


def cap_policy_update(
    *,
    actor,
    policy_id: int,
    amount_usd: Any,
    period: str = CapPeriod.MONTH,
    reason: str = "",
    valid_until: date | str | None = None,
    today: date | None = None,
) -> CapPolicy:
    """Change the amount, period, reason or expiry of a policy. Audited; re-evaluated on commit."""
    today = today or timezone.localdate()
    amount, period, until = _policy_values(amount_usd, period, reason, valid_until, today)
    with transaction.atomic():
        policy = (
            CapPolicy.objects.select_for_update(of=("self",))
            .select_related("team", "engineer")
            .filter(pk=policy_id)
            .first()
        )
        if policy is None:
            raise ValidationError(f"There is no cap policy #{policy_id}.")
        authorise(actor, team=policy.team, engineer=policy.engineer, today=today)
        _policy_write(actor, policy, False, amount=amount, period=period, reason=reason, until=until, today=today)
    return policy


def _policy_values(amount_usd: Any, period: str, reason: str, valid_until, today: date) -> tuple:
    amount = parse_amount(amount_usd)
    period = parse_period(period)
    until = parse_expiry(valid_until, today=today)
    if until is not None and not reason.strip():
        raise ValidationError("An override with an expiry date needs a reason.")
    return amount, period, until


def _policy_write(actor, policy: CapPolicy, created: bool, *, amount, period, reason, until, today) -> None:
    old = None if created else snapshot(policy, POLICY_FIELDS)
    policy.amount_usd, policy.period, policy.reason, policy.valid_until = amount, period, reason.strip(), until
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError:
        # Someone else created the same scope and tool a moment ago.
        raise ValidationError("A policy is already set for this scope and tool; change it instead.") from None
    audit(
        actor,
        "cap_policy_create" if created else "cap_policy_update",
        f"cap_policy:{policy.pk}",
        policy=policy.describe(),
        old=old,
        new=snapshot(policy, POLICY_FIELDS),
        reason=policy.reason,
        via="cli" if actor is None else "web",
    )
    evaluate_on_commit(engineer_ids=affected_engineers(team=policy.team, engineer=policy.engineer, today=today))


def cap_policy_delete(*, actor, policy_id: int, reason: str = "", today: date | None = None) -> None:
    """Delete a policy (the next most specific one then applies). Audited."""
    today = today or timezone.localdate()
    policy = CapPolicy.objects.select_related("team", "engineer").filter(pk=policy_id).first()
    if policy is None:
        raise ValidationError(f"There is no cap policy #{policy_id}.")
    authorise(actor, team=policy.team, engineer=policy.engineer, today=today)
    affected = affected_engineers(team=policy.team, engineer=policy.engineer, today=today)
    with transaction.atomic():
        audit(
            actor,
            "cap_policy_delete",
            f"cap_policy:{policy.pk}",
            policy=policy.describe(),
            old=snapshot(policy, POLICY_FIELDS),
            new=None,
            reason=reason,
        )
        policy.delete()
        evaluate_on_commit(engineer_ids=affected)


# ---------------------------------------------------------------------------------------------
# Team budgets and webhooks

BUDGET_FIELDS = ("amount_usd", "period", "reason")


def team_budget_set(
    *,
    actor,
    team_name: str,
    amount_usd: Any,
    period: str = CapPeriod.MONTH,
    reason: str = "",
    today: date | None = None,
) -> tuple[TeamBudget, bool]:
    """Create or change a team's pooled budget for a kind of period. Audited."""
    today = today or timezone.localdate()
    amount = parse_amount(amount_usd)
    period = parse_period(period)
    team = team_by_name(team_name)
    authorise(actor, team=team, today=today)
    with transaction.atomic():
        existing = TeamBudget.objects.select_for_update().filter(team=team, period=period).first()
        created = existing is None
        old = None if existing is None else snapshot(existing, BUDGET_FIELDS)
        budget = existing or TeamBudget(team=team, period=period, created_by=actor)
        budget.amount_usd, budget.reason = amount, reason.strip()
        budget.save()
        audit(
            actor,
            "team_budget_create" if created else "team_budget_update",
            f"team_budget:{budget.pk}",
            team=team.name,
            old=old,
            new=snapshot(budget, BUDGET_FIELDS),
            reason=budget.reason,
        )
        evaluate_on_commit(engineer_ids=[])
    return budget, created


def team_budget_delete(*, actor, budget_id: int, reason: str = "", today: date | None = None) -> None:
    today = today or timezone.localdate()
    budget = TeamBudget.objects.select_related("team").filter(pk=budget_id).first()
    if budget is None:
        raise ValidationError(f"There is no team budget #{budget_id}.")
    authorise(actor, team=budget.team, today=today)
    with transaction.atomic():
        audit(
            actor,
            "team_budget_delete",
            f"team_budget:{budget.pk}",
            team=budget.team.name,
            old=snapshot(budget, BUDGET_FIELDS),
            new=None,
            reason=reason,
        )
        budget.delete()


def team_webhook_set(*, actor, team_name: str, url: str, today: date | None = None) -> TeamWebhook | None:
    """Set (or with an empty url, remove) the webhook a team's alerts are posted to. Audited."""
    today = today or timezone.localdate()
    team = team_by_name(team_name)
    url = url.strip()
    if url and not url.startswith(("https://", "http://")):
        raise ValidationError(f"The webhook must be an http(s) URL, not {url!r}.")
    authorise(actor, team=team, today=today)
    with transaction.atomic():
        old = TeamWebhook.objects.filter(team=team).values_list("url", flat=True).first()
        hook = None
        if url:
            hook, _ = TeamWebhook.objects.update_or_create(team=team, defaults={"url": url})
        else:
            TeamWebhook.objects.filter(team=team).delete()
        audit(actor, "team_webhook_set", f"team:{team.pk}", team=team.name, old=old, new=url or None)
    return hook
