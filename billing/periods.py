"""Cap periods: calendar month, quarter and fiscal year, as half-open [start, end) dates. Pure.

Quarters are quarters of the fiscal year, so with FISCAL_YEAR_START_MONTH=2 the first quarter
is February to April; with the default (1) they are calendar quarters.
"""

from __future__ import annotations

from datetime import date

MONTHS_IN = {"month": 1, "quarter": 3, "year": 12}


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _from_index(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def period_bounds(period: str, day: date, *, fiscal_start_month: int = 1) -> tuple[date, date]:
    """The period of kind `period` (month | quarter | year) containing `day`: [start, end)."""
    length = MONTHS_IN[period]
    if length == 1:
        first = _month_index(day)
    else:
        # Months since the fiscal year began, floored to a multiple of the period's length.
        offset = (day.month - fiscal_start_month) % 12
        first = _month_index(day) - offset % length
    return _from_index(first), _from_index(first + length)


def days_between(start: date, end: date) -> int:
    return max((end - start).days, 0)
