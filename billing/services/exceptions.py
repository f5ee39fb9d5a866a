"""Going over a cap: an engineer asks for a raise, their manager approves or denies it.

An approval raises the effective cap by the amount until the request's end date. Both steps are
audited (old and new values, the reason) and refuse bad input with a ValidationError.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from billing.models import CapException
from billing.services.validation import (
    authorise,
    engineer_by_email,
    evaluate_on_commit,
    parse_amount,
    parse_expiry,
    parse_tool,
    snapshot,
)
from leaderboard.access import audit, viewer_for

# ---------------------------------------------------------------------------------------------
# Going over a cap: request, then a manager approves or denies

EXCEPTION_FIELDS = ("amount_usd", "vendor", "product", "until", "status", "reason", "decision_note")


def cap_exception_request(
    *,
    actor,
    engineer_email: str,
    amount_usd: Any,
    reason: str,
    until: date | str,
    vendor: str = "",
    product: str = "",
    today: date | None = None,
) -> CapException:
    """An engineer (or someone above them) asks to raise their cap by `amount_usd` through
    `until`. Pending until their manager decides. Audited."""
    today = today or timezone.localdate()
    amount = parse_amount(amount_usd, positive=True)
    expiry = parse_expiry(until, today=today, label="The end date")
    if expiry is None:
        raise ValidationError("Say until when the raise is needed (YYYY-MM-DD).")
    if not reason.strip():
        raise ValidationError("Say why the raise is needed.")
    vendor, product = parse_tool(vendor, product, today=today)
    engineer = engineer_by_email(engineer_email)
    if actor is not None and viewer_for(actor).engineer_id != engineer.pk:
        authorise(actor, engineer=engineer, today=today)
    with transaction.atomic():
        exception = CapException.objects.create(
            engineer=engineer,
            vendor=vendor,
            product=product,
            amount_usd=amount,
            reason=reason.strip(),
            until=expiry,
            requested_by=actor,
        )
        audit(
            actor,
            "cap_exception_request",
            f"cap_exception:{exception.pk}",
            engineer=engineer.email,
            old=None,
            new=snapshot(exception, EXCEPTION_FIELDS),
            reason=exception.reason,
        )
    return exception


def cap_exception_decide(
    *, actor, exception_id: int, approve: bool, note: str = "", today: date | None = None
) -> CapException:
    """The engineer's manager (or finance, an admin) approves or denies a pending request.
    An approval raises the effective cap until the request's end date. Audited."""
    today = today or timezone.localdate()
    with transaction.atomic():
        exception = (
            CapException.objects.select_for_update(of=("self",))
            .select_related("engineer")
            .filter(pk=exception_id)
            .first()
        )
        if exception is None:
            raise ValidationError(f"There is no cap raise request #{exception_id}.")
        if exception.status != CapException.Status.PENDING:
            raise ValidationError(f"Request #{exception_id} was already {exception.status}.")
        if actor is not None and viewer_for(actor).engineer_id == exception.engineer_id:
            raise ValidationError("You cannot decide on your own request.")
        authorise(actor, engineer=exception.engineer, today=today)
        if approve and exception.until < today:
            raise ValidationError(f"Request #{exception_id} ended on {exception.until}; it cannot be approved now.")
        old = snapshot(exception, EXCEPTION_FIELDS)
        exception.status = CapException.Status.APPROVED if approve else CapException.Status.DENIED
        exception.decided_by = actor
        exception.decided_at = timezone.now()
        exception.decision_note = note.strip()
        exception.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        audit(
            actor,
            f"cap_exception_{'approve' if approve else 'deny'}",
            f"cap_exception:{exception.pk}",
            engineer=exception.engineer.email,
            old=old,
            new=snapshot(exception, EXCEPTION_FIELDS),
            reason=exception.decision_note,
        )
        if approve:
            evaluate_on_commit(engineer_ids=[exception.engineer_id])
    return exception
