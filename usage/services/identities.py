"""Mapping a vendor identity to a person, after its usage arrived unmapped (DESIGN rule 5)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import Lower

from leaderboard.access import audit
from usage.models import Engineer, UsageRecord, VendorIdentity

from .impact import impact_reattribute
from .reattribute import usage_reattribute


@dataclass(frozen=True)
class MapResult:
    identity: str  # "vendor:kind:external_id"
    engineer_name: str
    engineer_email: str
    rows_moved: int
    cost_usd: Decimal  # the cost of the rows that changed hands
    outcomes_moved: int = 0  # merged PRs, commits, accepted lines (ImpactRecord rows) that found their person


def identity_map(*, vendor: str, kind: str, external_id: str, engineer_email: str, user) -> MapResult:
    """Map (vendor, kind, external_id) to the engineer with this email (any case) and move its
    usage history and rollups to them; audited. Mapping again to the same person moves nothing.
    Raises ValidationError for an unknown email or an identity that belongs to someone else."""
    # Lower(email) is what the unique index holds, so this lookup uses it.
    engineer = Engineer.objects.alias(email_ci=Lower("email")).filter(email_ci=engineer_email.strip().lower()).first()
    if engineer is None:
        raise ValidationError(
            f"No engineer has the email {engineer_email}: check the spelling, or import the org chart first."
        )
    label = f"{vendor}:{kind}:{external_id}"
    with transaction.atomic():
        identity, _ = VendorIdentity.objects.select_related("engineer").get_or_create(
            vendor=vendor, kind=kind, external_id=external_id, defaults={"engineer": engineer}
        )
        if identity.engineer_id != engineer.pk:
            raise ValidationError(f"{label} already belongs to {identity.engineer.email}; it was left as it is.")
        # The rows usage_reattribute is about to move: those not yet pointing at this engineer.
        moving = UsageRecord.objects.filter(vendor=vendor, identity_kind=kind, identity_value=external_id).filter(
            Q(engineer__isnull=True) | ~Q(engineer=engineer)
        )
        cost = moving.aggregate(total=Sum("cost_usd"))["total"] or Decimal(0)
        moved = usage_reattribute(identities=[(vendor, kind, external_id)])
        outcomes = impact_reattribute()  # its unmapped PRs and commits follow too
        audit(
            user,
            "map_identity",
            label,
            engineer=engineer.email,
            rows_moved=moved,
            cost_usd=str(cost),
            outcomes=outcomes,
        )
    return MapResult(
        identity=label,
        engineer_name=engineer.name,
        engineer_email=engineer.email,
        rows_moved=moved,
        cost_usd=cost,
        outcomes_moved=outcomes,
    )
