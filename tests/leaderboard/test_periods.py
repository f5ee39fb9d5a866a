"""What a period's change is measured against (Period.previous): like for like."""

from datetime import date

import pytest

from leaderboard.periods import PeriodForm, preset_period

NOV_24 = date(2026, 11, 24)


@pytest.mark.parametrize(
    ("preset", "today", "previous"),
    [
        # Running: the days so far against the same days of the month(s) before.
        ("month", NOV_24, (date(2026, 10, 1), date(2026, 10, 25))),
        ("quarter", NOV_24, (date(2026, 7, 1), date(2026, 8, 25))),  # Oct 1-Nov 24: 55 days
        ("month", date(2026, 3, 31), (date(2026, 2, 1), date(2026, 3, 1))),  # capped at February's end
        # Done, or ending today: the same length just before.
        ("last_month", NOV_24, (date(2026, 9, 1), date(2026, 10, 1))),
        ("30d", NOV_24, (date(2026, 9, 26), date(2026, 10, 26))),
        ("7d", NOV_24, (date(2026, 11, 11), date(2026, 11, 18))),
    ],
)
def test_a_presets_change_is_against_the_same_days_before(preset, today, previous):
    period = preset_period(preset, today)
    assert (period.previous.start, period.previous.end) == previous


def test_a_custom_range_still_running_compares_its_days_so_far():
    whole_month = PeriodForm({"start": "2026-11-01", "end": "2026-12-01"}).period_or_default(today=NOV_24)
    assert whole_month.previous == preset_period("month", NOV_24).previous  # the same as "This month"
    assert whole_month.previous_label == "the same 24 days before (Oct 1 – Oct 24)"
    odd = PeriodForm({"start": "2026-11-20", "end": "2026-12-20"}).period_or_default(today=NOV_24)
    assert (odd.previous.start, odd.previous.end) == (date(2026, 11, 15), date(2026, 11, 20))  # 5 days each
    done = PeriodForm({"start": "2026-10-01", "end": "2026-10-11"}).period_or_default(today=NOV_24)
    assert done.previous_label == "the 10 days before"
    assert preset_period("last_month", NOV_24).previous_label == "the month before (September 2026)"


def test_a_running_periods_charts_stop_at_today():
    from leaderboard.selectors.people import period_days

    days = period_days(preset_period("month", NOV_24))
    assert (days[0], days[-1], len(days)) == (date(2026, 11, 1), NOV_24, 24)  # not Nov 25-30 at $0
    assert len(period_days(preset_period("last_month", NOV_24))) == 31


def test_a_custom_range_picked_on_the_page_includes_its_last_day():
    picked = PeriodForm({"start": "2026-10-01", "to": "2026-10-31"}).period_or_default(today=NOV_24)
    assert (picked.start, picked.end, picked.last_day) == (date(2026, 10, 1), date(2026, 11, 1), date(2026, 10, 31))
    linked = PeriodForm({"start": "2026-10-01", "end": "2026-11-01"}).period_or_default(today=NOV_24)
    assert linked == picked  # the links the pages build keep an exclusive end
    backwards = PeriodForm({"start": "2026-10-10", "to": "2026-10-01"})
    assert not backwards.is_valid() and "The last day must not be before the first." in backwards.non_field_errors()
