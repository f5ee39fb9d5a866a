"""Import of seat assignments (CSV `email,vendor,product,monthly_price_usd,start,end`).

The whole file is checked before anything is written: one bad row refuses the file, with
every problem named by line and field. `end` is the last day the seat is paid (inclusive);
empty means ongoing. A re-import replaces the assignment with the same (email, vendor,
product, start) and leaves the others alone, so the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction

from billing.models import SeatAssignment
from leaderboard.access import audit
from usage.models import Engineer

COLUMNS = ("email", "vendor", "product", "monthly_price_usd", "start", "end")
MAX_PRICE = Decimal("99999999")
PRICE_PLACES = Decimal("0.000001")

# Two assignments of one person and tool whose days overlap would charge the seat twice.
OVERLAPS_SQL = """
SELECT a.email, a.vendor, a.product, a.start_on, b.start_on
FROM billing_seatassignment a
JOIN billing_seatassignment b
    ON a.email = b.email AND a.vendor = b.vendor AND a.product = b.product AND a.start_on < b.start_on
WHERE a.end_on IS NULL OR a.end_on >= b.start_on
ORDER BY 1, 2, 3, 4
LIMIT 20
"""


class SeatImportError(Exception):
    """The file was refused; `problems` says why, one line each. Nothing was written."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class SeatRow:
    line: int
    email: str
    vendor: str
    product: str
    monthly_price_usd: Decimal
    start_on: date
    end_on: date | None


@dataclass
class SeatImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    unknown_emails: dict[str, list[int]] = field(default_factory=dict)  # email -> lines

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.unchanged


def _day(value: str, *, line: int, name: str, problems: list[str]) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"line {line}, {name}: {value!r} is not a date (YYYY-MM-DD)")
        return None


def _price(value: str, *, line: int, problems: list[str]) -> Decimal | None:
    try:
        price = Decimal(value.strip().lstrip("$").replace(",", ""))
    except (InvalidOperation, ValueError):
        price = None
    if price is None or not price.is_finite():
        problems.append(f"line {line}, monthly_price_usd: {value!r} is not a number of US dollars")
        return None
    if price < 0 or price > MAX_PRICE:
        problems.append(f"line {line}, monthly_price_usd: {value} must be between 0 and {MAX_PRICE}")
        return None
    if price != price.quantize(PRICE_PLACES):
        problems.append(f"line {line}, monthly_price_usd: {value} has more than six decimals")
        return None
    return price


def _row(line: int, raw: dict[str, str | None], problems: list[str]) -> SeatRow | None:
    values = {name: (raw.get(name) or "").strip() for name in COLUMNS}
    before = len(problems)
    for name in ("email", "vendor", "product", "monthly_price_usd", "start"):
        if not values[name]:
            problems.append(f"line {line}, {name}: missing")
    email = values["email"].lower()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            problems.append(f"line {line}, email: {values['email']!r} is not an email address")
    price = _price(values["monthly_price_usd"], line=line, problems=problems) if values["monthly_price_usd"] else None
    start = _day(values["start"], line=line, name="start", problems=problems) if values["start"] else None
    end = _day(values["end"], line=line, name="end", problems=problems) if values["end"] else None
    if start and end and end < start:
        problems.append(f"line {line}, end: {end} is before start {start} (end is the last day paid)")
    if len(problems) > before or price is None or start is None:
        return None
    return SeatRow(line, email, values["vendor"].lower(), values["product"].lower(), price, start, end)


def seat_rows_parse(raw: bytes | str) -> list[SeatRow]:
    """Every row of a seats CSV, checked; SeatImportError with all the problems otherwise."""
    text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in COLUMNS if name not in header and name != "end"]
    if missing:
        raise SeatImportError([f"line 1: the header lacks {', '.join(missing)} (expected {','.join(COLUMNS)})"])
    reader.fieldnames = header
    problems: list[str] = []
    rows: list[SeatRow] = []
    first_line: dict[tuple, int] = {}
    for raw_row in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in raw_row.values() if isinstance(v, str)):
            continue  # a blank line
        row = _row(line, raw_row, problems)
        if row is None:
            continue
        key = (row.email, row.vendor, row.product, row.start_on)
        if key in first_line:
            problems.append(f"line {line}: the same email, vendor, product and start as line {first_line[key]}")
            continue
        first_line[key] = line
        rows.append(row)
    if problems:
        raise SeatImportError(problems)
    if not rows:
        raise SeatImportError(["the file has no seat rows"])
    return rows


def seats_import(*, raw: bytes | str, actor=None, source: str = "command") -> SeatImportResult:
    """Check the whole file, then upsert every row on (email, vendor, product, start) in one
    transaction; refused (SeatImportError, nothing written) if a row is bad or two
    assignments of one person and tool would overlap. Idempotent; audited."""
    return seat_rows_save(rows=seat_rows_parse(raw), actor=actor, source=source)


def seat_rows_save(*, rows: list[SeatRow], actor=None, source: str = "command") -> SeatImportResult:
    """Upsert checked rows (seat_rows_parse's, or another reader's such as copilot_seats) in one
    transaction; refused (SeatImportError, nothing written) if two assignments overlap."""
    result = SeatImportResult()
    known = set(Engineer.objects.filter(email__in={r.email for r in rows}).values_list("email", flat=True))
    for row in rows:
        if row.email not in known:
            result.unknown_emails.setdefault(row.email, []).append(row.line)
    with transaction.atomic():
        _upsert(rows, result)
        _refuse_overlaps()
        audit(
            actor, "seats.import", "", rows=result.rows, created=result.created, updated=result.updated, source=source
        )
    return result


def _upsert(rows: Iterable[SeatRow], result: SeatImportResult) -> None:
    rows = sorted(rows, key=lambda r: (r.email, r.vendor, r.product, r.start_on))  # stable lock order
    existing = {
        (s.email, s.vendor, s.product, s.start_on): s
        for s in SeatAssignment.objects.select_for_update().filter(email__in={r.email for r in rows})
    }
    changed = []
    for row in rows:
        seat = existing.get((row.email, row.vendor, row.product, row.start_on))
        if seat is not None and (seat.monthly_price_usd, seat.end_on) == (row.monthly_price_usd, row.end_on):
            result.unchanged += 1
            continue
        result.created += seat is None
        result.updated += seat is not None
        changed.append(row)
    SeatAssignment.objects.bulk_create(
        [
            SeatAssignment(
                email=r.email,
                vendor=r.vendor,
                product=r.product,
                monthly_price_usd=r.monthly_price_usd,
                start_on=r.start_on,
                end_on=r.end_on,
            )
            for r in changed
        ],
        update_conflicts=True,
        unique_fields=["email", "vendor", "product", "start_on"],
        update_fields=["monthly_price_usd", "end_on", "imported_at"],
    )


def _refuse_overlaps() -> None:
    with connection.cursor() as cursor:
        cursor.execute(OVERLAPS_SQL)
        overlaps = cursor.fetchall()
    if overlaps:
        raise SeatImportError(
            [
                f"{email} {vendor}/{product}: the seat from {first} overlaps the one from {second} "
                "(end the first before the second starts)"
                for email, vendor, product, first, second in overlaps
            ]
        )
