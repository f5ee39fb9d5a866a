"""Money: negotiated price overrides and the vendors' billed totals."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class PriceOverride(models.Model):
    """A negotiated (or missing) price per million tokens, in force over [valid_from, valid_to).

    An override wins over the genai-prices list price for the same vendor and model.
    Applying it to past usage is an explicit re-pricing action (billing.services).
    """

    vendor = models.CharField(max_length=40)
    model = models.CharField(max_length=200)  # canonical or as the vendor writes it
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)
    input_per_mtok_usd = models.DecimalField(max_digits=14, decimal_places=6)
    output_per_mtok_usd = models.DecimalField(max_digits=14, decimal_places=6)
    cache_read_per_mtok_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    cache_write_5m_per_mtok_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    cache_write_1h_per_mtok_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["vendor", "model", "valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["vendor", "model", "valid_from"], name="price_override_unique"),
            models.CheckConstraint(
                condition=Q(input_per_mtok_usd__gte=0) & Q(output_per_mtok_usd__gte=0),
                name="price_override_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vendor}/{self.model} from {self.valid_from}"


class BillingLine(models.Model):
    """A vendor's billed amount (cost reports): used for reconciliation, never for spend."""

    batch = models.ForeignKey("usage.ImportBatch", on_delete=models.PROTECT, related_name="+")
    dataset = models.CharField(max_length=40)
    dedup_key = models.CharField(max_length=64)
    day = models.DateField()
    vendor = models.CharField(max_length=40)
    account = models.CharField(max_length=255, blank=True)
    model = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=255, blank=True)
    cost_usd = models.DecimalField(max_digits=24, decimal_places=10)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "dedup_key", "day"], name="billing_line_natural_key"),
        ]
        indexes = [
            # Reconciliation sums a vendor's month.
            models.Index(fields=["vendor", "day"], name="billing_line_vendor_day"),
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.day} {self.cost_usd}"
