"""Money: negotiated price overrides, the vendors' billed totals, and budgets and caps."""

from __future__ import annotations

from django.conf import settings
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


# Budgets and caps (issue 4). Money is Decimal to the cent; periods are half-open [start, end).


class CapPeriod(models.TextChoices):
    MONTH = "month", "Calendar month"
    QUARTER = "quarter", "Quarter (of the fiscal year)"
    YEAR = "year", "Fiscal year"


class CapPolicy(models.Model):
    """A spend limit in USD per period for everyone (org), a team subtree, or one engineer,
    optionally for one vendor and/or product ("" = any). A cap limits the spend on the tool it
    is checked for, so a policy without vendor or product is the default for every tool.
    With `valid_until` it is an override: in force through that day, then ignored."""

    class Scope(models.TextChoices):
        ORG = "org", "Everyone"
        TEAM = "team", "Team subtree"
        ENGINEER = "engineer", "One engineer"

    scope = models.CharField(max_length=10, choices=Scope.choices)
    team = models.ForeignKey("usage.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    engineer = models.ForeignKey("usage.Engineer", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    vendor = models.CharField(max_length=40, blank=True)
    product = models.CharField(max_length=40, blank=True)
    amount_usd = models.DecimalField(max_digits=14, decimal_places=2)
    period = models.CharField(max_length=8, choices=CapPeriod.choices, default=CapPeriod.MONTH)
    reason = models.TextField(blank=True)
    valid_until = models.DateField(null=True, blank=True)  # inclusive; null = no expiry
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scope", "team_id", "engineer_id", "vendor", "product"]
        verbose_name_plural = "cap policies"
        constraints = [
            models.CheckConstraint(condition=Q(amount_usd__gte=0), name="cap_policy_amount_non_negative"),
            models.CheckConstraint(
                condition=(Q(scope="org", team__isnull=True, engineer__isnull=True))
                | Q(scope="team", team__isnull=False, engineer__isnull=True)
                | Q(scope="engineer", team__isnull=True, engineer__isnull=False),
                name="cap_policy_scope_consistent",
            ),
            # One policy per scope and tool: a second one would make "the" cap ambiguous.
            models.UniqueConstraint(
                fields=["scope", "team", "engineer", "vendor", "product"],
                name="cap_policy_unique_scope_tool",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        if self.team is not None:
            who = f"team {self.team.name}"
        elif self.engineer is not None:
            who = f"engineer {self.engineer.email}"
        else:
            who = "org default"
        tool = "/".join(p for p in (self.vendor, self.product) if p) or "any tool"
        until = f" until {self.valid_until}" if self.valid_until else ""
        return f"{who}, {tool}: ${self.amount_usd} per {self.period}{until}"


class TeamBudget(models.Model):
    """A pooled amount per team subtree per period, separate from per-person caps."""

    team = models.ForeignKey("usage.Team", on_delete=models.CASCADE, related_name="+")
    period = models.CharField(max_length=8, choices=CapPeriod.choices, default=CapPeriod.MONTH)
    amount_usd = models.DecimalField(max_digits=14, decimal_places=2)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team_id", "period"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_usd__gte=0), name="team_budget_amount_non_negative"),
            models.UniqueConstraint(fields=["team", "period"], name="team_budget_unique_team_period"),
        ]

    def __str__(self) -> str:
        return f"{self.team_id}: ${self.amount_usd} per {self.period}"


class TeamWebhook(models.Model):
    """Where a team's alerts are posted (Slack-compatible `{"text": ...}`); sub-teams inherit it."""

    team = models.OneToOneField("usage.Team", on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=500)

    def __str__(self) -> str:
        return f"{self.team_id} -> {self.url}"


class CapException(models.Model):
    """A request to go over a cap: raises the engineer's cap by `amount_usd` through `until`
    (inclusive) once approved, for one tool or ("" = ) all of them."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        DENIED = "denied"

    engineer = models.ForeignKey("usage.Engineer", on_delete=models.CASCADE, related_name="+")
    vendor = models.CharField(max_length=40, blank=True)
    product = models.CharField(max_length=40, blank=True)
    amount_usd = models.DecimalField(max_digits=14, decimal_places=2)
    reason = models.TextField()
    until = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_usd__gt=0), name="cap_exception_amount_positive"),
            models.CheckConstraint(
                condition=Q(status="pending", decided_at__isnull=True) | ~Q(status="pending"),
                name="cap_exception_pending_undecided",
            ),
        ]
        indexes = [
            # Cap resolution reads an engineer's approved, unexpired raises.
            models.Index(fields=["engineer", "status", "until"], name="cap_exception_engineer"),
        ]

    def __str__(self) -> str:
        return f"{self.engineer_id} +${self.amount_usd} until {self.until} ({self.status})"


class CapAlertKind(models.TextChoices):
    SPEND = "spend"  # spend reached the threshold
    FORECAST = "forecast"  # spend is projected to reach the cap before the period ends


class CapAlert(models.Model):
    """A threshold crossed (or predicted to be) by an engineer on a tool, or by a team budget.
    Made once per (subject, tool, period, threshold, kind), however often evaluation runs."""

    engineer = models.ForeignKey("usage.Engineer", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("usage.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    policy = models.ForeignKey(CapPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    budget = models.ForeignKey(TeamBudget, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    vendor = models.CharField(max_length=40, blank=True)
    product = models.CharField(max_length=40, blank=True)
    period_start = models.DateField()
    period_end = models.DateField()
    threshold_pct = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=CapAlertKind.choices, default=CapAlertKind.SPEND)
    cap_usd = models.DecimalField(max_digits=14, decimal_places=2)
    spent_usd = models.DecimalField(max_digits=14, decimal_places=2)
    projected_usd = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    crosses_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    webhook_at = models.DateTimeField(null=True, blank=True)
    delivery_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(engineer__isnull=False, team__isnull=True) | Q(engineer__isnull=True, team__isnull=False),
                name="cap_alert_one_subject",
            ),
            models.UniqueConstraint(
                fields=["engineer", "team", "vendor", "product", "period_start", "period_end", "threshold_pct", "kind"],
                name="cap_alert_once",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        subject = f"engineer {self.engineer_id}" if self.engineer_id else f"team {self.team_id}"
        return f"{subject} {self.kind} {self.threshold_pct}% from {self.period_start}"


class CapStatus(models.Model):
    """An engineer's effective cap and spend for one tool in the current period: what the
    cap-check API answers from. Kept current by evaluation (after ingest, hourly, on changes)."""

    engineer = models.ForeignKey("usage.Engineer", on_delete=models.CASCADE, related_name="+")
    vendor = models.CharField(max_length=40, blank=True)
    product = models.CharField(max_length=40, blank=True)
    period_start = models.DateField()
    period_end = models.DateField()
    cap_usd = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)  # null: no cap applies
    spent_usd = models.DecimalField(max_digits=24, decimal_places=10, default=0)
    policy = models.CharField(max_length=255, blank=True)  # what set the cap, for people
    updated_at = models.DateTimeField(auto_now=True)  # when it last changed: evaluation writes only changes

    class Meta:
        verbose_name_plural = "cap statuses"
        constraints = [
            # Also the index of the cap-check lookup (engineer, vendor, product).
            models.UniqueConstraint(fields=["engineer", "vendor", "product"], name="cap_status_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.engineer_id} {self.vendor}/{self.product}: {self.spent_usd} of {self.cap_usd}"


class ApiToken(models.Model):
    """A bearer token for machine clients (gateways). Only its sha256 is stored."""

    name = models.CharField(max_length=100, unique=True)
    token_sha256 = models.CharField(max_length=64, unique=True)  # the lookup on every API call
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class ToolPolicy(models.Model):
    """A team subtree may not use a vendor (or one of its products) from `starts_on`."""

    team = models.ForeignKey("usage.Team", on_delete=models.CASCADE, related_name="+")
    vendor = models.CharField(max_length=40)
    product = models.CharField(max_length=40, blank=True)  # "" = every product of the vendor
    starts_on = models.DateField()
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "tool policies"
        constraints = [
            models.UniqueConstraint(fields=["team", "vendor", "product"], name="tool_policy_unique"),
        ]

    def __str__(self) -> str:
        return f"team {self.team_id} may not use {self.vendor}/{self.product or '*'} from {self.starts_on}"


class ToolViolation(models.Model):
    """Usage that breaks a tool policy, per engineer and tool: days, spend; the manager is told once."""

    tool_policy = models.ForeignKey(ToolPolicy, on_delete=models.CASCADE, related_name="violations")
    engineer = models.ForeignKey("usage.Engineer", on_delete=models.CASCADE, related_name="+")
    vendor = models.CharField(max_length=40)
    product = models.CharField(max_length=40)
    first_day = models.DateField()
    last_day = models.DateField()
    days = models.PositiveIntegerField()
    cost_usd = models.DecimalField(max_digits=24, decimal_places=10)
    notified_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_day"]
        constraints = [
            models.UniqueConstraint(
                fields=["tool_policy", "engineer", "vendor", "product"], name="tool_violation_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.engineer_id} {self.vendor}/{self.product} {self.days} days"


# Seats and spend anomalies (issue 5).


class SeatAssignment(models.Model):
    """A paid seat (Cursor, Copilot, ...) over [start_on, end_on] (both inclusive; end_on null =
    ongoing). A separate ledger from metered usage: it is prorated by day when read
    (billing.seats) and follows the engineer's team of each day. `email` is matched to the
    Engineer when read, so a seat imported before its person is attributed once they exist."""

    email = models.EmailField(max_length=254)  # lower-cased by the import service
    vendor = models.CharField(max_length=40)
    product = models.CharField(max_length=40)
    monthly_price_usd = models.DecimalField(max_digits=14, decimal_places=6)
    start_on = models.DateField()
    end_on = models.DateField(null=True, blank=True)  # last day paid, inclusive
    # The vendor's own last-activity day, where it says one (Copilot's seats API): a Copilot
    # user of base completions leaves no usage rows, so usage alone would call the seat idle.
    last_activity_on = models.DateField(null=True, blank=True)
    imported_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["email", "vendor", "product", "start_on"]
        constraints = [
            # The natural key a re-import replaces on.
            models.UniqueConstraint(fields=["email", "vendor", "product", "start_on"], name="seat_assignment_key"),
            models.CheckConstraint(condition=Q(monthly_price_usd__gte=0), name="seat_price_non_negative"),
            models.CheckConstraint(
                condition=Q(end_on__isnull=True) | Q(end_on__gte=models.F("start_on")), name="seat_end_after_start"
            ),
        ]
        indexes = [
            # The ledger reads the seats active in a month: start_on < month end.
            models.Index(fields=["start_on", "end_on"], name="seat_assignment_span"),
        ]

    def __str__(self) -> str:
        return f"{self.email} {self.vendor}/{self.product} ${self.monthly_price_usd}/mo from {self.start_on}"


class AnomalyRule(models.TextChoices):
    ZSCORE = "zscore", "More than N standard deviations above the trailing 28 days"
    MULTIPLE = "multiple", "More than N× the trailing 7-day average"


class SpendAnomaly(models.Model):
    """An engineer's day of metered spend far above their own recent baseline. Made once per
    (engineer, day, rule) by billing.services.anomalies; the manager is told once per row."""

    engineer = models.ForeignKey("usage.Engineer", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    rule = models.CharField(max_length=10, choices=AnomalyRule.choices)
    amount_usd = models.DecimalField(max_digits=24, decimal_places=10)
    baseline_mean_usd = models.DecimalField(max_digits=24, decimal_places=10)
    baseline_std_usd = models.DecimalField(max_digits=24, decimal_places=10)
    created_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    webhook_at = models.DateTimeField(null=True, blank=True)
    delivery_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-day", "engineer_id", "rule"]
        verbose_name_plural = "spend anomalies"
        constraints = [
            models.UniqueConstraint(fields=["engineer", "day", "rule"], name="spend_anomaly_once"),
        ]
        indexes = [
            # The anomalies page lists the most recent days first, everyone's or a chain's.
            models.Index(fields=["day"], name="spend_anomaly_day"),
        ]

    def __str__(self) -> str:
        return f"{self.engineer_id} {self.day} {self.rule} ${self.amount_usd}"
