"""Connected sources against a local fake of each vendor API: paging, retries, watermark, re-pull."""

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Sum

from billing.models import BillingLine
from tests.billing.fake_http import scripted_server
from usage.models import DailyUsage, Engineer, UsageRecord, UsageSource, VendorIdentity
from usage.services.sources import source_days, usage_source_run, usage_sources_due

from . import fake_vendors as fv

pytestmark = pytest.mark.django_db
D1, D2 = date(2026, 10, 1), date(2026, 10, 2)
NOW = datetime(2026, 10, 3, 1, 0, tzinfo=UTC)
KEY = "TOKENBOARD_SOURCE_TEST_KEY"


@pytest.fixture
def vendors(monkeypatch):
    monkeypatch.setenv(KEY, "sk-test-secret")
    fake = fv.FakeVendors(page_size=2)
    with scripted_server(fake.respond) as (base_url, requests):
        fake.base_url = base_url
        fake.requests = requests
        yield fake


def make_source(vendors, kind: str, **fields) -> UsageSource:
    defaults = {"name": kind.replace("_", "-"), "kind": kind, "base_url": vendors.base_url, "credential_env": KEY,
                "start_on": D1, "repull_days": 1}  # fmt: skip
    if kind == "copilot_metrics":
        defaults["account"] = "acme"
    return UsageSource.objects.create(**{**defaults, **fields})


def run(source: UsageSource, sleeps: list | None = None, now: datetime = NOW):
    result = usage_source_run(
        source_id=source.pk, force=True, now=now, sleep=(sleeps if sleeps is not None else []).append
    )
    source.refresh_from_db()
    return result


def spend() -> Decimal:
    return DailyUsage.objects.aggregate(total=Sum("cost_usd"))["total"] or Decimal(0)


# Three items on the first day (two pages), one on the second; kind -> (items(day, n), rows stored).
PAYLOADS = {
    "anthropic_usage": lambda day, n: [fv.anthropic_result(f"key_{day.day}_{i}") for i in range(n)],
    "anthropic_cost": lambda day, n: [{**fv.cost_result(f"{100 + i}.5"), "description": f"line {i}"} for i in range(n)],
    "claude_code_analytics": lambda day, n: [fv.claude_code_record(day, f"dev{i}@example.com") for i in range(n)],
    "openai_usage": lambda day, n: [fv.openai_usage_result(f"user-{i}") for i in range(n)],
    "openai_costs": lambda day, n: [fv.openai_cost_result(0.5 + i, f"item {i}") for i in range(n)],
    "cursor_events": lambda day, n: [fv.cursor_event(day, f"dev{i}@example.com", 10.5, i) for i in range(n)],
    "copilot_metrics": lambda day, n: [fv.copilot_record(day, f"login{i}") for i in range(n)],
}
AUTH_HEADER = {
    "anthropic_usage": "x-api-key",
    "anthropic_cost": "x-api-key",
    "claude_code_analytics": "x-api-key",
    "openai_usage": "authorization",
    "openai_costs": "authorization",
    "cursor_events": "authorization",
    "copilot_metrics": "authorization",
}


def lower(headers: dict) -> dict:
    return {k.lower(): v for k, v in headers.items()}


def stored(kind: str) -> int:
    if kind in ("anthropic_cost", "openai_costs"):
        return BillingLine.objects.filter(dataset=kind).count()
    return UsageRecord.objects.filter(dataset=kind).count()


def load(vendors, kind: str) -> None:
    vendors.add(kind, D1, PAYLOADS[kind](D1, 3))
    vendors.add(kind, D2, PAYLOADS[kind](D2, 1))


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_each_connector_pulls_every_page_of_every_day_into_batches(vendors, kind):
    load(vendors, kind)
    source = make_source(vendors, kind)

    result = run(source)

    assert result.ok, result.error
    assert stored(kind) == 4
    # Today's Copilot report does not exist yet; the others pull today's partial day too.
    assert result.days == ([D1, D2] if kind == "copilot_metrics" else [D1, D2, date(2026, 10, 3)])
    assert len(result.batches) == 2  # an empty day makes no batch
    assert source.last_status == "ok" and source.last_batches == 2 and source.last_rows == 4
    assert source.watermark_at == datetime(2026, 10, 3, tzinfo=UTC)  # today is not over
    assert source.next_run_at == NOW + timedelta(minutes=source.interval_minutes)
    api_requests = [r for r in vendors.requests if not r[1].startswith("/download/")]
    assert all(lower(r[2]).get(AUTH_HEADER[kind]) for r in api_requests)
    assert "sk-test-secret" not in str(UsageSource.objects.values().get())


def test_copilot_follows_the_download_links_without_sending_the_token(vendors):
    load(vendors, "copilot_metrics")
    run(make_source(vendors, "copilot_metrics"))
    downloads = [r for r in vendors.requests if r[1].startswith("/download/")]
    assert len(downloads) == 3  # two files on the first day, one on the second
    assert not any("authorization" in lower(headers) for _, _, headers in downloads)


def test_openai_users_map_user_ids_to_engineers_and_move_their_usage(vendors):
    ada = Engineer.objects.create(email="ada@example.com", name="Ada")
    Engineer.objects.create(email="bob@example.com", name="Bob")
    vendors.add("openai_usage", D1, [fv.openai_usage_result("user-ada")])
    run(make_source(vendors, "openai_usage"))
    assert UsageRecord.objects.get().engineer_id is None
    vendors.users = [
        {"object": "organization.user", "id": "user-ada", "email": "Ada@Example.com", "name": "Ada"},
        {"object": "organization.user", "id": "user-bob", "email": "bob@example.com", "name": "Bob"},
        {"object": "organization.user", "id": "user-eve", "email": "eve@elsewhere.com", "name": "Eve"},
    ]

    result = run(make_source(vendors, "openai_users"))

    assert result.ok and result.identities == 2
    assert set(VendorIdentity.objects.values_list("external_id", flat=True)) == {"user-ada", "user-bob"}
    assert UsageRecord.objects.get().engineer_id == ada.pk
    assert DailyUsage.objects.get().engineer_id == ada.pk
    assert run(UsageSource.objects.get(kind="openai_users")).identities == 0  # run it twice: nothing new


def test_a_429_with_retry_after_and_a_500_are_retried_after_waiting(vendors):
    load(vendors, "anthropic_usage")
    vendors.faults = [("usage_report", 429, "7"), ("usage_report", 500, None), ("usage_report", 429, "9999")]
    sleeps: list[float] = []

    result = run(make_source(vendors, "anthropic_usage"), sleeps)

    assert result.ok, result.error
    assert stored("anthropic_usage") == 4
    assert sleeps == [7.0, 4.0, 120.0]  # Retry-After; the backoff's second step; a long Retry-After capped


def test_a_cut_off_answer_fails_the_run_cleanly_and_the_next_run_resumes(vendors):
    load(vendors, "anthropic_usage")
    source = make_source(vendors, "anthropic_usage")
    # The first day goes through; every attempt at the second day's first page is cut off.
    vendors.faults = [("'starting_at': ['2026-10-02", "truncate", None)] * 5
    sleeps: list[float] = []

    result = run(source, sleeps)

    assert "cut off" in result.error and len(sleeps) == 4 and not vendors.faults
    assert source.last_status == "failed" and "cut off" in source.last_error and source.failures == 1
    assert source.watermark_at == datetime(2026, 10, 2, tzinfo=UTC)  # day 1 done, day 2 not
    assert stored("anthropic_usage") == 3 and not UsageRecord.objects.filter(day=D2).exists()
    assert source.next_run_at == NOW + timedelta(minutes=5)  # a failing source is retried sooner

    result = run(source)
    assert result.ok and stored("anthropic_usage") == 4
    assert source.failures == 0 and source.watermark_at == datetime(2026, 10, 3, tzinfo=UTC)


def test_re_pulling_the_last_days_is_idempotent_and_picks_up_restatements(vendors):
    load(vendors, "claude_code_analytics")
    source = make_source(vendors, "claude_code_analytics", repull_days=2)
    run(source)
    first = (spend(), UsageRecord.objects.count())

    again = run(source, now=NOW + timedelta(hours=1))
    assert again.ok and again.rows == 0  # byte-identical days: duplicate batches
    assert (spend(), UsageRecord.objects.count()) == first

    # The vendor restates day 2 (the cost went up): the re-pull replaces the row, not adds one.
    vendors.add("claude_code_analytics", D2, [fv.claude_code_record(D2, "dev0@example.com", cents=500)])
    run(source, now=NOW + timedelta(hours=2))
    assert UsageRecord.objects.count() == first[1]
    assert spend() == first[0] - Decimal("1.86") + Decimal("5.00")


def test_the_days_of_a_run_cover_the_watermark_and_the_re_pull_window(vendors):
    source = make_source(vendors, "anthropic_usage", start_on=None, repull_days=2)
    assert source_days(source, today=D2) == [date(2026, 9, 30), D1, D2]
    source.watermark_at = datetime(2026, 9, 1, tzinfo=UTC)
    assert source_days(source, today=D2)[0] == date(2026, 9, 1)
    assert len(source_days(source, today=date(2027, 1, 1))) == 31  # a long way behind: caught up over runs
    assert source_days(source, today=date(2026, 9, 3), lag_days=1)[-1] == date(2026, 9, 2)


def test_a_source_being_run_is_not_run_again_and_only_due_sources_are_queued(
    vendors, django_capture_on_commit_callbacks
):
    running = make_source(vendors, "anthropic_usage", running_since=NOW - timedelta(minutes=1))
    assert usage_source_run(source_id=running.pk, force=True, now=NOW).skipped == "already running"
    due = make_source(vendors, "openai_usage", name="due", next_run_at=NOW - timedelta(minutes=1))
    make_source(vendors, "openai_costs", name="later", next_run_at=NOW + timedelta(minutes=1))
    make_source(vendors, "cursor_events", name="off", enabled=False)
    assert usage_source_run(source_id=UsageSource.objects.get(name="later").pk, now=NOW).skipped == "not due"

    with django_capture_on_commit_callbacks() as callbacks:
        assert usage_sources_due(now=NOW) == [due.pk]
    assert len(callbacks) == 1


def test_a_missing_key_is_an_error_on_the_source(vendors):
    source = make_source(vendors, "anthropic_usage", credential_env="TOKENBOARD_SOURCE_NOT_SET_ANYWHERE")
    result = run(source)
    assert "TOKENBOARD_SOURCE_NOT_SET_ANYWHERE is not set" in result.error and source.last_status == "failed"


def test_a_key_file_is_read_for_each_run(vendors, tmp_path, settings):
    settings.SOURCE_SECRETS_DIR = str(tmp_path)
    key = tmp_path / "anthropic.key"
    key.write_text("sk-from-file\n")
    load(vendors, "anthropic_usage")
    result = run(make_source(vendors, "anthropic_usage", credential_env="", credential_file=str(key)))
    assert result.ok and lower(vendors.requests[0][2])["x-api-key"] == "sk-from-file"


def test_a_source_cannot_send_the_apps_own_secrets_to_its_url(vendors, tmp_path, settings, monkeypatch):
    monkeypatch.setenv("DATABASE_PASSWORD_FOR_TEST", "hunter2")
    settings.SOURCE_SECRETS_DIR = str(tmp_path / "secrets")
    by_env = run(make_source(vendors, "anthropic_usage", credential_env="DATABASE_PASSWORD_FOR_TEST"))
    assert "must start with TOKENBOARD_SOURCE_" in by_env.error
    outside = tmp_path / "elsewhere.key"
    outside.write_text("hunter2")
    by_file = run(make_source(vendors, "openai_usage", credential_env="", credential_file=str(outside)))
    assert "must be under" in by_file.error
    assert not vendors.requests  # nothing was sent anywhere


def test_beat_queues_a_due_source_and_the_task_runs_it_once(vendors, django_capture_on_commit_callbacks):
    source = make_source(vendors, "cursor_events", start_on=None, repull_days=0)
    with django_capture_on_commit_callbacks(execute=True):
        assert usage_sources_due() == [source.pk]
    source.refresh_from_db()
    assert source.last_status == "ok" and source.next_run_at > datetime.now(UTC)
    with django_capture_on_commit_callbacks(execute=True):
        assert usage_sources_due() == []  # not due again until its interval has passed


@pytest.mark.django_db(transaction=True)
def test_a_source_whose_row_another_worker_is_claiming_is_skipped_not_waited_for(monkeypatch):
    monkeypatch.setenv(KEY, "sk")
    source = UsageSource.objects.create(name="contended", kind="anthropic_usage", credential_env=KEY)
    locked, release = threading.Event(), threading.Event()

    def other_worker():
        try:
            with transaction.atomic():
                UsageSource.objects.select_for_update().get(pk=source.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(10)
        result = usage_source_run(source_id=source.pk, force=True)  # SKIP LOCKED: returns at once
    finally:
        release.set()
        thread.join()
    assert result.skipped == "already running"
    assert UsageSource.objects.get(pk=source.pk).last_status == "new"
