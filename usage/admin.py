"""The Django admin for the org directory, imports and sources. Usage rows are written only by the pipeline."""

from django.contrib import admin

from usage.models import Engineer, ImportBatch, SourcePriority, Team, TeamMembership, UsageSource, VendorIdentity
from usage.services.counting import source_priority_set


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


@admin.register(UsageSource)
class UsageSourceAdmin(admin.ModelAdmin):
    """Connect a vendor API (docs/sources.md). The key stays in an env var or a file."""

    list_display = ["name", "kind", "enabled", "last_status", "last_finished_at", "next_run_at", "watermark_at"]
    list_filter = ["kind", "enabled", "last_status"]
    search_fields = ["name", "account"]
    readonly_fields = [
        "running_since", "last_started_at", "last_finished_at", "last_status", "last_error", "last_rows",
        "last_batches", "failures", "created_at",
    ]  # fmt: skip


@admin.register(SourcePriority)
class SourcePriorityAdmin(admin.ModelAdmin):
    """Which of two overlapping datasets counts. Saving flips the stored rows and moves the
    rollup by them (the same service as /sources/)."""

    list_display = ["name", "primary_dataset", "first_dataset", "second_dataset", "account", "active"]
    readonly_fields = ["active", "updated_at"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        source_priority_set(priority_id=obj.pk, primary_dataset=obj.primary_dataset, user=request.user)
