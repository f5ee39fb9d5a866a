"""Reads of the seat ledger: paid seats prorated by day, in the team of each day.

A seat costs `monthly_price_usd × days active in the month / days in the month`. The days are
counted in SQL for the period asked only (each month's paid days, cut by team memberships), so an
ongoing seat needs no materialised rows. The seat's email is
matched to the Engineer when read (unknown emails are unmapped seats, still paid) and each
day's dollars go to the team the engineer was in that day (TeamMembership, rule 6).

Seats are never added to DailyUsage (metered tokens); pages and exports that show what the
company pays sum both ledgers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection

ZERO = Decimal(0)

# One row per seat, month and team membership over [start, end] (`last` = end - 1 day): the days
# of each seat's month it was paid (a window), cut by the holder's memberships (rule 6). Days no
# membership covers (before a first team, between two, an unmapped seat) are one more segment with
# no team. `monthly × days / days in month` is computed once per segment, so a whole month is
# exactly the monthly price. Interval arithmetic, not a row per day: 60,000 seats over six months
# were 11M day rows and 9 s; tests/billing/test_seats.py checks it against that per-day form.
WINDOWS_SQL = """
WITH months AS (
    -- The months as a parameter, not generate_series: the planner takes a function for 1,000 rows
    -- and planned 6.5M windows for 116,000 (index scans and on-disk sorts: 1.0 s, now 0.85 s).
    SELECT m AS month, (m + interval '1 month')::date AS month_end FROM unnest(%(months)s::date[]) AS m
),
windows AS (
    SELECT * FROM (
        SELECT s.id AS seat_id, s.email, s.vendor, s.product, s.monthly_price_usd, e.id AS engineer_id,
               e.cost_center, mo.month, mo.month_end - mo.month AS month_days,
               GREATEST(s.start_on, mo.month, %(start)s::date) AS lo,
               LEAST(COALESCE(s.end_on, %(last)s::date), %(last)s::date, mo.month_end - 1) + 1 AS hi
        FROM billing_seatassignment s
        JOIN months mo ON s.start_on < mo.month_end AND (s.end_on IS NULL OR s.end_on >= mo.month)
        LEFT JOIN usage_engineer e ON lower(e.email) = s.email
        WHERE s.start_on <= %(last)s AND (s.end_on IS NULL OR s.end_on >= %(start)s)
    ) w
    WHERE hi > lo
)"""
SEGMENTS_BASE_SQL = f"""{WINDOWS_SQL},
pieces AS (
    SELECT w.seat_id, w.month, w.lo, m.id AS membership_id, m.team_id,
           GREATEST(w.lo, m.valid_from) AS plo, LEAST(w.hi, COALESCE(m.valid_to, w.hi)) AS phi
    FROM windows w
    JOIN usage_teammembership m
      ON m.engineer_id = w.engineer_id AND m.valid_from < w.hi AND (m.valid_to IS NULL OR m.valid_to > w.lo)
),
gaps AS (
    SELECT seat_id, month, COALESCE(lag(phi) OVER (PARTITION BY seat_id, month ORDER BY plo), lo) AS glo, plo AS ghi
    FROM pieces
    UNION ALL
    SELECT w.seat_id, w.month, COALESCE(p.last_hi, w.lo), w.hi
    FROM windows w
    LEFT JOIN (SELECT seat_id, month, max(phi) AS last_hi FROM pieces GROUP BY seat_id, month) p
      ON p.seat_id = w.seat_id AND p.month = w.month
),
segments AS (
    SELECT seat_id, month, membership_id, team_id, plo AS first_day, phi AS end_day, phi - plo AS days FROM pieces
    UNION ALL
    SELECT seat_id, month, NULL, NULL, min(glo), max(ghi), sum(ghi - glo)::int FROM gaps
    WHERE ghi > glo
    GROUP BY seat_id, month
)
SELECT w.seat_id, w.email, w.vendor, w.product, w.monthly_price_usd, w.engineer_id, w.cost_center,
       sg.membership_id, sg.team_id, t.name AS team_name, w.month, sg.first_day, sg.end_day, sg.days, w.month_days,
       w.monthly_price_usd * sg.days / w.month_days AS cost_usd
FROM segments sg
JOIN windows w ON w.seat_id = sg.seat_id AND w.month = sg.month
LEFT JOIN usage_team t ON t.id = sg.team_id
"""

# What seat costs can be grouped by, as SQL over SEGMENTS_BASE_SQL's columns.
SEAT_KEYS = {
    "month": "month",
    "vendor": "vendor",
    "product": "product",
    "email": "CASE WHEN engineer_id IS NULL THEN NULL ELSE email END",
    "engineer_id": "engineer_id",
    "team_key": "team_id",
    "team_name": "team_name",
    "center": "cost_center",
    "unmapped": "engineer_id IS NULL",
}


def _params(start: date, end: date) -> dict:
    last = end - timedelta(days=1)
    months, month = [], start.replace(day=1)
    while month <= last:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return {"start": start, "last": last, "months": months}


def seat_costs(*, start: date, end: date, keys: tuple[str, ...]) -> list[dict]:
    """Seat USD over the half-open [start, end), summed per `keys` (names in SEAT_KEYS), as
    dicts of the keys and `cost_usd` (exact, not rounded). One query."""
    columns = ", ".join(f"{SEAT_KEYS[k]} AS {k}" for k in keys)
    group = ", ".join(str(n + 1) for n in range(len(keys)))
    sql = f"SELECT {columns}, sum(cost_usd) FROM ({SEGMENTS_BASE_SQL}) AS segments GROUP BY {group}"
    if not keys:
        sql = f"SELECT sum(cost_usd) FROM ({SEGMENTS_BASE_SQL}) AS segments"
    with connection.cursor() as cursor:
        cursor.execute(sql, _params(start, end))
        rows = cursor.fetchall()
    return [dict(zip((*keys, "cost_usd"), row, strict=True)) for row in rows if row[-1] is not None]


def seat_total_usd(*, start: date, end: date) -> Decimal:
    """All seat dollars over [start, end). One query."""
    rows = seat_costs(start=start, end=end, keys=())
    return rows[0]["cost_usd"] if rows else ZERO


# Seat USD per month and vendor from the paid windows alone: what a chart of months needs. The
# team cut (memberships) is left out, so it costs a fifth of SEGMENTS_BASE_SQL. A window's
# dollars are computed once rather than once per team segment: the same to ~1e-16 USD.
MONTH_VENDOR_SQL = f"""{WINDOWS_SQL}
SELECT month, vendor, sum(monthly_price_usd * (hi - lo) / month_days) FROM windows GROUP BY 1, 2
"""


def seat_costs_by_month(*, start: date, end: date) -> list[dict]:
    """Seat USD per month and vendor over [start, end), as dicts of month, vendor and cost_usd.
    One query."""
    with connection.cursor() as cursor:
        cursor.execute(MONTH_VENDOR_SQL, _params(start, end))
        rows = cursor.fetchall()
    return [{"month": month, "vendor": vendor, "cost_usd": cost} for month, vendor, cost in rows]


@dataclass(frozen=True)
class SeatSegment:
    """A seat's charge for a run of days in one team (one membership) within one month."""

    seat_id: int
    email: str
    engineer_id: int | None
    vendor: str
    product: str
    monthly_price_usd: Decimal
    first_day: date
    end_day: date  # exclusive
    days: int
    month_days: int
    team_name: str | None
    cost_center: str | None
    cost_usd: Decimal

    @property
    def seat_months(self) -> Decimal:
        """The share of a month paid: days / days in the month."""
        return Decimal(self.days) / Decimal(self.month_days)


SEGMENTS_SQL = f"""
SELECT seat_id, email, engineer_id, vendor, product, monthly_price_usd, first_day, end_day, days, month_days,
       team_name, cost_center, cost_usd
FROM ({SEGMENTS_BASE_SQL}) AS segments
ORDER BY first_day, vendor, product, email, seat_id
"""


def seat_segments(*, start: date, end: date) -> Iterator[SeatSegment]:
    """Each seat's charge per month and team membership over [start, end), by first day. One
    query."""
    with connection.cursor() as cursor:
        cursor.execute(SEGMENTS_SQL, _params(start, end))
        for row in cursor.fetchall():
            yield SeatSegment(*row)


def seat_prorated_usd(*, monthly_price_usd: Decimal, days_active: int, days_in_month: int) -> Decimal:
    """monthly × days active / days in month: the rule the SQL applies per segment of days."""
    return monthly_price_usd * days_active / days_in_month


@dataclass(frozen=True)
class IdleSeat:
    """An ongoing seat nobody has used for a while (idle_seats): a licence to reclaim."""

    seat_id: int
    email: str
    vendor: str
    product: str
    monthly_price_usd: Decimal
    start_on: date
    engineer_id: int | None
    name: str | None
    left_on: date | None  # the holder's end_date, when it is before as_of
    last_active: date | None  # the last usage of the seat's vendor, or the vendor's own last activity

    @property
    def reason(self) -> str:
        if self.engineer_id is None:
            return "not in the org chart"
        if self.left_on is not None:
            return f"left on {self.left_on:%-d %b %Y}"
        if self.last_active is None:
            return "never used"
        return f"last used {self.last_active:%-d %b %Y}"


# Ongoing seats (no end set: an end is a decision already taken) of people who have left, or held
# for more than the idle window by someone with no activity of the seat's vendor in it: no
# DailyUsage row of that vendor (one index range of (engineer, day) per seat, stopping at the
# first row found) and no later vendor-reported activity. The holder's last activity is then
# read for these few only.
IDLE_SEATS_SQL = """
WITH idle AS (
    SELECT s.id, s.email, s.vendor, s.product, s.monthly_price_usd, s.start_on, s.last_activity_on,
           e.id AS engineer_id, e.name, CASE WHEN e.end_date < %(as_of)s THEN e.end_date END AS left_on
    FROM billing_seatassignment s
    LEFT JOIN usage_engineer e ON lower(e.email) = s.email
    WHERE s.end_on IS NULL AND s.start_on <= %(as_of)s AND (
        e.end_date < %(as_of)s  -- a leaver's seat, used or not
        OR s.start_on <= %(since)s
           AND (s.last_activity_on IS NULL OR s.last_activity_on <= %(since)s)
           AND NOT EXISTS (
               SELECT 1 FROM usage_dailyusage d
               WHERE d.engineer_id = e.id AND d.day > %(since)s AND d.day <= %(as_of)s AND d.vendor = s.vendor))
)
SELECT i.id, i.email, i.vendor, i.product, i.monthly_price_usd, i.start_on, i.engineer_id, i.name, i.left_on,
       GREATEST(i.last_activity_on, (
           SELECT max(d.day) FROM usage_dailyusage d
           WHERE d.engineer_id = i.engineer_id AND d.vendor = i.vendor AND d.day <= %(as_of)s)),
       count(*) OVER (), sum(i.monthly_price_usd) OVER ()
FROM idle i
ORDER BY i.monthly_price_usd DESC, i.vendor, i.product, i.email
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class IdleSeats:
    seats: list[IdleSeat]  # the costliest `limit`
    count: int  # all of them
    monthly_usd: Decimal  # what all of them cost a month: what reclaiming them saves


def idle_seats(*, as_of: date, idle_days: int, limit: int | None = None) -> IdleSeats:
    """Ongoing seats held more than `idle_days` whose holder used the tool on none of the
    `idle_days` days up to `as_of`: leavers' seats, seats of people not in the org chart, and
    licences bought and not used. The costliest `limit` (all when None), with the count and
    monthly cost of all. One query."""
    params = {"as_of": as_of, "since": as_of - timedelta(days=idle_days), "limit": limit}
    with connection.cursor() as cursor:
        cursor.execute(IDLE_SEATS_SQL, params)
        rows = cursor.fetchall()
    seats = [IdleSeat(*row[:-2]) for row in rows]
    return IdleSeats(seats, rows[0][-2] if rows else 0, rows[0][-1] if rows else ZERO)
