from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing.selectors import cap_effective, cap_spend
from tests.billing.conftest import TODAY
from tests.factories import CapExceptionFactory, CapPolicyFactory, DailyUsageFactory, EngineerFactory

pytestmark = pytest.mark.django_db


def cap(engineer, vendor="anthropic", product="claude_code", today=TODAY):
    return cap_effective(engineer_id=engineer.pk, vendor=vendor, product=product, today=today)


def test_no_policy_means_no_cap(org):
    assert cap(org.alice) is None


def test_the_org_default_applies_to_everyone_for_every_tool(org):
    CapPolicyFactory(amount_usd=Decimal("1500"))
    effective = cap(org.alice, vendor="cursor", product="cursor")
    assert effective.cap_usd == Decimal("1500.00")
    assert (effective.period_start, effective.period_end) == (date(2026, 11, 1), date(2026, 12, 1))
    assert "org default" in effective.policy


def test_an_engineer_policy_beats_a_team_policy_which_beats_the_org_default(org):
    CapPolicyFactory(amount_usd=Decimal("100"))
    CapPolicyFactory(team=org.platform, amount_usd=Decimal("200"))
    CapPolicyFactory(engineer=org.alice, amount_usd=Decimal("300"))
    assert cap(org.alice).cap_usd == Decimal("300.00")
    assert cap(org.bob).cap_usd == Decimal("200.00")  # Storage sits under Platform
    assert cap(org.carol).cap_usd == Decimal("100.00")  # Applied AI is not under Platform


def test_the_nearest_team_above_the_engineer_wins(org):
    CapPolicyFactory(team=org.engineering, amount_usd=Decimal("200"))
    CapPolicyFactory(team=org.storage, amount_usd=Decimal("250"))
    assert cap(org.alice).cap_usd == Decimal("250.00")
    assert cap(org.boss).cap_usd == Decimal("200.00")  # in Platform: Storage is below, not above


def test_a_policy_for_the_tool_beats_a_generic_one_of_the_same_scope(org):
    CapPolicyFactory(amount_usd=Decimal("500"))
    CapPolicyFactory(vendor="anthropic", amount_usd=Decimal("800"))
    CapPolicyFactory(vendor="anthropic", product="claude_code", amount_usd=Decimal("1500"))
    assert cap(org.alice).cap_usd == Decimal("1500.00")
    assert cap(org.alice, product="api").cap_usd == Decimal("800.00")
    assert cap(org.alice, vendor="cursor", product="cursor").cap_usd == Decimal("500.00")


def test_per_tool_caps_are_separate_for_each_tool(org):
    CapPolicyFactory(vendor="anthropic", product="claude_code", amount_usd=Decimal("1500"))
    CapPolicyFactory(vendor="cursor", amount_usd=Decimal("1000"))
    assert cap(org.alice).cap_usd == Decimal("1500.00")
    assert cap(org.alice, vendor="cursor", product="cursor").cap_usd == Decimal("1000.00")
    assert cap(org.alice, vendor="openai", product="codex") is None


def test_an_expired_override_no_longer_applies(org):
    CapPolicyFactory(amount_usd=Decimal("1500"))
    CapPolicyFactory(engineer=org.alice, amount_usd=Decimal("3000"), reason="launch", valid_until=TODAY)
    assert cap(org.alice).cap_usd == Decimal("3000.00")
    assert cap(org.alice, today=TODAY + timedelta(days=1)).cap_usd == Decimal("1500.00")


def test_quarter_and_year_periods_follow_the_fiscal_year(org, settings):
    settings.FISCAL_YEAR_START_MONTH = 2
    CapPolicyFactory(period="quarter", amount_usd=Decimal("4500"))
    CapPolicyFactory(engineer=org.bob, period="year", amount_usd=Decimal("18000"))
    quarter = cap(org.alice)
    assert (quarter.period_start, quarter.period_end) == (date(2026, 11, 1), date(2027, 2, 1))
    year = cap(org.bob)
    assert (year.period_start, year.period_end) == (date(2026, 2, 1), date(2027, 2, 1))


def test_someone_who_joins_mid_month_gets_a_cap_prorated_by_days_employed(org):
    CapPolicyFactory(amount_usd=Decimal("1500"))
    newcomer = EngineerFactory(start_date=date(2026, 11, 21))  # 10 of November's 30 days
    effective = cap(newcomer)
    assert effective.cap_usd == Decimal("500.00")
    assert "prorated 10/30 days" in effective.policy


def test_someone_who_leaves_mid_month_gets_a_cap_prorated_to_their_last_day(org):
    CapPolicyFactory(amount_usd=Decimal("1500"))
    leaver = EngineerFactory(start_date=date(2025, 1, 1), end_date=date(2026, 11, 15))  # 15 days
    assert cap(leaver).cap_usd == Decimal("750.00")


def test_an_approved_raise_adds_to_the_cap_until_it_expires(org):
    CapPolicyFactory(vendor="anthropic", product="claude_code", amount_usd=Decimal("1500"))
    CapPolicyFactory(vendor="cursor", amount_usd=Decimal("1500"))
    CapExceptionFactory(
        engineer=org.alice, vendor="anthropic", amount_usd=Decimal("500"), until=TODAY, status="approved"
    )
    CapExceptionFactory(engineer=org.alice, amount_usd=Decimal("900"), until=TODAY, status="pending")
    CapExceptionFactory(engineer=org.alice, amount_usd=Decimal("900"), until=TODAY, status="denied")
    effective = cap(org.alice)
    assert effective.cap_usd == Decimal("2000.00")
    assert "+$500.00 approved until 2026-11-10" in effective.policy
    assert cap(org.alice, vendor="cursor", product="cursor").cap_usd == Decimal("1500.00")
    assert cap(org.alice, today=TODAY + timedelta(days=1)).cap_usd == Decimal("1500.00")


def test_spend_is_summed_from_the_ledger_for_any_period_so_past_periods_keep_their_history(org):
    DailyUsageFactory(engineer=org.alice, day=date(2026, 10, 31), product="claude_code", cost_usd=Decimal("7"))
    DailyUsageFactory(engineer=org.alice, day=date(2026, 11, 1), product="claude_code", cost_usd=Decimal("2"))
    DailyUsageFactory(engineer=org.alice, day=date(2026, 11, 2), product="api", cost_usd=Decimal("3"))
    october = cap_spend(
        engineer_id=org.alice.pk,
        vendor="anthropic",
        product="claude_code",
        start=date(2026, 10, 1),
        end=date(2026, 11, 1),
    )
    november = cap_spend(
        engineer_id=org.alice.pk,
        vendor="anthropic",
        product="claude_code",
        start=date(2026, 11, 1),
        end=date(2026, 12, 1),
    )
    assert (october, november) == (Decimal("7"), Decimal("2"))


def test_an_engineers_cap_lines_show_cap_spend_and_forecast_per_tool_in_two_queries(org, django_assert_num_queries):
    from billing.selectors import engineer_cap_lines
    from billing.services.evaluation import caps_evaluate

    CapPolicyFactory(vendor="anthropic", product="claude_code", amount_usd=Decimal("300"))
    for offset in range(1, 29):
        DailyUsageFactory(
            engineer=org.alice, day=TODAY - timedelta(days=offset), product="claude_code", cost_usd=Decimal("10")
        )
    caps_evaluate(engineer_ids=[org.alice.pk], today=TODAY)
    with django_assert_num_queries(2):
        [line] = engineer_cap_lines(engineer_id=org.alice.pk, today=TODAY)
    assert (line.vendor, line.product, line.cap_usd, line.spent_usd, line.used_pct) == (
        "anthropic",
        "claude_code",
        Decimal("300.00"),
        Decimal("90"),
        30,
    )
    assert line.forecast.crosses_on == date(2026, 11, 30)


def test_a_tool_cap_shows_before_the_tool_is_used_and_a_lifted_one_goes(org):
    from billing.models import CapPolicy
    from billing.selectors import engineer_cap_lines
    from billing.services.evaluation import caps_evaluate

    DailyUsageFactory(engineer=org.alice, day=TODAY, product="claude_code", cost_usd=Decimal("10"))
    CapPolicyFactory(vendor="cursor", amount_usd=Decimal("200"))  # everyone; Alice has not used Cursor
    CapPolicyFactory(team=org.applied, vendor="openai", product="codex", amount_usd=Decimal("50"))  # not hers
    CapPolicyFactory(vendor="anthropic", amount_usd=Decimal("400"))  # covers the tool she uses: no extra line
    caps_evaluate(engineer_ids=[org.alice.pk], today=TODAY)

    lines = engineer_cap_lines(engineer_id=org.alice.pk, today=TODAY)
    assert [(line.vendor, line.product, line.cap_usd, line.spent_usd) for line in lines] == [
        ("anthropic", "claude_code", Decimal("400.00"), Decimal("10")),
        ("cursor", "", Decimal("200.00"), Decimal("0")),
    ]
    assert lines[1].used_pct == 0 and not lines[1].forecast.over_cap

    CapPolicy.objects.filter(vendor="cursor").delete()
    caps_evaluate(engineer_ids=[org.alice.pk], today=TODAY)
    assert [line.vendor for line in engineer_cap_lines(engineer_id=org.alice.pk, today=TODAY)] == ["anthropic"]


def test_a_team_budget_line_sums_the_subtree_and_forecasts_in_four_queries(org, django_assert_num_queries):
    from billing.selectors import team_budget_lines
    from tests.factories import TeamBudgetFactory

    TeamBudgetFactory(team=org.platform, amount_usd=Decimal("1000"))
    DailyUsageFactory(engineer=org.alice, team=org.storage, day=date(2026, 11, 2), cost_usd=Decimal("100"))
    DailyUsageFactory(engineer=org.boss, team=org.platform, day=date(2026, 11, 3), cost_usd=Decimal("50"))
    DailyUsageFactory(engineer=org.carol, team=org.applied, day=date(2026, 11, 3), cost_usd=Decimal("999"))
    with django_assert_num_queries(4):
        [line] = team_budget_lines(team_id=org.platform.pk, today=TODAY)
    assert (line.period, line.spent_usd, line.used_pct) == ("month", Decimal("150"), 15)
    assert line.forecast.projected_usd > Decimal("150")
