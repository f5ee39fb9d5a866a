from datetime import date, timedelta
from decimal import Decimal

from billing.forecast import forecast_spend, run_rates
from billing.periods import period_bounds

D = Decimal
TODAY = date(2026, 11, 10)  # a Tuesday
DEC_1 = date(2026, 12, 1)


def series(first: date, last: date, weekday: str, weekend: str) -> dict[date, Decimal]:
    out, day = {}, first
    while day <= last:
        out[day] = D(weekend if day.weekday() >= 5 else weekday)
        day += timedelta(days=1)
    return out


def test_a_flat_run_rate_projects_the_same_amount_every_remaining_day():
    history = series(TODAY - timedelta(days=28), TODAY - timedelta(days=1), "10", "10")
    result = forecast_spend(spent_usd=D("90"), history=history, today=TODAY, period_end=DEC_1, cap_usd=D("300"))
    assert (result.weekday_rate_usd, result.weekend_rate_usd) == (D("10.00"), D("10.00"))
    assert result.projected_usd == D("300.00")  # 90 + 21 days x 10
    assert result.crosses_on == date(2026, 11, 30)


def test_weekends_are_projected_at_the_weekend_rate():
    # $20 on weekdays, nothing on weekends: Nov 10-30 holds 15 weekdays and 6 weekend days.
    history = series(TODAY - timedelta(days=28), TODAY - timedelta(days=1), "20", "0")
    result = forecast_spend(spent_usd=D("120"), history=history, today=TODAY, period_end=DEC_1, cap_usd=D("400"))
    assert (result.weekday_rate_usd, result.weekend_rate_usd) == (D("20.00"), D("0.00"))
    assert result.projected_usd == D("420.00")  # 120 + 15 x 20
    # 120 + 20 x 14 weekdays = 400 on the 14th weekday from Nov 10: Friday Nov 27.
    assert result.crosses_on == date(2026, 11, 27)


def test_today_counts_its_observed_spend_when_that_is_above_the_rate():
    history = series(TODAY - timedelta(days=28), TODAY - timedelta(days=1), "10", "10")
    history[TODAY] = D("50")
    result = forecast_spend(spent_usd=D("140"), history=history, today=TODAY, period_end=DEC_1, cap_usd=None)
    assert result.projected_usd == D("340.00")  # 90 before today + 50 today + 20 days x 10
    assert result.crosses_on is None and not result.over_cap


def test_no_crossing_when_the_projection_stays_under_the_cap():
    history = series(TODAY - timedelta(days=28), TODAY - timedelta(days=1), "1", "1")
    result = forecast_spend(spent_usd=D("9"), history=history, today=TODAY, period_end=DEC_1, cap_usd=D("1500"))
    assert result.crosses_on is None and result.projected_usd == D("30.00")


def test_a_cap_already_reached_has_no_crossing_day_and_is_flagged_over():
    history = series(TODAY - timedelta(days=28), TODAY - timedelta(days=1), "100", "100")
    result = forecast_spend(spent_usd=D("900"), history=history, today=TODAY, period_end=DEC_1, cap_usd=D("500"))
    assert result.over_cap and result.crosses_on is None


def test_someone_who_joined_recently_is_rated_on_their_days_only():
    joined = TODAY - timedelta(days=7)
    history = series(joined, TODAY - timedelta(days=1), "30", "30")
    result = forecast_spend(
        spent_usd=D("210"), history=history, today=TODAY, period_end=DEC_1, cap_usd=None, history_start=joined
    )
    assert result.weekday_rate_usd == D("30.00")
    assert result.projected_usd == D("840.00")  # 210 + 21 x 30


def test_with_no_complete_day_today_is_the_rate():
    result = forecast_spend(
        spent_usd=D("5"),
        history={TODAY: D("5")},
        today=TODAY,
        period_end=date(2026, 11, 13),
        cap_usd=None,
        history_start=TODAY,
    )
    assert result.projected_usd == D("15.00")


def test_a_window_without_a_weekend_uses_one_rate_for_all_days():
    weekdays = {date(2026, 11, 2) + timedelta(days=i): D("10") for i in range(5)}  # Mon-Fri
    assert run_rates(weekdays, start=date(2026, 11, 2), end=date(2026, 11, 7)) == (D("10"), D("10"))


def test_missing_days_count_as_zero_in_the_run_rate():
    history = {date(2026, 11, 2): D("70")}  # one Monday in a full week
    assert run_rates(history, start=date(2026, 11, 2), end=date(2026, 11, 9)) == (D("14"), D("0"))


def test_periods_are_calendar_months_and_fiscal_quarters_and_years():
    assert period_bounds("month", date(2026, 12, 31)) == (date(2026, 12, 1), date(2027, 1, 1))
    assert period_bounds("quarter", date(2026, 11, 10)) == (date(2026, 10, 1), date(2027, 1, 1))
    assert period_bounds("year", date(2026, 11, 10)) == (date(2026, 1, 1), date(2027, 1, 1))
    assert period_bounds("year", date(2026, 3, 1), fiscal_start_month=4) == (date(2025, 4, 1), date(2026, 4, 1))
    assert period_bounds("quarter", date(2026, 3, 1), fiscal_start_month=2) == (date(2026, 2, 1), date(2026, 5, 1))


def test_run_rates_from_the_days_with_spend_equal_the_day_by_day_means():
    """run_rates reads only the days with spend (cap evaluation runs it 122,000 times at 50,000
    people); the means must be those of every day of the window, missing days counting 0."""
    import random

    from billing.forecast import is_weekend

    def day_by_day(history, start, end):
        sums, counts, day = {False: Decimal(0), True: Decimal(0)}, {False: 0, True: 0}, start
        while day < end:
            sums[is_weekend(day)] += history.get(day, Decimal(0))
            counts[is_weekend(day)] += 1
            day += timedelta(days=1)
        if not counts[False] or not counts[True]:
            total = counts[False] + counts[True]
            mean = (sums[False] + sums[True]) / total if total else Decimal(0)
            return mean, mean
        return sums[False] / counts[False], sums[True] / counts[True]

    rng = random.Random(7)
    for _ in range(200):
        start = date(2026, 10, 1) + timedelta(days=rng.randrange(40))
        end = start + timedelta(days=rng.randrange(0, 35))
        history = {
            start + timedelta(days=rng.randrange(-10, 45)): Decimal(rng.randrange(0, 10**6)) / 10**4
            for _ in range(rng.randrange(0, 30))
        }
        assert run_rates(history, start=start, end=end) == day_by_day(history, start, end)
