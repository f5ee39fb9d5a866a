"""Import of GitHub Copilot seats: the JSON of `GET /orgs/{org}/copilot/billing/seats` (or the
enterprise variant), one page `{total_seats, seats: [...]}` or several pages as a JSON array.

The response has no price and no email. Each seat becomes a row of the seat ledger
(billing/services/seats.py, saved by its `seat_rows_save`, so the same upsert, overlap check and
audit as the CSV import):
- email: `assignee.login` matched case-insensitively to `Engineer.github_login`; a login nobody
  has cannot be charged to anyone (the ledger is keyed by email), so it is left out and reported
  with its location (`seats[3]`) — import the org chart with that `github_login`, then import again;
- vendor `github`, product `copilot`;
- monthly_price_usd: settings.COPILOT_SEAT_PRICES_USD[plan_type] (`business` 19, `enterprise` 39);
- start: `created_at`'s UTC day; end: `pending_cancellation_date` (the last day paid, inclusive)
  or ongoing; `last_activity_at`'s UTC day kept as the seat's last activity (idle seats on /finance/).
A listed seat whose `created_at` is later than a seat of that person still open in the ledger was
re-created (removed, then assigned again; GitHub keeps one seat per login and gives a re-assigned
seat a new `created_at`): the earlier seat ends the day before the new one starts, instead of the
two overlapping and the file being refused.
As with the CSV, the whole file is checked first: a seat without a login, with an unreadable date
or with a plan that has no price refuses the file, every problem named by location. Importing the
same response again changes nothing.

The API lists current seats only: a seat removed after its cancellation date passed, or removed at
once, simply stops appearing. Imported with `complete=True` (the admin says the response is every
page of the one account the company pays Copilot through; it must hold `total_seats` seats), an
ongoing Copilot seat of a person whose GitHub login the response does not list ends the day
before `as_of` (the day the response was fetched): the last day it was surely held. A seat of
someone with no GitHub login on record is left open and reported: the response cannot say.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import connection, transaction
from django.db.models.functions import Lower

from billing.models import SeatAssignment
from leaderboard.access import audit
from usage.models import Engineer

from .seats import SeatImportError, SeatImportResult, SeatRow, seat_rows_save

VENDOR = "github"
PRODUCT = "copilot"


@dataclass
class CopilotSeatImportResult:
    seats: SeatImportResult
    unknown_logins: dict[str, list[str]] = field(default_factory=dict)  # login -> locations
    ended: list[SeatAssignment] = field(default_factory=list)  # complete=True: seats no longer listed
    superseded: list[SeatAssignment] = field(default_factory=list)  # ended by a re-created seat
    unchecked: list[str] = field(default_factory=list)  # complete=True: open seats of people with no login


@dataclass(frozen=True)
class _Seat:
    location: str
    login: str
    plan: str
    start_on: date
    end_on: date | None
    last_activity_on: date | None = None


def looks_like_copilot_seats(raw: bytes) -> bool:
    """A JSON document (the seats API), as opposed to the seat CSV."""
    return raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")


def copilot_seats_import(
    *, raw: bytes | str, actor=None, source: str = "command", complete: bool = False, as_of: date | None = None
) -> CopilotSeatImportResult:
    """Check the whole response, map logins to people, then save through the seat ledger;
    `complete`: also end the open Copilot seats it no longer lists (module docstring).
    SeatImportError (nothing written) lists every problem."""
    seats, totals = _read(raw)
    if complete:
        _check_complete(seats, totals)
    prices = _prices()
    problems = [
        f"{s.location}: plan_type {s.plan!r} has no price in COPILOT_SEAT_PRICES_USD ({', '.join(sorted(prices))})"
        for s in seats
        if s.plan not in prices
    ]
    if problems:
        raise SeatImportError(problems)
    emails = _emails_by_login({s.login for s in seats})
    unknown: dict[str, list[str]] = {}
    rows: dict[tuple, SeatRow] = {}
    locations: dict[tuple, str] = {}
    for n, s in enumerate(seats, start=1):
        email = emails.get(s.login)
        if email is None:
            unknown.setdefault(s.login, []).append(s.location)
            continue
        row = SeatRow(n, email, VENDOR, PRODUCT, prices[s.plan], s.start_on, s.end_on)
        key = (email, s.start_on)
        if key in rows and (rows[key].monthly_price_usd, rows[key].end_on) != (row.monthly_price_usd, row.end_on):
            problems.append(f"{s.location}: the same person and start as {locations[key]}, with another plan or end")
        elif key not in rows:
            rows[key], locations[key] = row, s.location
    if problems:
        raise SeatImportError(problems)
    with transaction.atomic():
        superseded = _end_superseded(list(rows.values()))
        result = CopilotSeatImportResult(
            seat_rows_save(rows=list(rows.values()), actor=actor, source=source), unknown, superseded=superseded
        )
        if superseded:
            audit(actor, "seats.copilot_recreated_ended", "", ended=len(superseded), source=source)
        _last_activity_save(seats, emails)
        if complete:
            as_of = as_of or datetime.now(UTC).date()
            _end_unlisted(result, listed={s.login for s in seats}, as_of=as_of)
            audit(actor, "seats.copilot_unlisted_ended", "", ended=len(result.ended), as_of=str(as_of), source=source)
    return result


def _end_superseded(rows: list[SeatRow]) -> list[SeatAssignment]:
    """End, the day before a listed seat starts, the person's earlier Copilot seats still held
    on that day: the listed seat replaced them (module docstring)."""
    starts = {row.email: row.start_on for row in rows}
    earlier = (
        SeatAssignment.objects.select_for_update()
        .filter(vendor=VENDOR, product=PRODUCT, email__in=starts)
        .order_by("email", "start_on")
    )
    ended = []
    for seat in earlier:
        start = starts[seat.email]
        if seat.start_on < start and (seat.end_on is None or seat.end_on >= start):
            seat.end_on = start - timedelta(days=1)
            seat.save(update_fields=["end_on", "imported_at"])
            ended.append(seat)
    return ended


def _last_activity_save(seats: list[_Seat], emails: dict[str, str]) -> None:
    """Each listed seat's last activity day, in one statement (not a seat's price or end: a seat
    CSV re-imported later leaves it as it is)."""
    known = [(emails[s.login], s.start_on, s.last_activity_on) for s in seats if s.login in emails]
    if not known:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_seatassignment s SET last_activity_on = a.day"
            " FROM unnest(%s::text[], %s::date[], %s::date[]) AS a(email, start_on, day)"
            " WHERE s.email = a.email AND s.vendor = %s AND s.product = %s AND s.start_on = a.start_on"
            " AND s.last_activity_on IS DISTINCT FROM a.day",
            [[k[0] for k in known], [k[1] for k in known], [k[2] for k in known], VENDOR, PRODUCT],
        )


def _check_complete(seats: list[_Seat], totals: list[object]) -> None:
    """Every page must say total_seats, the same number, and together list that many seats."""
    listed = len({s.login for s in seats})
    if any(not isinstance(t, int) or isinstance(t, bool) for t in totals):
        raise SeatImportError(
            ["a page has no total_seats: the response cannot show it lists every seat (import it without complete)"]
        )
    if len(set(totals)) > 1 or totals[0] != listed:
        raise SeatImportError(
            [
                f"the response lists {listed} seats but total_seats says {max(totals)}: fetch every page "
                "(?per_page=100&page=2, ...) and import them together as a JSON array"
            ]
        )


def _end_unlisted(result: CopilotSeatImportResult, *, listed: set[str], as_of: date) -> None:
    """End, the day before `as_of`, the open Copilot seats of people whose login is not listed."""
    last_day = as_of - timedelta(days=1)
    open_seats = SeatAssignment.objects.select_for_update().filter(
        vendor=VENDOR, product=PRODUCT, end_on__isnull=True, start_on__lte=last_day
    )
    logins = dict(
        Engineer.objects.annotate(email_ci=Lower("email"), login=Lower("github_login"))
        .filter(email_ci__in={seat.email for seat in open_seats})
        .values_list("email_ci", "login")
    )
    for seat in open_seats.order_by("email", "start_on"):
        login = logins.get(seat.email)
        if not login:
            result.unchecked.append(seat.email)
        elif login not in listed:
            seat.end_on = last_day
            seat.save(update_fields=["end_on", "imported_at"])
            result.ended.append(seat)


def _prices() -> dict[str, Decimal]:
    prices = {}
    for plan, value in settings.COPILOT_SEAT_PRICES_USD.items():
        try:
            price = Decimal(str(value))
        except InvalidOperation:
            raise SeatImportError([f"COPILOT_SEAT_PRICES_USD[{plan!r}] is not a number: {value!r}"]) from None
        if not price.is_finite() or price < 0:
            raise SeatImportError([f"COPILOT_SEAT_PRICES_USD[{plan!r}] must be a price >= 0: {value!r}"])
        prices[str(plan).lower()] = price
    return prices


def _emails_by_login(logins: set[str]) -> dict[str, str]:
    found = (
        Engineer.objects.annotate(login=Lower("github_login"))
        .filter(login__in=logins)
        .order_by("login", "email")
        .values_list("login", "email")
    )
    emails: dict[str, str] = {}
    for login, email in found:
        emails.setdefault(login, email.lower())
    return emails


def _read(raw: bytes | str) -> tuple[list[_Seat], list[object]]:
    """The seats of every page, and each page's total_seats."""
    text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SeatImportError([f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from None
    pages = doc if isinstance(doc, list) else [doc]
    if not pages or not all(isinstance(p, dict) and isinstance(p.get("seats"), list) for p in pages):
        raise SeatImportError(
            ['expected the Copilot seats API response: an object with a "seats" list (or a list of such pages)']
        )
    problems: list[str] = []
    seats: list[_Seat] = []
    for p, page in enumerate(pages):
        prefix = f"[{p}]." if isinstance(doc, list) else ""
        for i, item in enumerate(page["seats"]):
            location = f"{prefix}seats[{i}]"
            try:
                seats.append(_seat(item, location))
            except ValueError as exc:
                problems.append(f"{location}: {exc}")
    if problems:
        raise SeatImportError(problems)
    if not seats:
        raise SeatImportError(["the response has no seats"])
    return seats, [page.get("total_seats") for page in pages]


def _seat(item: object, location: str) -> _Seat:
    if not isinstance(item, dict):
        raise ValueError("the seat is not an object")
    assignee = item.get("assignee")
    login = assignee.get("login") if isinstance(assignee, dict) else None
    if not isinstance(login, str) or not login.strip():
        raise ValueError("assignee.login is missing: no one to charge the seat to")
    plan = item.get("plan_type")
    if not isinstance(plan, str) or not plan.strip():
        raise ValueError("plan_type is missing: the price comes from the plan")
    created = item.get("created_at")
    try:
        moment = datetime.fromisoformat(created) if isinstance(created, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"created_at is not an ISO-8601 time with an offset: {created!r}")
    start = moment.astimezone(UTC).date()
    cancel = item.get("pending_cancellation_date")
    end = None
    if cancel not in (None, ""):
        try:
            end = date.fromisoformat(str(cancel)[:10])
        except ValueError:
            raise ValueError(f"pending_cancellation_date is not a date: {cancel!r}") from None
        if end < start:
            raise ValueError(f"pending_cancellation_date {end} is before created_at's day {start}")
    active = item.get("last_activity_at")
    try:
        moment = datetime.fromisoformat(active) if isinstance(active, str) and active else None
    except ValueError:
        raise ValueError(f"last_activity_at is not an ISO-8601 time: {active!r}") from None
    last_active = None
    if moment is not None:
        last_active = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).date()
    return _Seat(location, login.strip().lower(), plan.strip().lower(), start, end, last_active)
