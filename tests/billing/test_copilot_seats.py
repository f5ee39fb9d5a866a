"""GitHub Copilot seats from the seats API response, through the seat ledger."""

import io
import json
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from billing.finance import finance_overview
from billing.models import SeatAssignment
from billing.seats import seat_costs, seat_total_usd
from billing.services.copilot_seats import copilot_seats_import
from billing.services.seats import SeatImportError
from tests.factories import EngineerFactory

pytestmark = pytest.mark.django_db

OCTOBER = (date(2026, 10, 1), date(2026, 11, 1))


def seat(login="Ada-L", plan="business", created="2026-10-01T09:00:00Z", cancel=None, **extra) -> dict:
    return {
        "created_at": created,
        "updated_at": created,
        "pending_cancellation_date": cancel,
        "last_activity_at": None,
        "last_activity_editor": None,
        "plan_type": plan,
        "assignee": {"login": login, "id": 1, "type": "User"},
        **extra,
    }


def response(*seats: dict) -> bytes:
    return json.dumps({"total_seats": len(seats), "seats": list(seats)}).encode()


@pytest.fixture
def people():
    return (
        EngineerFactory(email="ada@example.com", github_login="ada-l"),
        EngineerFactory(email="grace@example.com", github_login="GraceH"),
    )


def test_each_seat_is_priced_by_its_plan_and_charged_to_the_engineer_with_that_login(people):
    result = copilot_seats_import(
        raw=response(seat(), seat(login="graceh", plan="enterprise", created="2026-10-01T00:30:00+02:00"))
    )
    assert (result.seats.created, result.unknown_logins) == (2, {})
    seats = {s.email: s for s in SeatAssignment.objects.all()}
    assert (seats["ada@example.com"].vendor, seats["ada@example.com"].product) == ("github", "copilot")
    assert seats["ada@example.com"].monthly_price_usd == Decimal("19")
    assert seats["grace@example.com"].monthly_price_usd == Decimal("39")
    # 00:30 at +02:00 is 22:30 UTC the day before: start is created_at's UTC day
    assert seats["grace@example.com"].start_on == date(2026, 9, 30)
    assert seats["ada@example.com"].end_on is None


def test_the_price_map_is_a_setting(people, settings):
    settings.COPILOT_SEAT_PRICES_USD = {"business": "21.5", "enterprise": "39"}
    copilot_seats_import(raw=response(seat()))
    assert SeatAssignment.objects.get().monthly_price_usd == Decimal("21.5")


def test_a_pending_cancellation_date_is_the_last_day_paid(people):
    copilot_seats_import(raw=response(seat(cancel="2026-10-15")))
    assert SeatAssignment.objects.get().end_on == date(2026, 10, 15)
    assert abs(seat_total_usd(start=OCTOBER[0], end=OCTOBER[1]) - Decimal(19) * 15 / 31) < Decimal("1e-12")


def test_an_unknown_login_is_reported_by_location_and_not_charged_to_anyone(people):
    result = copilot_seats_import(raw=response(seat(), seat(login="Contractor-X")))
    assert result.unknown_logins == {"contractor-x": ["seats[1]"]}
    assert list(SeatAssignment.objects.values_list("email", flat=True)) == ["ada@example.com"]


def test_a_bad_seat_refuses_the_file_with_every_problem_by_location(people):
    raw = response(
        seat(),
        seat(login=""),
        seat(created="yesterday"),
        seat(plan="unknown"),
        seat(cancel="2026-09-01"),
    )
    with pytest.raises(SeatImportError) as refused:
        copilot_seats_import(raw=raw)
    problems = "\n".join(refused.value.problems)
    assert "seats[1]: assignee.login is missing" in problems
    assert "seats[2]: created_at is not an ISO-8601 time" in problems
    assert "seats[4]: pending_cancellation_date 2026-09-01 is before" in problems
    assert not SeatAssignment.objects.exists()
    with pytest.raises(SeatImportError, match=r"seats\[0\]: plan_type 'unknown' has no price"):
        copilot_seats_import(raw=response(seat(plan="unknown")))


def test_several_pages_concatenated_are_read_and_a_seat_repeated_across_pages_counts_once(people):
    pages = [json.loads(response(seat())), json.loads(response(seat(), seat(login="graceh", plan="enterprise")))]
    result = copilot_seats_import(raw=json.dumps(pages).encode())
    assert result.seats.rows == 2 and SeatAssignment.objects.count() == 2


def test_importing_the_same_response_again_changes_nothing_and_a_cancellation_updates_the_seat(people):
    raw = response(seat(), seat(login="graceh", plan="enterprise"))
    copilot_seats_import(raw=raw)
    again = copilot_seats_import(raw=raw)
    assert (again.seats.created, again.seats.updated, again.seats.unchanged) == (0, 0, 2)
    later = copilot_seats_import(raw=response(seat(cancel="2026-10-31"), seat(login="graceh", plan="enterprise")))
    assert (later.seats.updated, later.seats.unchanged) == (1, 1)
    assert SeatAssignment.objects.count() == 2


def test_copilot_seats_show_in_the_seat_totals_and_on_finance(people):
    copilot_seats_import(raw=response(seat(), seat(login="graceh", plan="enterprise")))
    by_email = {r["email"]: r["cost_usd"] for r in seat_costs(start=OCTOBER[0], end=OCTOBER[1], keys=("email",))}
    assert by_email == {"ada@example.com": Decimal(19), "grace@example.com": Decimal(39)}
    overview = finance_overview(start=OCTOBER[0], today=date(2026, 11, 20))
    assert overview.seat_usd == Decimal(58)


def test_the_command_detects_the_json_and_takes_the_format_option(people, tmp_path):
    path = tmp_path / "seats.json"
    path.write_bytes(response(seat(), seat(login="nobody")))
    out, err = io.StringIO(), io.StringIO()
    call_command("import_seats", str(path), stdout=out, stderr=err)
    assert "1 seat (1 new, 0 changed, 0 unchanged)" in out.getvalue()
    assert "unknown GitHub login nobody (seats[1])" in err.getvalue()
    out = io.StringIO()
    call_command("import_seats", str(path), "--format", "copilot_seats", stdout=out, stderr=io.StringIO())
    assert "1 seat (0 new, 0 changed, 1 unchanged)" in out.getvalue()
    csv_path = tmp_path / "seats.csv"
    csv_path.write_text(
        "email,vendor,product,monthly_price_usd,start,end\nbo@example.com,cursor,cursor,40,2026-10-01,\n"
    )
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("import_seats", str(csv_path), "--format", "copilot_seats", stdout=out, stderr=io.StringIO())
    call_command("import_seats", str(csv_path), stdout=out, stderr=io.StringIO())
    assert SeatAssignment.objects.filter(vendor="cursor").count() == 1


def test_finance_takes_the_copilot_seats_json_on_the_upload_and_shows_its_dollars(people, client):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from tests.billing.test_finance import finance_user

    client.force_login(finance_user())
    upload = SimpleUploadedFile(
        "seats.json", response(seat(), seat(login="graceh", plan="enterprise"), seat(login="x"))
    )
    reply = client.post(reverse("billing:finance-seats"), {"file": upload, "month": "2026-10"}, follow=True)
    body = reply.content.decode()
    assert "2 seats (2 new, 0 changed, 0 unchanged)" in body and "Unknown GitHub logins, not imported: x" in body
    assert reply.context["o"].seat_usd == Decimal(58)


NOVEMBER_20 = date(2026, 11, 20)


def test_a_complete_response_ends_the_open_seats_it_no_longer_lists_the_day_before_it_was_fetched(people):
    EngineerFactory(email="Linus@Example.com", github_login="")  # a seat from the CSV, nobody's login
    copilot_seats_import(raw=response(seat(), seat(login="graceh")))
    SeatAssignment.objects.create(
        email="linus@example.com", vendor="github", product="copilot", monthly_price_usd=19, start_on=date(2026, 10, 1)
    )
    cursor = SeatAssignment.objects.create(
        email="grace@example.com", vendor="cursor", product="cursor", monthly_price_usd=40, start_on=date(2026, 10, 1)
    )

    # Grace's seat is gone from the list: it ends on the 19th; Ada's stays open.
    result = copilot_seats_import(raw=response(seat()), complete=True, as_of=NOVEMBER_20)

    assert [(s.email, s.end_on) for s in result.ended] == [("grace@example.com", date(2026, 11, 19))]
    assert result.unchecked == ["linus@example.com"]  # no login to look for: left open, reported
    ends = dict(SeatAssignment.objects.filter(vendor="github").values_list("email", "end_on"))
    assert ends == {"ada@example.com": None, "grace@example.com": date(2026, 11, 19), "linus@example.com": None}
    cursor.refresh_from_db()
    assert cursor.end_on is None  # another tool's seat is not the Copilot list's to end
    # Grace pays 19 of November's 30 days.
    november = seat_costs(start=date(2026, 11, 1), end=date(2026, 12, 1), keys=("email", "vendor"))
    grace = [r["cost_usd"] for r in november if (r["email"], r["vendor"]) == ("grace@example.com", "github")]
    assert grace == [pytest.approx(Decimal(19) * 19 / 30)]
    # The same response again: nothing more ends.
    assert copilot_seats_import(raw=response(seat()), complete=True, as_of=NOVEMBER_20).ended == []


def test_without_complete_an_unlisted_seat_stays_open(people):
    copilot_seats_import(raw=response(seat(), seat(login="graceh")))
    copilot_seats_import(raw=response(seat()))
    assert not SeatAssignment.objects.exclude(end_on=None).exists()


def test_a_complete_import_refuses_a_response_missing_pages_and_writes_nothing(people):
    first_page = json.dumps({"total_seats": 3, "seats": [seat(), seat(login="graceh")]}).encode()
    with pytest.raises(SeatImportError) as refused:
        copilot_seats_import(raw=first_page, complete=True)
    assert refused.value.problems == [
        "the response lists 2 seats but total_seats says 3: fetch every page (?per_page=100&page=2, ...) "
        "and import them together as a JSON array"
    ]
    no_total = json.dumps({"seats": [seat()]}).encode()
    with pytest.raises(SeatImportError, match="has no total_seats"):
        copilot_seats_import(raw=no_total, complete=True)
    assert not SeatAssignment.objects.exists()
    # Without complete, the same first page imports as before.
    assert copilot_seats_import(raw=first_page).seats.created == 2


def test_the_command_and_the_finance_upload_take_complete(people, tmp_path, client):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from tests.billing.test_finance import finance_user

    copilot_seats_import(raw=response(seat(), seat(login="graceh")))
    path = tmp_path / "seats.json"
    path.write_bytes(response(seat()))
    out = io.StringIO()
    call_command("import_seats", str(path), "--complete", "--as-of", "2026-11-20", stdout=out, stderr=io.StringIO())
    assert "ended grace@example.com's Copilot seat (from 2026-10-01): not listed, last day 2026-11-19" in out.getvalue()
    assert "1 Copilot seat no longer listed: ended" in out.getvalue()
    csv_path = tmp_path / "seats.csv"
    csv_path.write_text("email,vendor,product,monthly_price_usd,start,end\n")
    with pytest.raises(CommandError, match="--complete reads the Copilot seats API response"):
        call_command("import_seats", str(csv_path), "--complete", stdout=io.StringIO())

    SeatAssignment.objects.filter(email="grace@example.com").update(end_on=None)
    client.force_login(finance_user())
    upload = SimpleUploadedFile("seats.json", response(seat()))
    reply = client.post(
        reverse("billing:finance-seats"), {"file": upload, "month": "2026-11", "complete": "on"}, follow=True
    )
    assert "1 Copilot seat no longer listed ended yesterday (grace@example.com)." in reply.content.decode()
    assert SeatAssignment.objects.get(email="grace@example.com").end_on is not None


def test_a_seat_re_created_later_ends_the_earlier_one_the_day_before_instead_of_overlapping(people, tmp_path):
    copilot_seats_import(raw=response(seat(), seat(login="graceh")))
    # Ada's seat was removed and assigned again: GitHub lists it with a new created_at.
    again = response(seat(created="2026-11-10T08:00:00Z"), seat(login="graceh"))
    result = copilot_seats_import(raw=again)

    assert [(s.email, s.start_on, s.end_on) for s in result.superseded] == [
        ("ada@example.com", date(2026, 10, 1), date(2026, 11, 9))
    ]
    spans = list(SeatAssignment.objects.filter(email="ada@example.com").values_list("start_on", "end_on"))
    assert sorted(spans) == [(date(2026, 10, 1), date(2026, 11, 9)), (date(2026, 11, 10), None)]
    # One seat's price for November, not two: 9 days of the old seat and 21 of the new.
    november = seat_total_usd(start=date(2026, 11, 1), end=date(2026, 12, 1))
    assert november == pytest.approx(Decimal(19) * 2)
    # The same response again changes nothing; the command says what it ended.
    assert copilot_seats_import(raw=again).superseded == []
    SeatAssignment.objects.filter(email="ada@example.com", start_on=date(2026, 10, 1)).update(end_on=None)
    path = tmp_path / "seats.json"
    path.write_bytes(again)
    out = io.StringIO()
    call_command("import_seats", str(path), stdout=out, stderr=io.StringIO())
    assert "ended ada@example.com's Copilot seat (from 2026-10-01) on 2026-11-09: re-created the next day" in (
        out.getvalue()
    )


def test_a_seat_ending_before_the_re_created_one_starts_is_left_as_it_is(people):
    copilot_seats_import(raw=response(seat(cancel="2026-10-20")))
    result = copilot_seats_import(raw=response(seat(created="2026-11-10T08:00:00Z")))
    assert result.superseded == []
    ends = sorted(SeatAssignment.objects.values_list("start_on", "end_on"))
    assert ends == [(date(2026, 10, 1), date(2026, 10, 20)), (date(2026, 11, 10), None)]
