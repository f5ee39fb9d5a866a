"""Rule 1: where two attribution sources report the same spend, only the primary one counts."""

from decimal import Decimal
from pathlib import Path

import pytest
from django.db.models import Sum

from billing.models import BillingLine
from usage.models import DailyUsage, ImportBatch, SourcePriority, UsageRecord
from usage.selectors import import_batch_not_counted
from usage.services.counting import source_priority_set
from usage.services.ingest import import_batch_create
from usage.services.rollup import daily_usage_rebuild

pytestmark = pytest.mark.django_db
DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "company-small"


@pytest.fixture
def ingest(django_capture_on_commit_callbacks):
    def run(name: str, folder: Path = DATA) -> ImportBatch:
        with django_capture_on_commit_callbacks(execute=True):
            batch = import_batch_create(filename=name, raw=(folder / name).read_bytes())
        batch.refresh_from_db()
        assert batch.status in (ImportBatch.Status.DONE, ImportBatch.Status.DUPLICATE), batch.error
        return batch

    return run


def spend() -> Decimal:
    return DailyUsage.objects.aggregate(total=Sum("cost_usd"))["total"] or Decimal(0)


def ledger(dataset: str) -> Decimal:
    return UsageRecord.objects.filter(dataset=dataset).aggregate(total=Sum("cost_usd"))["total"]


def cursor_priority() -> SourcePriority:
    return SourcePriority.objects.get(first_dataset="cursor_events", second_dataset="cursor_csv")


def test_the_defaults_make_vendor_reports_primary_over_gateway_and_local_logs():
    primaries = dict(SourcePriority.objects.values_list("second_dataset", "primary_dataset"))
    assert primaries["litellm_spend"] == "anthropic_usage"
    assert primaries["claude_code_logs"] == "claude_code_analytics"
    assert primaries["cursor_csv"] == "cursor_events"


# The dashboard CSV of the same month: the Admin API events' people and days again (other
# amounts, as the two exports price differently), and Bjarne, whom the events do not cover.
RESTATED = [
    '"2026-10-01T09:00:00.000Z","dennis.lovelace@example.com","","","Usage-based","gpt-5","No","120","50","0","20","140","$1.50"',
    '"2026-10-03T09:00:00.000Z","dennis.lovelace@example.com","","","Usage-based","gpt-5","No","120","50","0","20","140","$2.50"',
    '"2026-10-01T10:00:00.000Z","leslie.knuth@example.com","","","Usage-based","gpt-5","No","120","50","0","20","140","$3.50"',
]


@pytest.fixture
def csv_folder(tmp_path) -> Path:
    text = (DATA / "cursor_usage_export.csv").read_text().rstrip("\n")
    (tmp_path / "cursor_usage_export.csv").write_text(text + "\n" + "\n".join(RESTATED) + "\n")
    return tmp_path


def csv_cost(*, covered: bool) -> Decimal:
    """The CSV's cost of the people and days the events cover, or of the rest (Bjarne)."""
    rows = UsageRecord.objects.filter(dataset="cursor_csv")
    people = ["dennis.lovelace@example.com", "leslie.knuth@example.com"]
    rows = rows.filter(identity_value__in=people) if covered else rows.exclude(identity_value__in=people)
    return rows.aggregate(total=Sum("cost_usd"))["total"] or Decimal(0)


def test_a_secondary_source_alone_still_counts(ingest):
    batch = ingest("cursor_usage_export.csv")
    assert spend() == ledger("cursor_csv") == batch.cost_usd > 0
    assert not cursor_priority().active


def test_two_sources_of_one_spend_count_only_the_primary_and_a_flip_moves_the_totals(ingest, csv_folder):
    ingest("cursor_usage_export.csv", folder=csv_folder)
    events = ingest("cursor_usage_events.json")
    assert csv_cost(covered=True) == Decimal("7.5") and csv_cost(covered=False) > 0
    # The primary arrived: the CSV's rows of the people and days it reports are kept but left out
    # of spend; Bjarne, whom it does not report, still counts.
    assert spend() == ledger("cursor_events") + csv_cost(covered=False) == events.cost_usd + csv_cost(covered=False)
    assert UsageRecord.objects.filter(dataset="cursor_csv", counted=False).count() == len(RESTATED)

    flipped = source_priority_set(priority_id=cursor_priority().pk, primary_dataset="cursor_csv")
    # The CSV covers every day of the events' people: all events rows leave, the 3 CSV rows return.
    assert flipped == UsageRecord.objects.filter(dataset="cursor_events").count() + len(RESTATED)
    assert spend() == ledger("cursor_csv")
    # The flip moved the rollup by exact deltas: a rebuild from the ledger finds nothing to change.
    moved = rollup_rows()
    daily_usage_rebuild(start=UsageRecord.objects.order_by("day").first().day, end=max_day_after())
    assert rollup_rows() == moved
    assert not UsageRecord.objects.filter(dataset="cursor_csv", counted=False).exists()

    # Setting the same primary again, re-importing a file, rebuilding: nothing moves.
    assert source_priority_set(priority_id=cursor_priority().pk, primary_dataset="cursor_csv") == 0
    ingest("cursor_usage_events.json")
    daily_usage_rebuild(start=UsageRecord.objects.order_by("day").first().day, end=max_day_after())
    assert spend() == ledger("cursor_csv")

    source_priority_set(priority_id=cursor_priority().pk, primary_dataset="cursor_events")
    assert spend() == ledger("cursor_events") + csv_cost(covered=False)


def test_a_secondary_arriving_after_its_primary_is_left_out_where_the_primary_covers_it(ingest, csv_folder):
    ingest("cursor_usage_events.json")
    ingest("cursor_usage_export.csv", folder=csv_folder)
    assert spend() == ledger("cursor_events") + csv_cost(covered=False)
    moved = rollup_rows()
    daily_usage_rebuild(start=UsageRecord.objects.order_by("day").first().day, end=max_day_after())
    assert rollup_rows() == moved


def test_mapping_an_identity_later_applies_the_rule_to_the_person(ingest, csv_folder):
    """The CSV knows Dennis by another email, unmapped: both sources count until an identity map
    says it is him, then his CSV rows on the events' days leave spend."""
    from tests.factories import EngineerFactory
    from usage.services.identities import identity_map

    dennis = EngineerFactory(email="dennis.lovelace@example.com")
    EngineerFactory(email="leslie.knuth@example.com")
    folder = csv_folder
    path = folder / "cursor_usage_export.csv"
    path.write_text(path.read_text().replace("dennis.lovelace@example.com", "dl@contractor.example"))
    ingest("cursor_usage_events.json")
    ingest("cursor_usage_export.csv", folder=folder)
    other_email = UsageRecord.objects.filter(identity_value="dl@contractor.example")
    assert other_email.filter(counted=True).count() == 2  # nobody knows it is Dennis yet

    identity_map(
        vendor="cursor", kind="email", external_id="dl@contractor.example", engineer_email=dennis.email, user=None
    )

    assert other_email.filter(engineer=dennis, counted=False).count() == 2
    dennis_csv = other_email.aggregate(total=Sum("cost_usd"))["total"]
    assert dennis_csv == Decimal("4.00")
    assert spend() == ledger("cursor_events") + csv_cost(covered=False) - dennis_csv
    moved = rollup_rows()
    daily_usage_rebuild(start=UsageRecord.objects.order_by("day").first().day, end=max_day_after())
    assert rollup_rows() == moved


def rollup_rows() -> list:
    fields = ("day", "engineer_id", "vendor", "product", "model", "tokens", "requests", "cost_usd")
    return sorted(DailyUsage.objects.values_list(*fields), key=str)


def max_day_after():
    from datetime import timedelta

    return UsageRecord.objects.order_by("-day").first().day + timedelta(days=1)


def test_the_batch_says_how_many_of_its_rows_do_not_count_and_why(ingest, csv_folder):
    csv = ingest("cursor_usage_export.csv", folder=csv_folder)
    assert import_batch_not_counted(batch=csv) is None
    ingest("cursor_usage_events.json")
    info = import_batch_not_counted(batch=csv)
    assert info.rows == len(RESTATED)
    assert info.primary == "cursor_events" and "Cursor" in info.reason


def test_unrelated_and_billing_sources_are_not_affected(ingest, samples):
    ingest("anthropic_cost_report.json", folder=samples)
    ingest("copilot_metered_usage.csv")
    lines = BillingLine.objects.aggregate(total=Sum("cost_usd"))["total"]
    before = spend()
    ingest("cursor_usage_export.csv")
    ingest("cursor_usage_events.json")
    # These two files report different people: both count.
    assert spend() == before + ledger("cursor_events") + ledger("cursor_csv")
    assert BillingLine.objects.aggregate(total=Sum("cost_usd"))["total"] == lines
    assert UsageRecord.objects.filter(dataset="copilot_metered", counted=False).count() == 0


def advisory_locks_held() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        return cursor.fetchone()[0]


def spy_locks(monkeypatch, module, name: str) -> list:
    """Wrap module.name to record (kwargs, advisory locks held before, after, its result)."""
    calls, real = [], getattr(module, name)

    def spied(**kwargs):
        before = advisory_locks_held()
        result = real(**kwargs)
        calls.append((kwargs, before, advisory_locks_held(), result))
        return result

    monkeypatch.setattr(module, name, spied)
    return calls


@pytest.mark.django_db(transaction=True)
def test_mapping_takes_the_partner_datasets_day_locks_before_the_recheck(
    default_priorities, ingest, csv_folder, monkeypatch
):
    """Re-attribution re-checks the pair's rows after moving its own: the partner's day locks are
    taken up front with its own, in one sorted statement. A lock taken late waits on an import of
    the partner that in turn waits on ours: a deadlock. (A committed test: locks start empty.)"""
    from tests.factories import EngineerFactory
    from usage.services import reattribute
    from usage.services.identities import identity_map

    dennis = EngineerFactory(email="dennis.lovelace@example.com")
    path = csv_folder / "cursor_usage_export.csv"
    path.write_text(path.read_text().replace("dennis.lovelace@example.com", "dl@contractor.example"))
    ingest("cursor_usage_events.json")
    ingest("cursor_usage_export.csv", folder=csv_folder)
    calls = spy_locks(monkeypatch, reattribute, "counting_recheck")

    identity_map(
        vendor="cursor", kind="email", external_id="dl@contractor.example", engineer_email=dennis.email, user=None
    )

    [(_, before, after, flipped)] = calls
    assert flipped == 2  # his CSV rows on the events' days left spend: the recheck ran
    assert before > 0 and after == before  # and took no lock it did not already hold


@pytest.mark.django_db(transaction=True)
def test_a_primarys_first_batch_takes_the_pairs_day_locks_before_activating_it(
    default_priorities, ingest, csv_folder, monkeypatch
):
    """The events' first batch activates the Cursor priority, which re-checks every day of the
    pair: the CSV's 7 October, outside the batch's days (1-3 October), is locked up front too."""
    from usage.services import ingest as ingest_module

    ingest("cursor_usage_export.csv", folder=csv_folder)
    calls = spy_locks(monkeypatch, ingest_module, "source_priorities_activate")

    ingest("cursor_usage_events.json")

    [(kwargs, before, after, flipped)] = calls
    assert kwargs["dataset"] == "cursor_events" and cursor_priority().active
    assert flipped == len(RESTATED)  # the CSV's rows of the events' people and days left spend
    assert before > 0 and after == before


def test_a_priority_narrowed_to_one_account_leaves_out_only_that_accounts_rows(ingest, tmp_path):
    """Ingest judges staged rows with a hash join over the cover (RULE_COVER_SQL); the flips use
    the per-row rule (counted_rule). Both must agree, account narrowing included."""
    from usage.services.counting import counting_recheck

    SourcePriority.objects.create(
        name="Cursor events over our CSV, team-a only",
        first_dataset="cursor_events",
        second_dataset="generic_csv",
        primary_dataset="cursor_events",
        account="team-a",
    )
    ingest("cursor_usage_events.json")
    header = "day,email,vendor,product,model,input_uncached_tokens,output_tokens,cost_usd,account"
    rows = [
        "2026-10-01,dennis.lovelace@example.com,cursor,cursor,gpt-5,10,10,1.00,team-a",  # covered: out
        "2026-10-01,dennis.lovelace@example.com,cursor,cursor,gpt-5,10,10,2.00,team-b",  # other account
        "2026-10-02,dennis.lovelace@example.com,cursor,cursor,gpt-5,10,10,4.00,team-a",  # a day not covered
        "2026-10-01,bjarne.liskov@example.com,cursor,cursor,gpt-5,10,10,8.00,team-a",  # a person not covered
    ]
    (tmp_path / "ours.csv").write_text("\n".join([header, *rows]) + "\n")
    ingest("ours.csv", folder=tmp_path)
    counted = dict(UsageRecord.objects.filter(dataset="generic_csv").values_list("cost_usd", "counted"))
    assert counted == {Decimal("1.00"): False, Decimal("2.00"): True, Decimal("4.00"): True, Decimal("8.00"): True}
    assert counting_recheck(datasets=["generic_csv"], start="-infinity", end="infinity") == 0
    assert spend() == ledger("cursor_events") + Decimal("14.00")
