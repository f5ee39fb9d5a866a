from django.contrib import admin

from billing.models import PriceOverride


@admin.register(PriceOverride)
class PriceOverrideAdmin(admin.ModelAdmin):
    """Negotiated or missing prices. Past usage is re-priced only by billing.services.usage_reprice."""

    list_display = ["vendor", "model", "valid_from", "valid_to", "input_per_mtok_usd", "output_per_mtok_usd", "note"]
    list_filter = ["vendor"]
    search_fields = ["model"]
