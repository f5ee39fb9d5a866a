"""Tool policies: a team subtree may not use a vendor (or one product) from a date.

Usage that breaks one is listed as a ToolViolation per engineer and tool (days, spend), kept
current by evaluation; the engineer's manager is told once, by email.
"""

from __future__ import annotations

from datetime import date
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, Max, Min, Sum
from django.utils import timezone

from billing.models import ToolPolicy, ToolViolation
from billing.services.notifications import DeliveryError
from billing.services.validation import authorise, parse_day, parse_tool, team_by_name, team_subtree_ids
from leaderboard.access import audit
from usage.display import tool_label
from usage.models import DailyUsage, Engineer


def tool_policy_set(
    *,
    actor,
    team_name: str,
    vendor: str,
    product: str = "",
    starts_on: date | str,
    reason: str,
    today: date | None = None,
) -> tuple[ToolPolicy, bool]:
    """Bar a team subtree from a vendor (or one of its products) from `starts_on` (may be in
    the past: earlier usage is then listed too). Create or change; audited."""
    today = today or timezone.localdate()
    if not vendor.strip():
        raise ValidationError("Name the vendor the team may not use.")
    vendor, product = parse_tool(vendor, product, today=today)
    if not reason.strip():
        raise ValidationError("Say why the team may not use this tool.")
    start = parse_day(starts_on, label="The start date")
    if start is None:
        raise ValidationError("Say from which day the policy applies (YYYY-MM-DD).")
    team = team_by_name(team_name)
    authorise(actor, team=team, today=today)
    with transaction.atomic():
        existing = ToolPolicy.objects.select_for_update().filter(team=team, vendor=vendor, product=product).first()
        created = existing is None
        old = None if existing is None else {"starts_on": str(existing.starts_on), "reason": existing.reason}
        policy = existing or ToolPolicy(team=team, vendor=vendor, product=product, created_by=actor)
        policy.starts_on, policy.reason = start, reason.strip()
        policy.save()
        audit(
            actor,
            "tool_policy_create" if created else "tool_policy_update",
            f"tool_policy:{policy.pk}",
            team=team.name,
            tool=f"{vendor}/{product or '*'}",
            old=old,
            new={"starts_on": str(start), "reason": policy.reason},
            reason=policy.reason,
        )
    return policy, created


def tool_policy_delete(*, actor, policy_id: int, reason: str = "", today: date | None = None) -> None:
    today = today or timezone.localdate()
    policy = ToolPolicy.objects.select_related("team").filter(pk=policy_id).first()
    if policy is None:
        raise ValidationError(f"There is no tool policy #{policy_id}.")
    authorise(actor, team=policy.team, today=today)
    with transaction.atomic():
        audit(
            actor,
            "tool_policy_delete",
            f"tool_policy:{policy.pk}",
            team=policy.team.name,
            old={"tool": f"{policy.vendor}/{policy.product or '*'}", "starts_on": str(policy.starts_on)},
            new=None,
            reason=reason,
        )
        policy.delete()


def tool_violations_evaluate(*, today: date) -> list[int]:
    """Refresh the violations of every tool policy from the ledger (usage counted for the team
    the engineer was in that day); queue the manager's notice for those not yet told. One
    query per policy. Idempotent."""
    rows = []
    for policy in ToolPolicy.objects.all():
        usage = DailyUsage.objects.filter(
            team_id__in=team_subtree_ids(policy.team_id),
            day__gte=policy.starts_on,
            day__lte=today,
            vendor=policy.vendor,
            engineer__isnull=False,
        )
        if policy.product:
            usage = usage.filter(product=policy.product)
        for row in usage.values("engineer_id", "vendor", "product").annotate(
            first=Min("day"), last=Max("day"), days=Count("day", distinct=True), cost=Sum("cost_usd")
        ):
            rows.append(
                ToolViolation(
                    tool_policy=policy,
                    engineer_id=row["engineer_id"],
                    vendor=row["vendor"],
                    product=row["product"],
                    first_day=row["first"],
                    last_day=row["last"],
                    days=row["days"],
                    cost_usd=row["cost"],
                )
            )
    ToolViolation.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["tool_policy", "engineer", "vendor", "product"],
        update_fields=["first_day", "last_day", "days", "cost_usd", "updated_at"],
    )
    untold = list(ToolViolation.objects.filter(notified_at__isnull=True).values_list("pk", flat=True))
    from billing.tasks import tool_violation_notify_task

    for violation_id in untold:
        transaction.on_commit(partial(tool_violation_notify_task.delay, violation_id=violation_id), robust=True)
    return untold


def tool_violation_notify(*, violation_id: int) -> bool:
    """Tell the engineer's manager, once: the row is claimed before sending and released if
    the mail server fails (DeliveryError: the task retries)."""
    claimed = ToolViolation.objects.filter(pk=violation_id, notified_at__isnull=True).update(notified_at=timezone.now())
    if not claimed:
        return False
    violation = ToolViolation.objects.select_related("tool_policy__team", "engineer__manager").get(pk=violation_id)
    manager: Engineer | None = violation.engineer.manager
    if manager is None or not manager.email:
        return False
    policy, used = violation.tool_policy, tool_label(violation.vendor, violation.product)
    text = (
        f"{violation.engineer.name} used {used} on {violation.days} day(s) "
        f"from {violation.first_day} to {violation.last_day} (${violation.cost_usd:,.2f}), although team "
        f"{policy.team.name} may not use {tool_label(policy.vendor, policy.product)} since {policy.starts_on}: "
        f"{policy.reason}"
    )
    try:
        send_mail(
            f"[Tokenboard] Tool policy: {violation.engineer.name} used {used}",
            text,
            settings.DEFAULT_FROM_EMAIL,
            [manager.email],
        )
    except OSError as exc:
        ToolViolation.objects.filter(pk=violation_id).update(notified_at=None)
        raise DeliveryError(str(exc)) from exc
    return True
