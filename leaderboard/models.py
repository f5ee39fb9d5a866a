"""Who may see what: the privacy settings, and the audit log of sensitive reads and exports."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PrivacySettings(models.Model):
    """One row (pk=1), edited by admins. DESIGN.md rule 8: privacy is a feature."""

    class BoardNames(models.TextChoices):
        NAMES = "names", "Names"
        PSEUDONYMS = "pseudonyms", "Pseudonyms"
        SELF_ONLY = "self_only", "Only the viewer's own row"

    board_names = models.CharField(max_length=12, choices=BoardNames.choices, default=BoardNames.NAMES)
    # Team aggregates with fewer members than this are hidden from non-managers.
    min_team_size = models.PositiveIntegerField(default=5)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        verbose_name_plural = "privacy settings"

    def __str__(self) -> str:
        return f"board: {self.board_names}, k={self.min_team_size}"


class AuditEntry(models.Model):
    """Who did or saw what, when: another person's page, every export, every cap change."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=60)  # "view_engineer", "export_csv", "cap_policy_update", ...
    target = models.CharField(max_length=255, blank=True)  # "engineer:42", "leaderboard?start=..."
    details = models.JSONField(default=dict, blank=True)  # old/new values, reasons, parameters

    class Meta:
        ordering = ["-at"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user_id} {self.action} {self.target}"
