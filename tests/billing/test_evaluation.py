from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core import mail

from billing.models import CapAlert, CapStatus
from billing.services.evaluation import caps_evaluate
from tests.billing.conftest import TODAY
from tests.factories import (
    CapExceptionFactory,
    CapPolicyFactory,
    DailyUsageFactory,
    TeamBudgetFactory,
    TeamFactory,
)
from usage.services.ingest import import_batch_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_forecast_alerts(settings):
    settings.CAP_FORECAST_ALERTS = False
    settings.CAP_ALERT_THRESHOLDS = [50, 80, 100]


def spend(engineer, amount, day=date(2026, 11, 3), product="claude_code", vendor="anthropic", team=None):
    return DailyUsageFactory(
        engineer=engineer, day=day, vendor=vendor, product=product, cost_usd=Decimal(amount), team=team
    )


def alerts():
    return sorted(CapAlert.objects.values_list("engineer__email", "team__name", "threshold_pct", "kind"), key=str)


def test_an_alert_is_made_once_per_threshold_however_often_evaluation_runs(org):
    CapPolicyFactory(vendor="anthropic", product="claude_code", amount_usd=Decimal("100"))
    spend(org.alice, "85")
    first = caps_evaluate(today=TODAY)
    second = caps_evaluate(today=TODAY)
    assert alerts() == [("alice@example.com", None, 50, "spend"), ("alice@example.com", None, 80, "spend")]
    assert len(first.alerts) == 2 and second.alerts == []


def test_a_higher_threshold_makes_one_more_alert_and_keeps_the_earlier_ones(org):
    CapPolicyFactory(vendor="anthropic", product="claude_code", amount_usd=Decimal("100"))
    spend(org.alice, "60")
    caps_evaluate(engineer_ids=[org.alice.pk], today=TODAY)
    spend(org.alice, "45", day=date(2026, 11, 4))
    result = caps_evaluate(engineer_ids=[org.alice.pk], today=TODAY)
    assert sorted(a[2] for a in alerts()) == [50, 80, 100]
    assert len(result.alerts) == 2  # 80 and 100


def test_a_new_period_starts_its_own_alerts_and_the_old_ones_stay(org):
    CapPolicyFactory(vendor="anthropic", product="claude_code", amount_usd=Decimal("100"))
    spend(org.alice, "55", day=date(2026, 10, 20))
    caps_evaluate(today=date(2026, 10, 25))
    spend(org.alice, "55", day=date(2026, 11, 2))
    caps_evaluate(today=TODAY)
    starts = sorted(CapAlert.objects.values_list("period_start", flat=True))
    assert starts == [date(2026, 10, 1), date(2026, 11, 1)]


def test_cap_status_holds_the_current_cap_and_spend_per_tool(org):
    CapPolicyFactory(vendor="anthropic", product="claude_code", amount_usd=Decimal("1500"))
    CapPolicyFactory(vendor="cursor", amount_usd=Decimal("1000"))
    spend(org.alice, "10")
    spend(org.alice, "20", day=date(2026, 11, 5))
    spend(org.alice, "99", day=date(2026, 10, 30))  # last month: not this period's spend
    spend(org.alice, "7", vendor="cursor", product="cursor")
    caps_evaluate(engineer_ids=[org.alice.pk], today=TODAY)
    rows = {
        (s.vendor, s.product): (s.cap_usd, s.spent_usd, s.period_start, s.period_end)
        for s in CapStatus.objects.filter(engineer=org.alice)
    }
    assert rows == {
        ("anthropic", "claude_code"): (Decimal("1500.00"), Decimal("30"), date(2026, 11, 1), date(2026, 12, 1)),
        ("cursor", "cursor"): (Decimal("1000.00"), Decimal("7"), date(2026, 11, 1), date(2026, 12, 1)),
    }


def test_cap_status_follows_a_policy_change_when_evaluated_again(org):
    policy = CapPolicyFactory(vendor="anthropic", product="claude_code", amount_usd=Decimal("1500"))
    spend(org.alice, "15")
    caps_evaluate(engineer_ids=[org.alice.pk], today=TODAY)
    policy.amount_usd = Decimal("20")
    policy.save()
    CapExceptionFactory(engineer=org.alice, amount_usd=Decimal("5"), until=TODAY, status="approved")
    caps_evaluate(engineer_ids=[org.alice.pk], today=TODAY)
    status = CapStatus.objects.get(engineer=org.alice)
    assert status.cap_usd == Decimal("25.00")
    assert "+$5.00 approved" in status.policy
    assert [a[2] for a in alerts()] == [50]  # $15 of $25


def test_usage_without_a_cap_makes_a_status_row_and_no_alert(org):
    spend(org.alice, "1000")
    caps_evaluate(today=TODAY)
    assert CapStatus.objects.get(engineer=org.alice).cap_usd is None
    assert alerts() == []


def test_a_team_budget_alerts_on_the_spend_of_its_whole_subtree(org):
    TeamBudgetFactory(team=org.platform, amount_usd=Decimal("100"))
    spend(org.alice, "30", team=org.storage)
    spend(org.boss, "30", team=org.platform)
    spend(org.carol, "500", team=org.applied)  # another subtree
    caps_evaluate(engineer_ids=[], today=TODAY)
    caps_evaluate(engineer_ids=[], today=TODAY)
    assert alerts() == [(None, "Platform", 50, "spend")]


def test_a_forecast_alert_fires_once_when_the_run_rate_will_cross_the_cap(org, settings):
    settings.CAP_FORECAST_ALERTS = True
    CapPolicyFactory(vendor="anthropic", product="claude_code", amount_usd=Decimal("300"))
    for offset in range(1, 29):  # $10 every day for four weeks: $300 reached around Nov 30
        day = TODAY - timedelta(days=offset)
        spend(org.alice, "10", day=day)
    caps_evaluate(today=TODAY)
    caps_evaluate(today=TODAY)
    forecast = CapAlert.objects.get(kind="forecast")
    assert forecast.threshold_pct == 100
    assert forecast.spent_usd == Decimal("90.00")  # Nov 1-9
    assert forecast.crosses_on == date(2026, 11, 30)
    assert forecast.projected_usd == Decimal("300.00")


def test_new_alerts_are_emailed_to_the_engineer_and_their_manager(org, django_capture_on_commit_callbacks):
    CapPolicyFactory(vendor="anthropic", product="claude_code", amount_usd=Decimal("100"))
    spend(org.alice, "55")
    with django_capture_on_commit_callbacks(execute=True):
        caps_evaluate(today=TODAY)
    with django_capture_on_commit_callbacks(execute=True):
        caps_evaluate(today=TODAY)  # nothing new: nothing sent
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == ["alice@example.com", "boss@example.com"]
    assert message.subject == "[Tokenboard] 50% of Alice Liddell's Anthropic · Claude Code cap used"
    assert "$55.00 of $100.00 (Nov 1 – Nov 30, 2026)" in message.body
    assert CapAlert.objects.get().emailed_at is not None


def test_an_import_queues_evaluation_for_the_engineers_it_touched(org, monkeypatch, django_capture_on_commit_callbacks):
    from billing import tasks

    calls = []
    monkeypatch.setattr(tasks.caps_evaluate_task, "delay", lambda **kwargs: calls.append(kwargs))
    raw = (
        b"day,vendor,product,model,email,input_uncached_tokens,cache_read_tokens,cache_write_5m_tokens,"
        b"cache_write_1h_tokens,output_tokens,requests,cost_usd,account\n"
        b"2026-11-02,cursor,cursor,gpt-5,Alice@Example.com,10,0,0,0,5,1,0.42,acme\n"
        b"2026-11-02,cursor,cursor,gpt-5,stranger@example.com,10,0,0,0,5,1,0.42,acme\n"
        b"2026-11-03,cursor,cursor,gpt-5,bob@example.com,10,0,0,0,5,1,0.42,acme\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        batch = import_batch_create(filename="usage.csv", raw=raw)
    batch.refresh_from_db()
    assert batch.status == "done"
    assert calls == [{"engineer_ids": sorted([org.alice.pk, org.bob.pk])}]


def test_a_failing_evaluation_never_fails_the_import(org, monkeypatch, django_capture_on_commit_callbacks):
    from billing.services import evaluation

    def broken(**kwargs):
        raise RuntimeError("evaluation exploded")

    monkeypatch.setattr(evaluation, "caps_evaluate", broken)
    raw = (
        b"day,vendor,product,model,email,input_uncached_tokens,cache_read_tokens,cache_write_5m_tokens,"
        b"cache_write_1h_tokens,output_tokens,requests,cost_usd,account\n"
        b"2026-11-02,cursor,cursor,gpt-5,alice@example.com,10,0,0,0,5,1,0.42,acme\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        batch = import_batch_create(filename="usage.csv", raw=raw)
    batch.refresh_from_db()
    assert batch.status == "done" and batch.rows_accepted == 1


def test_evaluation_of_a_new_team_without_usage_makes_nothing(db):
    TeamBudgetFactory(team=TeamFactory(name="Empty"))
    assert caps_evaluate(today=TODAY).alerts == []


def test_evaluation_writes_a_status_again_only_when_it_changed(org):
    from django.db import connection

    def versions() -> dict:  # a row's physical place: an UPDATE writes a new one
        with connection.cursor() as cursor:
            cursor.execute("SELECT engineer_id, vendor, product, ctid::text FROM billing_capstatus")
            return {tuple(row[:3]): row[3] for row in cursor.fetchall()}

    CapPolicyFactory(vendor="anthropic", product="claude_code", amount_usd=Decimal("100"))
    spend(org.alice, "10")
    spend(org.bob, "20")
    caps_evaluate(today=TODAY)
    before = versions()
    caps_evaluate(today=TODAY)
    assert versions() == before  # nothing changed: nothing rewritten

    spend(org.alice, "5", day=date(2026, 11, 4))
    caps_evaluate(today=TODAY)
    after = versions()
    changed = {key for key in before if after[key] != before[key]}
    assert changed == {(org.alice.pk, "anthropic", "claude_code")}
    assert CapStatus.objects.get(engineer=org.alice, product="claude_code").spent_usd == 15


def test_only_the_periods_caps_are_counted_over_are_read(org, settings):
    """With monthly caps only, nobody's fiscal year is summed (a year of the rollup at 50,000
    engineers is tens of millions of rows); a yearly cap still counts its whole year."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.FISCAL_YEAR_START_MONTH = 2
    CapPolicyFactory(amount_usd=Decimal("1500"))
    spend(org.alice, "40", day=date(2026, 3, 5))
    spend(org.alice, "10")
    with CaptureQueriesContext(connection) as queries:
        caps_evaluate(today=TODAY)
    assert "2026-02-01" not in " ".join(q["sql"] for q in queries.captured_queries)
    assert CapStatus.objects.get(engineer=org.alice).spent_usd == Decimal("10")

    CapPolicyFactory(engineer=org.alice, period="year", amount_usd=Decimal("18000"))
    caps_evaluate(today=TODAY)
    status = CapStatus.objects.get(engineer=org.alice)
    assert (status.period_start, status.spent_usd) == (date(2026, 2, 1), Decimal("50"))
