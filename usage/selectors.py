"""Reads over the usage rollup for reports and the command line, and for the imports pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import F, Sum

from usage.models import DailyUsage, ImportBatch, RejectedRow

GROUPS = {
    "engineer": "engineer__email",
    "team": "team__name",
    "vendor": "vendor",
    "product": "product",
    "model": "model",
    "cost_center": "engineer__cost_center",
}
MICRO = Decimal("0.000001")
BATCHES_PER_PAGE = 25
REJECTED_PER_PAGE = 50
UNMAPPED_LIMIT = 100
ACTIVE_STATUSES = (ImportBatch.Status.PENDING, ImportBatch.Status.RUNNING)


@dataclass(frozen=True)
class ReportRow:
    key: str | None  # None: unmapped usage (engineer) or no team that day
    tokens: int
    cost_usd: Decimal  # quantized to micro-dollars


def month_bounds(month: str) -> tuple[date, date]:
    """'2026-10' -> (2026-10-01, 2026-11-01): the half-open month."""
    year, mon = (int(part) for part in month.split("-"))
    start = date(year, mon, 1)
    return start, date(year + mon // 12, mon % 12 + 1, 1)


# The seat ledger's grouping for each of GROUPS; seats have no model, so they are "(seat)".
SEAT_GROUPS = {
    "engineer": "email",
    "team": "team_name",
    "vendor": "vendor",
    "product": "product",
    "model": None,
    "cost_center": "center",
}
SEAT_MODEL = "(seat)"


def usage_report_rows(*, start: date, end: date, by: str) -> list[ReportRow]:
    """Tokens and spend per group over [start, end): metered usage (DailyUsage) plus seats
    prorated by day (billing.seats), biggest spend first. Two queries."""
    from billing.seats import seat_costs  # billing imports this app

    rows = (
        DailyUsage.objects.in_period(start, end)
        .values(key=F(GROUPS[by]))
        .annotate(tokens=Sum("tokens"), cost_usd=Sum("cost_usd"))
        .order_by("-cost_usd", "key")
    )
    merged: dict[str | None, list] = {row["key"]: [int(row["tokens"]), Decimal(row["cost_usd"])] for row in rows}
    seat_key = SEAT_GROUPS[by]
    for seat in seat_costs(start=start, end=end, keys=(seat_key,) if seat_key else ()):
        key = seat[seat_key] if seat_key else SEAT_MODEL
        merged.setdefault(key, [0, Decimal(0)])[1] += seat["cost_usd"]
    ordered = sorted(merged.items(), key=lambda item: (-item[1][1], item[0] is None, item[0] or ""))
    return [ReportRow(key=key, tokens=tokens, cost_usd=cost.quantize(MICRO)) for key, (tokens, cost) in ordered]


# --- Imports pages (/imports/) -------------------------------------------------------------

# Unmapped usage per identity, biggest first. The window sums count and price the identities
# past the limit, so the page can say what it does not list (rule 5).
UNMAPPED_SQL = """
SELECT vendor, identity_kind, identity_value, sum(cost_usd), count(*),
       sum(input_uncached_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens + output_tokens),
       max(day), count(*) OVER (), sum(sum(cost_usd)) OVER ()
FROM usage_usagerecord
WHERE engineer_id IS NULL {batch_filter}
GROUP BY vendor, identity_kind, identity_value
ORDER BY 4 DESC, vendor, identity_kind, identity_value
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class BatchPage:
    page: Page  # of ImportBatch, newest first, created_by loaded
    active: bool  # some batch anywhere is pending or running: the list keeps polling


@dataclass(frozen=True)
class UnmappedIdentity:
    vendor: str
    kind: str
    value: str
    cost_usd: Decimal
    rows: int
    tokens: int
    last_day: date


@dataclass(frozen=True)
class UnmappedIdentities:
    identities: list[UnmappedIdentity]
    total_count: int  # identities, listed or not
    total_cost_usd: Decimal

    @property
    def more_count(self) -> int:
        return self.total_count - len(self.identities)

    @property
    def more_cost_usd(self) -> Decimal:
        return self.total_cost_usd - sum((i.cost_usd for i in self.identities), Decimal(0))


@dataclass(frozen=True)
class BatchDetail:
    batch: ImportBatch
    rejected: Page  # of RejectedRow, in file order
    unmapped: UnmappedIdentities  # this batch's rows that are still unmapped now

    @property
    def active(self) -> bool:
        return self.batch.status in ACTIVE_STATUSES


def import_batch_page(*, page_number: int | str | None) -> BatchPage:
    """One page of import batches, newest first. Three queries: count, page, activity."""
    batches = ImportBatch.objects.select_related("created_by").order_by("-created_at", "-id")
    page = Paginator(batches, BATCHES_PER_PAGE).get_page(page_number)
    active = ImportBatch.objects.filter(status__in=ACTIVE_STATUSES).exists()
    return BatchPage(page=page, active=active)


def unmapped_identities(*, batch_id: int | None = None, limit: int = UNMAPPED_LIMIT) -> UnmappedIdentities:
    """Usage rows attributed to nobody, per (vendor, kind, value), biggest cost first: across
    the whole ledger, or only the rows a batch wrote. One query."""
    batch_filter = "AND batch_id = %(batch_id)s" if batch_id is not None else ""
    with connection.cursor() as cursor:
        cursor.execute(UNMAPPED_SQL.format(batch_filter=batch_filter), {"batch_id": batch_id, "limit": limit})
        rows = cursor.fetchall()
    identities = [
        UnmappedIdentity(
            vendor=vendor, kind=kind, value=value, cost_usd=cost, rows=count, tokens=int(tokens), last_day=last_day
        )
        for vendor, kind, value, cost, count, tokens, last_day, _, _ in rows
    ]
    total_count, total_cost = (rows[0][7], rows[0][8]) if rows else (0, Decimal(0))
    return UnmappedIdentities(identities=identities, total_count=total_count, total_cost_usd=total_cost)


# Pull-request and commit authors nobody in the org chart is (ImpactRecord, a row per person,
# day and metric: small), most merged PRs first. Mapped like a usage identity: the GitHub
# login becomes a VendorIdentity of the source, and impact_reattribute moves the rows.
UNMAPPED_AUTHORS_SQL = """
SELECT source, identity_kind, identity_value, count(*), COALESCE(sum(value) FILTER (WHERE metric = 'prs_merged'), 0),
       max(day), count(*) OVER ()
FROM usage_impactrecord
WHERE engineer_id IS NULL
GROUP BY source, identity_kind, identity_value
ORDER BY 5 DESC, 4 DESC, source, identity_kind, identity_value
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class UnmappedAuthor:
    vendor: str  # the impact source (github, claude_code, ...): what a mapping is recorded under
    kind: str
    value: str
    rows: int
    prs_merged: int
    last_day: date


@dataclass(frozen=True)
class UnmappedAuthors:
    authors: list[UnmappedAuthor]
    total_count: int  # authors, listed or not

    @property
    def more_count(self) -> int:
        return self.total_count - len(self.authors)


def unmapped_authors(*, limit: int = UNMAPPED_LIMIT) -> UnmappedAuthors:
    """Outcome rows (merged PRs, commits, accepted lines) attributed to nobody, per identity. One query."""
    with connection.cursor() as cursor:
        cursor.execute(UNMAPPED_AUTHORS_SQL, {"limit": limit})
        rows = cursor.fetchall()
    authors = [
        UnmappedAuthor(vendor=source, kind=kind, value=value, rows=count, prs_merged=int(prs), last_day=last_day)
        for source, kind, value, count, prs, last_day, _ in rows
    ]
    return UnmappedAuthors(authors=authors, total_count=rows[0][6] if rows else 0)


def import_batch_detail(*, batch_id: int, rejected_page: int | str | None) -> BatchDetail | None:
    """A batch with a page of its rejected rows and its unmapped identities; None if no such
    batch. Four queries."""
    batch = ImportBatch.objects.select_related("created_by").filter(pk=batch_id).first()
    if batch is None:
        return None
    rejected = Paginator(RejectedRow.objects.filter(batch_id=batch_id).order_by("id"), REJECTED_PER_PAGE)
    return BatchDetail(
        batch=batch,
        rejected=rejected.get_page(rejected_page),
        unmapped=unmapped_identities(batch_id=batch_id),
    )


@dataclass(frozen=True)
class NotCounted:
    rows: int  # rows of the batch that DailyUsage leaves out
    primary: str  # the dataset that counts instead
    reason: str  # the SourcePriority's name


NOT_COUNTED_SQL = """
SELECT (SELECT count(*) FROM usage_usagerecord WHERE batch_id = %(batch_id)s AND NOT counted),
       sp.primary_dataset, sp.name
FROM usage_sourcepriority sp
WHERE %(dataset)s IN (sp.first_dataset, sp.second_dataset) AND sp.primary_dataset <> %(dataset)s AND sp.active
ORDER BY sp.account = '', sp.id
LIMIT 1
"""


def import_batch_not_counted(*, batch: ImportBatch) -> NotCounted | None:
    """How many of the rows a batch still holds are not summed into spend because another
    source is primary for them (rule 1); None when all count. One query."""
    with connection.cursor() as cursor:
        cursor.execute(NOT_COUNTED_SQL, {"batch_id": batch.pk, "dataset": batch.format})
        row = cursor.fetchone()
    if row is None or not row[0]:
        return None
    return NotCounted(rows=row[0], primary=row[1], reason=row[2])


@dataclass(frozen=True)
class SourcesPage:
    sources: list  # of UsageSource
    priorities: list  # of SourcePriority

    @property
    def running(self) -> bool:
        return any(s.running_since for s in self.sources)


def usage_sources_page() -> SourcesPage:
    """Every connected source and every primary-source setting. Two queries."""
    from usage.models import SourcePriority, UsageSource

    sources = list(UsageSource.objects.order_by("name"))
    return SourcesPage(sources=sources, priorities=list(SourcePriority.objects.all()))
