"""The Django admin for the org directory and imports. Usage rows are written only by the pipeline."""

from django.contrib import admin

from usage.models import Engineer, ImportBatch, Team, TeamMembership, VendorIdentity


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0


class VendorIdentityInline(admin.TabularInline):
    model = VendorIdentity
    extra = 0


@admin.register(Engineer)
class EngineerAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "title", "cost_center", "manager", "start_date", "end_date"]
    search_fields = ["email", "name", "github_login", "employee_id"]
    list_filter = ["cost_center"]
    raw_id_fields = ["manager", "user"]
    inlines = [TeamMembershipInline, VendorIdentityInline]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "parent"]
    search_fields = ["name"]


@admin.register(VendorIdentity)
class VendorIdentityAdmin(admin.ModelAdmin):
    list_display = ["vendor", "kind", "external_id", "engineer"]
    list_filter = ["vendor", "kind"]
    search_fields = ["external_id", "engineer__email"]
    raw_id_fields = ["engineer"]


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    """Read-only: batches are made by uploads and processed by workers."""

    list_display = [
        "id",
        "filename",
        "format",
        "status",
        "rows_accepted",
        "rows_rejected",
        "rows_unmapped",
        "created_at",
    ]
    list_filter = ["status", "format"]
    search_fields = ["filename", "sha256"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
