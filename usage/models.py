"""Who used what: the org directory, imports, and the usage ledger.

Usage rows never go through these models one by one: the pipeline in services/ingest.py
writes them with COPY and set-based SQL. The models define the tables and invariants.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class Team(models.Model):
    name = models.CharField(max_length=200, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EngineerQuerySet(models.QuerySet):
    def by_email(self, email: str) -> EngineerQuerySet:
        return self.filter(email=email.strip().lower())

    def active_on(self, day: date) -> EngineerQuerySet:
        return self.filter(Q(start_date__isnull=True) | Q(start_date__lte=day)).filter(
            Q(end_date__isnull=True) | Q(end_date__gte=day)
        )


class Engineer(models.Model):
    # Emails are stored lower-cased by the services; the constraint makes that case-proof.
    email = models.EmailField(max_length=254)
    employee_id = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=200)
    title = models.CharField(max_length=200, blank=True)
    cost_center = models.CharField(max_length=64, blank=True)
    github_login = models.CharField(max_length=100, blank=True)
    manager = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports")
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    objects = EngineerQuerySet.as_manager()

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="engineer_email_ci_unique"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True)
                | Q(start_date__isnull=True)
                | Q(end_date__gte=models.F("start_date")),
                name="engineer_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class TeamMembershipQuerySet(models.QuerySet):
    def on(self, day: date) -> TeamMembershipQuerySet:
        """Memberships in force on `day`; valid_to is exclusive."""
        return self.filter(valid_from__lte=day).filter(Q(valid_to__isnull=True) | Q(valid_to__gt=day))


class TeamMembership(models.Model):
    """The team an engineer belonged to over [valid_from, valid_to): usage follows it (rule 6)."""

    engineer = models.ForeignKey(Engineer, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="memberships")
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)

    objects = TeamMembershipQuerySet.as_manager()

    class Meta:
        ordering = ["engineer_id", "valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="membership_valid_to_after_from",
            ),
            # One open membership per engineer; overlaps are prevented by the org import service.
            models.UniqueConstraint(
                fields=["engineer"], condition=Q(valid_to__isnull=True), name="membership_one_open_per_engineer"
            ),
        ]
        indexes = [
            # The rollup joins usage days to the membership of that day, by engineer.
            models.Index(fields=["engineer", "valid_from"], name="membership_engineer_from"),
        ]

    def __str__(self) -> str:
        return f"{self.engineer_id} in {self.team_id} from {self.valid_from}"


class VendorIdentity(models.Model):
    """A vendor's id for a person: an API key, an OAuth account, a user id, a login."""

    vendor = models.CharField(max_length=40)
    kind = models.CharField(max_length=40)
    external_id = models.CharField(max_length=255)
    engineer = models.ForeignKey(Engineer, on_delete=models.CASCADE, related_name="identities")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["vendor", "kind", "external_id"], name="vendor_identity_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.vendor}:{self.kind}:{self.external_id}"


class ImportBatch(models.Model):
    """One uploaded or pulled export file. The row is the truth; the Celery message a doorbell."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        DUPLICATE = "duplicate"  # byte-identical to an earlier batch: nothing to do

    filename = models.CharField(max_length=255)
    raw_file = models.FileField(upload_to="imports/%Y/%m/")
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)  # finds byte-identical uploads
    format = models.CharField(max_length=40, blank=True)  # requested or detected
    engineer_email = models.EmailField(blank=True)  # for logs that carry no identity (local logs)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    error = models.TextField(blank=True)
    rows_accepted = models.IntegerField(default=0)
    rows_rejected = models.IntegerField(default=0)
    rows_unmapped = models.IntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=24, decimal_places=10, default=0)
    unmapped_cost_usd = models.DecimalField(max_digits=24, decimal_places=10, default=0)
    unpriced_rows = models.IntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.IntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The beat task looks for stale pending/running batches.
            models.Index(fields=["status", "created_at"], name="batch_status_created"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.filename} ({self.status})"


class RejectedRow(models.Model):
    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="rejected_rows")
    location = models.CharField(max_length=100)  # "line 12" or "data[3].results[1]"
    reason = models.TextField()
    raw = models.TextField(blank=True)

    class Meta:
        ordering = ["batch_id", "id"]

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


class CostSource(models.TextChoices):
    VENDOR = "vendor"
    COMPUTED = "computed"
    UNPRICED = "unpriced"


class UsageRecord(models.Model):
    """A canonical usage row: one vendor bucket or event, attributed or not (engineer null).

    Written only by the ingest pipeline (COPY + set-based upsert). `dedup_key` is the row's
    natural key within its dataset; a later batch with the same key replaces the row.
    """

    # No foreign-key constraints on this table (db_constraint=False): their deferred checks ran
    # once per row at commit, 1.4 s per 200,000 rows. Ingest writes the batch it holds and
    # engineers it resolved from usage_engineer; PROTECT is still enforced by Django's deletes.
    batch = models.ForeignKey(
        ImportBatch, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    dataset = models.CharField(max_length=40)
    dedup_key = models.CharField(max_length=64)
    bucket_start = models.DateTimeField()
    bucket_width = models.CharField(max_length=8)
    day = models.DateField()
    vendor = models.CharField(max_length=40)
    product = models.CharField(max_length=40)
    account = models.CharField(max_length=255, blank=True)
    identity_kind = models.CharField(max_length=40)
    identity_value = models.CharField(max_length=255)
    engineer = models.ForeignKey(
        Engineer, null=True, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    model = models.CharField(max_length=200)  # as the vendor wrote it
    model_canonical = models.CharField(max_length=200)  # alias-resolved: what prices and charts use
    long_context = models.BooleanField(default=False)
    input_uncached_tokens = models.BigIntegerField()
    cache_read_tokens = models.BigIntegerField()
    cache_write_5m_tokens = models.BigIntegerField()
    cache_write_1h_tokens = models.BigIntegerField()
    output_tokens = models.BigIntegerField()
    requests = models.BigIntegerField()
    cost_usd = models.DecimalField(max_digits=24, decimal_places=10)
    cost_source = models.CharField(max_length=10, choices=CostSource.choices)
    # False: another dataset is primary for the same spend (SourcePriority, rule 1); the row is
    # kept but DailyUsage leaves it out. A database default, so adding it rewrites nothing.
    counted = models.BooleanField(default=True, db_default=True)

    # The natural key is the primary key, and the only full btree the raw table carries (dedup
    # needs it; a surrogate id's btree and sequence cost 1 s per 1M rows inserted, migration
    # 0012). Time before the hash: a batch's keys are near each other in the index, so its probes
    # and inserts touch the recent end of it, not random pages of a 20M-row index.
    pk = models.CompositePrimaryKey("dataset", "bucket_start", "dedup_key")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(input_uncached_tokens__gte=0)
                & Q(cache_read_tokens__gte=0)
                & Q(cache_write_5m_tokens__gte=0)
                & Q(cache_write_1h_tokens__gte=0)
                & Q(output_tokens__gte=0)
                & Q(requests__gte=0)
                & Q(cost_usd__gte=0),
                name="usage_record_non_negative",
            ),
        ]
        indexes = [
            # Unmapped usage is a small slice of the ledger: these serve the Imports page's
            # unmapped-identity list and a batch's unmapped rows without a raw-table scan.
            models.Index(
                fields=["vendor", "identity_kind", "identity_value"],
                condition=Q(engineer__isnull=True),
                name="usage_unmapped_identity",
            ),
            models.Index(fields=["batch"], condition=Q(engineer__isnull=True), name="usage_unmapped_batch"),
            # A batch's rows left out of spend, for the batch page and /sources/.
            models.Index(fields=["batch"], condition=Q(counted=False), name="usage_not_counted_batch"),
            # Time ranges (rebuilds, retention) on a table partitioned by month on bucket_start
            # (migration 0006): a BRIN is a few pages where a btree would double the table.
            BrinIndex(fields=["bucket_start"], name="usage_record_bucket_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} {self.day} {self.identity_kind}:{self.identity_value} {self.model}"


class DailyUsageQuerySet(models.QuerySet):
    def in_period(self, start: date, end: date) -> DailyUsageQuerySet:
        """Rows with start <= day < end."""
        return self.filter(day__gte=start, day__lt=end)

    def for_month(self, year: int, month: int) -> DailyUsageQuerySet:
        start = date(year, month, 1)
        end = date(year + month // 12, month % 12 + 1, 1)
        return self.in_period(start, end)

    def attributed(self) -> DailyUsageQuerySet:
        return self.filter(engineer__isnull=False)


class DailyUsage(models.Model):
    """The rollup dashboards read: one row per (day, engineer, vendor, product, model).

    Maintained by the ingest pipeline in the same transaction as UsageRecord. engineer is
    null for unmapped usage; team is the engineer's team on that day.
    """

    day = models.DateField()
    # Only the indexes below: each one is written on every rollup update (a third of ingest's SQL).
    engineer = models.ForeignKey(
        Engineer, null=True, on_delete=models.PROTECT, related_name="daily_usage", db_index=False
    )
    team = models.ForeignKey(Team, null=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    vendor = models.CharField(max_length=40)
    product = models.CharField(max_length=40)
    model = models.CharField(max_length=200)
    input_uncached_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    tokens = models.BigIntegerField(default=0)  # all input (uncached + cache read + writes) + output
    requests = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=24, decimal_places=10, default=0)
    unpriced_tokens = models.BigIntegerField(default=0)  # tokens of rows with no known price

    objects = DailyUsageQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "engineer", "vendor", "product", "model"],
                name="daily_usage_key",
                nulls_distinct=False,
            ),
            models.CheckConstraint(condition=Q(tokens__gte=0) & Q(cost_usd__gte=0), name="daily_usage_non_negative"),
        ]
        indexes = [
            # Per-engineer pages and the leaderboard's per-engineer sums over a period.
            models.Index(fields=["engineer", "day"], name="daily_usage_engineer_day"),
            # Team pages and team rollups over a period.
            models.Index(fields=["team", "day"], name="daily_usage_team_day"),
            # Everyone's usage over a period (the leaderboard, reports): daily_usage_key starts with day.
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.engineer_id} {self.vendor}/{self.product}/{self.model}"


class ImpactRecord(models.Model):
    """An outcome count for a person on a day: merged PRs, commits, accepted AI lines...

    Written only by the ingest pipeline (set-based upsert). `dedup_key` is the row's natural
    key within its dataset (it includes the metric and the day); a later batch with the same
    key replaces the row. engineer is null for an identity nobody maps to (kept, like usage).
    docs/impact.md lists the metrics.
    """

    batch = models.ForeignKey(ImportBatch, on_delete=models.PROTECT, related_name="+", db_index=False)
    dataset = models.CharField(max_length=40)
    dedup_key = models.CharField(max_length=64)
    day = models.DateField()
    # For a merged PR: the day it was opened, so "AI usage in the PR's window" can be asked.
    window_start = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=40)  # github | anthropic | generic: the vendor of the identity
    identity_kind = models.CharField(max_length=40)
    identity_value = models.CharField(max_length=255)
    engineer = models.ForeignKey(Engineer, null=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    metric = models.CharField(max_length=40)
    value = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "dedup_key"], name="impact_record_natural_key"),
            models.CheckConstraint(condition=Q(value__gte=0), name="impact_record_non_negative"),
        ]
        indexes = [
            # The impact page and the efficiency board: everyone's outcomes over a period.
            models.Index(fields=["day", "metric"], name="impact_day_metric"),
            # Re-attribution of an identity mapped later.
            models.Index(
                fields=["identity_kind", "identity_value"],
                condition=Q(engineer__isnull=True),
                name="impact_unmapped_identity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.identity_kind}:{self.identity_value} {self.metric}={self.value}"


class SourcePriority(models.Model):
    """Two attribution datasets that report the same dollars (DESIGN rule 1): once the primary
    has data, rows of the other one are kept but not summed. `account` narrows the rule to rows of one
    account (org / workspace / project); blank means every account."""

    name = models.CharField(max_length=200)
    first_dataset = models.CharField(max_length=40)
    second_dataset = models.CharField(max_length=40)
    primary_dataset = models.CharField(max_length=40)
    account = models.CharField(max_length=255, blank=True)
    # The primary has delivered rows: until then the other one counts (a site with only the
    # gateway logs, or only local logs, still sees its spend).
    active = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "account"]
        constraints = [
            models.UniqueConstraint(fields=["first_dataset", "second_dataset", "account"], name="source_priority_pair"),
            models.CheckConstraint(
                condition=Q(primary_dataset=models.F("first_dataset")) | Q(primary_dataset=models.F("second_dataset")),
                name="source_priority_primary_in_pair",
            ),
            models.CheckConstraint(condition=~Q(first_dataset=models.F("second_dataset")), name="source_priority_two"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.primary_dataset} counts, {self.secondary_dataset} does not"

    @property
    def secondary_dataset(self) -> str:
        return self.second_dataset if self.primary_dataset == self.first_dataset else self.first_dataset


class UsageSource(models.Model):
    """A connected vendor account that Tokenboard pulls on a schedule (usage/connectors/).

    The secret itself is never stored: `credential_env` names an environment variable, or
    `credential_file` a file, that holds it. `watermark_at`: everything before it was pulled.
    """

    class Kind(models.TextChoices):
        ANTHROPIC_USAGE = "anthropic_usage", "Anthropic usage report"
        ANTHROPIC_COST = "anthropic_cost", "Anthropic cost report"
        CLAUDE_CODE_ANALYTICS = "claude_code_analytics", "Claude Code analytics"
        OPENAI_USAGE = "openai_usage", "OpenAI usage (completions)"
        OPENAI_COSTS = "openai_costs", "OpenAI costs"
        OPENAI_USERS = "openai_users", "OpenAI users (user id to email)"
        CURSOR_EVENTS = "cursor_events", "Cursor usage events (Admin API)"
        COPILOT_METRICS = "copilot_metrics", "GitHub Copilot users-1-day metrics"

    class Status(models.TextChoices):
        NEW = "new"
        OK = "ok"
        FAILED = "failed"

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=40, choices=Kind.choices)
    base_url = models.URLField(blank=True)  # blank: the vendor's public API
    account = models.CharField(max_length=255, blank=True)  # GitHub org (or enterprise:SLUG) for Copilot
    credential_env = models.CharField(max_length=100, blank=True)
    credential_file = models.CharField(max_length=500, blank=True)
    enabled = models.BooleanField(default=True)
    interval_minutes = models.PositiveIntegerField(default=60)
    repull_days = models.PositiveIntegerField(default=3)  # restatements: the last N days are pulled again
    start_on = models.DateField(null=True, blank=True)  # the first day a new source pulls
    watermark_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)  # null: due now
    running_since = models.DateTimeField(null=True, blank=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    last_error = models.TextField(blank=True)
    last_rows = models.IntegerField(default=0)
    last_batches = models.IntegerField(default=0)
    failures = models.IntegerField(default=0)  # consecutive failed runs
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(credential_env="") | ~Q(credential_file=""), name="usage_source_has_credential"
            ),
        ]
        indexes = [
            # The beat task's "which sources are due" scan.
            models.Index(fields=["enabled", "next_run_at"], name="usage_source_due"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class RawRetention(models.Model):
    """One row (pk=1): raw usage rows before `pruned_before` were dropped by prune_raw. Their
    totals live on in DailyUsage; an export that restates those days is refused, since the rows
    it would replace are gone and their sums would be counted twice."""

    pruned_before = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"raw usage kept from {self.pruned_before or 'the start'}"


class ComputedCache(models.Model):
    """A costly read's result (usage.services.computed), pickled, under the versions of the tables
    it was read from: served only while none of them has changed since."""

    key = models.CharField(max_length=200, primary_key=True)  # "<kind>:<what was asked>"
    kind = models.CharField(max_length=50)
    versions = models.CharField(max_length=200)
    built_at = models.DateTimeField()
    payload = models.BinaryField()

    class Meta:
        indexes = [models.Index(fields=["kind"], name="computed_cache_kind")]

    def __str__(self) -> str:
        return f"{self.key} @ {self.versions}"
