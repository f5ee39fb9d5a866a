from django.contrib import admin

from leaderboard.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit log can be read, never edited."""

    list_display = ["at", "user", "action", "target"]
    list_filter = ["action"]
    search_fields = ["target", "user__username"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
