"""Period-end spend from the recent run-rate, with weekday/weekend seasonality. Pure maths.

The run-rate is the mean daily spend over the complete days of a look-back window (today is
still filling up), taken separately for weekdays and weekends: people who do not work
weekends spend nothing then, and a flat rate would over-forecast the month. Today counts as
its observed spend or the rate for its kind of day, whichever is larger.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal(0)
LOOKBACK_DAYS = 28


@dataclass(frozen=True)
class Forecast:
    """USD. `crosses_on` is the first day on which spend is projected to reach the cap (None:
    not before the period ends, or already over, or no cap)."""

    spent_usd: Decimal
    projected_usd: Decimal
    weekday_rate_usd: Decimal
    weekend_rate_usd: Decimal
    crosses_on: date | None
    over_cap: bool


def is_weekend(day: date) -> bool:
    return day.weekday() >= 5


@functools.lru_cache(maxsize=64)
def _day_counts(start: date, end: date) -> dict[bool, int]:
    """How many weekdays (False) and weekend days (True) [start, end) holds."""
    counts = {False: 0, True: 0}
    day = start
    while day < end:
        counts[is_weekend(day)] += 1
        day += timedelta(days=1)
    return counts


def run_rates(history: Mapping[date, Decimal], *, start: date, end: date) -> tuple[Decimal, Decimal]:
    """Mean daily spend on weekdays and on weekend days over [start, end); missing days are 0.
    With no day of one kind in the window, both kinds get the overall mean. Reads the days with
    spend only: cap evaluation runs this for every engineer and tool (122,000 at 50,000 people)."""
    sums = {False: ZERO, True: ZERO}
    for day, cost in history.items():
        if start <= day < end:
            sums[is_weekend(day)] += cost
    counts = _day_counts(start, end)
    if not counts[False] or not counts[True]:
        total_days = counts[False] + counts[True]
        mean = (sums[False] + sums[True]) / total_days if total_days else ZERO
        return mean, mean
    return sums[False] / counts[False], sums[True] / counts[True]


def forecast_spend(
    *,
    spent_usd: Decimal,
    history: Mapping[date, Decimal],
    today: date,
    period_end: date,
    cap_usd: Decimal | None,
    history_start: date | None = None,
) -> Forecast:
    """Project spend to the end of the period [.., period_end).

    `spent_usd` is the period's spend so far, today included; `history` holds daily spend
    for the run-rate window [history_start, today) and for today. `history_start` defaults to
    LOOKBACK_DAYS before today; pass a later day for someone who joined recently.
    """
    window_start = history_start or today - timedelta(days=LOOKBACK_DAYS)
    weekday_rate, weekend_rate = run_rates(history, start=window_start, end=today)
    if window_start >= today:
        # No complete day to learn from: today's own spend is the best guess.
        weekday_rate = weekend_rate = history.get(today, ZERO)
    today_spent = history.get(today, ZERO)
    cumulative = spent_usd - today_spent
    crosses_on = None
    over_cap = cap_usd is not None and spent_usd >= cap_usd
    day = today
    while day < period_end:
        rate = weekend_rate if is_weekend(day) else weekday_rate
        cumulative += max(today_spent, rate) if day == today else rate
        if cap_usd is not None and not over_cap and crosses_on is None and cumulative >= cap_usd:
            crosses_on = day
        day += timedelta(days=1)
    projected = max(cumulative, spent_usd)
    return Forecast(
        spent_usd=_cents(spent_usd),
        projected_usd=_cents(projected),
        weekday_rate_usd=_cents(weekday_rate),
        weekend_rate_usd=_cents(weekend_rate),
        crosses_on=crosses_on,
        over_cap=over_cap,
    )


def _cents(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
