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


class BoardSnapshot(models.Model):
    """The people board of one period computed ahead (leaderboard.services.snapshots), so that `/`
    reads one page of ranked rows instead of ranking everyone per request.

    Fresh when `version` equals the rollup's current version (a sequence a trigger on
    usage_dailyusage advances on every write); pages fall back to the live query otherwise,
    unless the snapshot is younger than LEADERBOARD_SNAPSHOT_MAX_STALE_SECONDS.
    """

    start = models.DateField()
    end = models.DateField()  # exclusive
    # What its change columns compare with (Period.previous): moves daily for a running month.
    prev_start = models.DateField(null=True)
    prev_end = models.DateField(null=True)  # exclusive
    version = models.BigIntegerField()
    built_at = models.DateTimeField()
    build_ms = models.PositiveIntegerField(default=0)
    people = models.PositiveIntegerField(default=0)
    total_tokens = models.BigIntegerField(default=0)
    total_cost_usd = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    unmapped_tokens = models.BigIntegerField(default=0)
    unmapped_cost_usd = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    titles = models.JSONField(default=dict)  # title key -> engineer id
    vendors = models.JSONField(default=list)  # [[vendor, product], ...] with usage in the period

    class Meta:
        constraints = [models.UniqueConstraint(fields=["start", "end"], name="board_snapshot_period")]

    def __str__(self) -> str:
        return f"board {self.start}..{self.end} v{self.version}"


class BoardEntry(models.Model):
    """One engineer's row of a BoardSnapshot, with a rank and percentile for each sort metric."""

    snapshot = models.ForeignKey(BoardSnapshot, on_delete=models.CASCADE, related_name="entries")
    engineer_id = models.BigIntegerField()
    team_id = models.BigIntegerField(null=True)  # the team of the person's latest day in the period
    tokens = models.BigIntegerField()
    # The rollup's scale (numeric(24,10)), so that what is read here equals the live sums exactly
    # (the efficiency ranking divides by it and compares it with its minimum spend).
    cost_usd = models.DecimalField(max_digits=30, decimal_places=10)
    cache_read_tokens = models.BigIntegerField()  # these three decide the titles
    output_tokens = models.BigIntegerField()
    model_count = models.PositiveIntegerField()
    prev_tokens = models.BigIntegerField(null=True)
    prev_cost_usd = models.DecimalField(max_digits=30, decimal_places=10, null=True)
    top_model = models.CharField(max_length=100)
    top_tool = models.CharField(max_length=81)  # "vendor/product"
    rank_tokens = models.PositiveIntegerField()
    rank_spend = models.PositiveIntegerField()
    rank_tokens_per_usd = models.PositiveIntegerField()
    pct_tokens = models.FloatField()
    pct_spend = models.FloatField()
    pct_tokens_per_usd = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "engineer_id"], name="board_entry_engineer")]
        indexes = [
            models.Index(fields=["snapshot", "rank_tokens"], name="board_entry_rank_tokens"),
            models.Index(fields=["snapshot", "rank_spend"], name="board_entry_rank_spend"),
            models.Index(fields=["snapshot", "rank_tokens_per_usd"], name="board_entry_rank_tpu"),
        ]

    def __str__(self) -> str:
        return f"engineer {self.engineer_id} in {self.snapshot_id}"


class TeamBoardEntry(models.Model):
    """One team's row of a BoardSnapshot's team board: its own members' usage in the period and
    the one before (by the team of each day). Ranked when read: who may see a small team varies
    by viewer, and ranking a few thousand rows costs milliseconds."""

    # The unique (snapshot, team_id) index serves the snapshot's reads: no index of its own.
    snapshot = models.ForeignKey(BoardSnapshot, on_delete=models.CASCADE, related_name="team_entries", db_index=False)
    team_id = models.BigIntegerField(null=True)  # None: usage of engineers who had no team that day
    members = models.PositiveIntegerField()  # engineers with usage on the team in the period
    tokens = models.BigIntegerField()
    cost_usd = models.DecimalField(max_digits=30, decimal_places=10)
    prev_tokens = models.BigIntegerField(null=True)
    prev_cost_usd = models.DecimalField(max_digits=30, decimal_places=10, null=True)

    class Meta:
        # The team board reads a snapshot's entries (leaderboard.selectors.board_sql TEAMS_SNAPSHOT_SQL).
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "team_id"], name="team_board_entry_team", nulls_distinct=False)
        ]

    def __str__(self) -> str:
        return f"team {self.team_id} in {self.snapshot_id}"


class WeeklyRanking(models.Model):
    """Per ISO week: how many engineers had usage, for "my rank over time" (one row per week)."""

    week = models.DateField(primary_key=True)  # its Monday
    people = models.PositiveIntegerField()
    version = models.BigIntegerField()
    built_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"week of {self.week}: {self.people} ranked"


class WeeklyRank(models.Model):
    """An engineer's rank by spend in one ISO week (1 = the biggest), computed ahead."""

    week = models.ForeignKey(WeeklyRanking, on_delete=models.CASCADE, db_column="week", related_name="ranks")
    engineer_id = models.BigIntegerField()
    cost_usd = models.DecimalField(max_digits=20, decimal_places=6)
    rank = models.PositiveIntegerField()
    cume = models.FloatField()  # cume_dist by spend ascending: the share at or below this engineer

    class Meta:
        constraints = [models.UniqueConstraint(fields=["engineer_id", "week"], name="weekly_rank_engineer_week")]

    def __str__(self) -> str:
        return f"engineer {self.engineer_id} #{self.rank} in the week of {self.week_id}"
