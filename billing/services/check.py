"""The cap check a gateway makes before letting a request through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models.functions import Lower

from billing.models import CapStatus
from billing.services.evaluation import caps_evaluate
from usage.models import Engineer

CENT = Decimal("0.01")


@dataclass(frozen=True)
class CapCheck:
    email: str
    vendor: str
    product: str
    cap_usd: Decimal | None  # None: no cap applies
    spent_usd: Decimal
    period_start: date
    period_end: date  # exclusive
    policy: str

    @property
    def allowed(self) -> bool:
        return self.cap_usd is None or self.spent_usd < self.cap_usd

    @property
    def remaining_usd(self) -> Decimal | None:
        return None if self.cap_usd is None else max(self.cap_usd - self.spent_usd, Decimal(0))

    def as_json(self) -> dict:
        """Money as JSON numbers with exactly the cents (the Decimal is rounded, never summed as float)."""

        def usd(value: Decimal | None) -> float | None:
            return None if value is None else float(value.quantize(CENT))

        return {
            "email": self.email,
            "vendor": self.vendor,
            "product": self.product,
            "allowed": self.allowed,
            "cap_usd": usd(self.cap_usd),
            "spent_usd": usd(self.spent_usd),
            "remaining_usd": usd(self.remaining_usd),
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "policy": self.policy or "no cap applies",
        }


def _status(email: str, vendor: str, product: str, today: date) -> CapCheck | None:
    row = (
        CapStatus.objects.alias(email_lower=Lower("engineer__email"))
        .filter(email_lower=email, vendor=vendor, product=product, period_end__gt=today)
        .values("cap_usd", "spent_usd", "period_start", "period_end", "policy")
        .first()
    )
    return None if row is None else CapCheck(email=email, vendor=vendor, product=product, **row)


def cap_check(*, email: str, vendor: str, product: str = "", today: date) -> CapCheck | None:
    """The engineer's cap and spend for a tool this period, from CapStatus (one query). A tool
    nobody asked about yet, or a period just begun, is evaluated once and stored. None for an
    unknown email."""
    email, vendor, product = email.strip().lower(), vendor.strip().lower(), product.strip().lower()
    answer = _status(email, vendor, product, today)
    if answer is not None:
        return answer
    engineer_id = (
        Engineer.objects.alias(email_lower=Lower("email"))
        .filter(email_lower=email)
        .values_list("pk", flat=True)
        .first()
    )
    if engineer_id is None:
        return None
    caps_evaluate(engineer_ids=[engineer_id], today=today, extra_keys=[(vendor, product)], org_wide=False)
    return _status(email, vendor, product, today)
