from django.contrib import admin

from billing.models import PriceOverride, SeatAssignment, SpendAnomaly


@admin.register(PriceOverride)
class PriceOverrideAdmin(admin.ModelAdmin):
    """Negotiated or missing prices. Past usage is re-priced only by billing.services.usage_reprice."""

    list_display = ["vendor", "model", "valid_from", "valid_to", "input_per_mtok_usd", "output_per_mtok_usd", "note"]
    list_filter = ["vendor"]
    search_fields = ["model"]


@admin.register(SeatAssignment)
class SeatAssignmentAdmin(admin.ModelAdmin):
    """Seats are imported (import_seats, or the upload on /finance/); read them here."""

    list_display = ["email", "vendor", "product", "monthly_price_usd", "start_on", "end_on"]
    list_filter = ["vendor", "product"]
    search_fields = ["email"]


@admin.register(SpendAnomaly)
class SpendAnomalyAdmin(admin.ModelAdmin):
    list_display = ["day", "engineer", "rule", "amount_usd", "baseline_mean_usd", "emailed_at", "webhook_at"]
    list_filter = ["rule"]
    raw_id_fields = ["engineer"]
