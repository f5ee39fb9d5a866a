"""Seats: proration by day, the import (whole file checked first, idempotent), dated teams,
and every export still summing to usage_report to the cent with seats present."""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from billing.exports import chargeback_export, focus_export
from billing.finance import finance_overview
from billing.models import SeatAssignment
from billing.seats import seat_costs, seat_costs_by_month, seat_prorated_usd, seat_total_usd
from billing.services.seats import SeatImportError, seats_import
from leaderboard.models import AuditEntry
from tests.billing.test_finance import CENT, a_month_of_usage, finance_user, read_csv, usage_report_total
from tests.factories import EngineerFactory, TeamFactory
from usage.models import Engineer, TeamMembership

HEADER = "email,vendor,product,monthly_price_usd,start,end\n"
OCTOBER = (date(2026, 10, 1), date(2026, 11, 1))
NOVEMBER = (date(2026, 11, 1), date(2026, 12, 1))


def month_total(start: date, end: date) -> Decimal:
    return seat_total_usd(start=start, end=end)


def seat(email="ann@example.com", price="40", start="2026-10-01", end=""):
    return f"{email},cursor,cursor,{price},{start},{end}\n"


# --- Proration ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_seat_for_a_whole_month_costs_its_monthly_price():
    seats_import(raw=HEADER + seat(start="2026-10-01", end="2026-10-31"))
    assert month_total(*OCTOBER) == Decimal("40")
    assert month_total(*NOVEMBER) == 0


@pytest.mark.django_db
def test_a_partial_month_is_prorated_by_the_days_active_over_the_days_in_the_month():
    seats_import(raw=HEADER + seat(start="2026-10-16", end="2026-11-10"))
    assert month_total(*OCTOBER).quantize(Decimal("0.000001")) == (Decimal(40) * 16 / 31).quantize(Decimal("0.000001"))
    assert month_total(*NOVEMBER).quantize(Decimal("0.000001")) == (Decimal(40) * 10 / 30).quantize(Decimal("0.000001"))


@pytest.mark.django_db
def test_a_seat_across_a_month_boundary_charges_each_month_its_own_share():
    seats_import(raw=HEADER + seat(price="30", start="2026-10-31", end="2026-11-01"))
    assert abs(month_total(*OCTOBER) - Decimal(30) / 31) < Decimal("1e-12")
    assert abs(month_total(*NOVEMBER) - Decimal(1)) < Decimal("1e-12")


@pytest.mark.django_db
def test_leap_february_divides_by_29_days_and_a_common_one_by_28():
    seats_import(
        raw=HEADER
        + seat(price="29", start="2028-02-15", end="")
        + seat(price="28", start="2027-02-01", end="2027-02-14").replace("ann", "bo")
    )
    assert month_total(date(2028, 2, 1), date(2028, 3, 1)) == Decimal(15)  # 29 × 15/29
    assert month_total(date(2027, 2, 1), date(2027, 3, 1)) == Decimal(14)  # 28 × 14/28


@pytest.mark.django_db
def test_an_ongoing_seat_is_charged_every_month_and_a_one_day_seat_one_day():
    seats_import(
        raw=HEADER
        + seat(price="31", start="2026-01-01")
        + seat(email="bo@example.com", price="31", start="2026-10-05", end="2026-10-05")
    )
    assert month_total(*OCTOBER) == Decimal(32)
    assert month_total(date(2027, 6, 1), date(2027, 7, 1)) == Decimal(31)


def test_the_proration_rule_is_monthly_price_times_days_active_over_days_in_the_month():
    assert seat_prorated_usd(monthly_price_usd=Decimal("19"), days_active=10, days_in_month=31) == Decimal(190) / 31


# --- Import ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_end_before_start_is_refused_naming_the_line_and_the_field():
    with pytest.raises(SeatImportError) as refused:
        seats_import(raw=HEADER + seat() + seat(email="bo@example.com", start="2026-10-10", end="2026-10-09"))
    assert refused.value.problems == ["line 3, end: 2026-10-09 is before start 2026-10-10 (end is the last day paid)"]
    assert not SeatAssignment.objects.exists()


@pytest.mark.django_db
def test_every_bad_row_is_named_and_nothing_is_written(tmp_path):
    path = tmp_path / "seats.csv"
    path.write_text(
        HEADER
        + seat()
        + "not-an-email,cursor,cursor,40,2026-10-01,\n"
        + "bo@example.com,,cursor,forty,2026-10-01,\n"
        + "cy@example.com,github,copilot,19,2026-13-01,\n"
    )
    with pytest.raises(CommandError) as refused:
        call_command("import_seats", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    message = str(refused.value)
    assert "nothing imported" in message
    assert "line 3, email: 'not-an-email' is not an email address" in message
    assert "line 4, vendor: missing" in message
    assert "line 4, monthly_price_usd: 'forty' is not a number of US dollars" in message
    assert "line 5, start: '2026-13-01' is not a date (YYYY-MM-DD)" in message
    assert not SeatAssignment.objects.exists()


@pytest.mark.django_db
def test_a_missing_column_or_a_repeated_row_refuses_the_file():
    with pytest.raises(SeatImportError, match="header lacks monthly_price_usd"):
        seats_import(raw="email,vendor,product,start\nann@example.com,cursor,cursor,2026-10-01\n")
    with pytest.raises(SeatImportError, match="line 3: the same email, vendor, product and start as line 2"):
        seats_import(raw=HEADER + seat() + seat(price="50"))


@pytest.mark.django_db
def test_reimporting_the_same_file_changes_nothing_and_a_changed_row_replaces_its_assignment(tmp_path):
    EngineerFactory(email="ann@example.com")
    path = tmp_path / "seats.csv"
    path.write_text(
        HEADER
        + seat(end="2026-12-31")
        + seat(email="ANN@example.com", start="2027-01-01").replace("cursor,cursor", "github,copilot")
    )
    out = io.StringIO()
    call_command("import_seats", str(path), stdout=out, stderr=io.StringIO())
    assert "2 seats (2 new, 0 changed, 0 unchanged)" in out.getvalue()
    before = list(SeatAssignment.objects.values_list("pk", "monthly_price_usd", "end_on", "imported_at"))

    out = io.StringIO()
    call_command("import_seats", str(path), stdout=out, stderr=io.StringIO())
    assert "2 seats (0 new, 0 changed, 2 unchanged)" in out.getvalue()
    assert list(SeatAssignment.objects.values_list("pk", "monthly_price_usd", "end_on", "imported_at")) == before

    seats_import(raw=HEADER + seat(price="20", end="2026-10-15"))
    ann = SeatAssignment.objects.get(vendor="cursor")
    assert (ann.monthly_price_usd, ann.end_on) == (Decimal("20"), date(2026, 10, 15))
    assert SeatAssignment.objects.count() == 2
    assert AuditEntry.objects.filter(action="seats.import").count() == 3


@pytest.mark.django_db
def test_overlapping_seats_of_one_person_and_tool_are_refused_and_the_file_rolled_back():
    seats_import(raw=HEADER + seat(start="2026-10-01"))  # ongoing
    with pytest.raises(SeatImportError, match="overlaps"):
        seats_import(raw=HEADER + seat(email="bo@example.com") + seat(start="2026-11-01"))
    assert list(SeatAssignment.objects.values_list("email", flat=True)) == ["ann@example.com"]


@pytest.mark.django_db
def test_unknown_emails_are_reported_and_kept_as_unmapped_seats_until_the_person_exists(tmp_path):
    path = tmp_path / "seats.csv"
    path.write_text(HEADER + seat(email="ghost@example.com"))
    err = io.StringIO()
    call_command("import_seats", str(path), stdout=io.StringIO(), stderr=err)
    assert "unknown email ghost@example.com (line 2)" in err.getvalue()
    assert seat_costs(start=OCTOBER[0], end=OCTOBER[1], keys=("email", "unmapped")) == [
        {"email": None, "unmapped": True, "cost_usd": Decimal(40)}
    ]
    EngineerFactory(email="ghost@example.com")
    assert seat_costs(start=OCTOBER[0], end=OCTOBER[1], keys=("email",)) == [
        {"email": "ghost@example.com", "cost_usd": Decimal(40)}
    ]


# --- Dated teams, the page and the exports ----------------------------------------------------


@pytest.mark.django_db
def test_a_seats_dollars_go_to_the_team_the_engineer_was_in_on_each_day():
    old, new = TeamFactory(name="Old"), TeamFactory(name="New")
    ann = EngineerFactory(email="ann@example.com")
    TeamMembership.objects.create(engineer=ann, team=old, valid_from=date(2026, 1, 1), valid_to=date(2026, 10, 17))
    TeamMembership.objects.create(engineer=ann, team=new, valid_from=date(2026, 10, 17))
    seats_import(raw=HEADER + seat(price="31"))
    by_team = {
        row["team_name"]: row["cost_usd"] for row in seat_costs(start=OCTOBER[0], end=OCTOBER[1], keys=("team_name",))
    }
    assert by_team == {"Old": Decimal(16), "New": Decimal(15)}
    rows = {r[0]: r for r in chargeback_export(start=OCTOBER[0], end=OCTOBER[1], by="team").rows}
    assert rows["Old"][2:] == (Decimal("16.000000"), Decimal("0.000000"), Decimal("16.000000"))


def seats_for_a_month_of_usage() -> None:
    """Seats beside a_month_of_usage: whole, partial and unmapped, with repeating decimals."""
    emails = list(Engineer.objects.order_by("pk").values_list("email", flat=True))
    rows = [seat(email=emails[0], price="40", start="2026-09-20")]
    rows.append(
        seat(email=emails[-1], price="19", start="2026-10-07", end="2026-10-29").replace(
            "cursor,cursor", "github,copilot"
        )
    )
    rows.append(seat(email="ghost@example.com", price="10", start="2026-10-01", end="2026-10-03"))
    seats_import(raw=HEADER + "".join(rows))


@pytest.mark.django_db(transaction=True)
def test_every_export_sums_to_usage_report_with_seats_to_the_cent(tmp_path):
    a_month_of_usage(teams=3)
    seats_for_a_month_of_usage()
    total = usage_report_total("2026-10")
    seats = month_total(*OCTOBER)
    assert seats > 0
    assert abs(total - Decimal("3") * Decimal("12.345678") - Decimal("3.333333") - seats) < CENT
    for by in ("team", "vendor", "product", "model", "cost_center"):
        assert abs(usage_report_total("2026-10", by=by) - total) < CENT, by

    call_command("export_focus", "--month", "2026-10", str(tmp_path / "focus.csv"), stdout=io.StringIO())
    focus = read_csv(tmp_path / "focus.csv")
    assert abs(sum(Decimal(r["BilledCost"]) for r in focus) - total) < CENT
    purchases = [r for r in focus if r["ChargeCategory"] == "Purchase"]
    assert abs(sum(Decimal(r["BilledCost"]) for r in purchases) - seats) < CENT
    for by in ("cost_center", "team"):
        call_command(
            "export_chargeback", "--month", "2026-10", "--by", by, str(tmp_path / f"{by}.csv"), stdout=io.StringIO()
        )
        rows = read_csv(tmp_path / f"{by}.csv")
        assert abs(sum(Decimal(r["cost_usd"]) for r in rows) - total) < CENT
        assert abs(sum(Decimal(r["seats_usd"]) for r in rows) - seats) < CENT
    overview = finance_overview(start=OCTOBER[0], today=date(2026, 11, 20))
    assert abs(overview.total_usd - total) < CENT
    assert overview.seat_usd == seats
    for lines in (overview.vendors, overview.products, overview.cost_centers, overview.teams):
        assert abs(sum(line.cost_usd for line in lines) - total) < CENT


@pytest.mark.django_db
def test_focus_seat_rows_are_recurring_purchases_without_a_consumed_quantity():
    ann = EngineerFactory(email="ann@example.com", team=TeamFactory(name="Storage"), cost_center="CC-7")
    assert ann
    seats_import(raw=HEADER + seat(price="31", start="2026-10-11", end="2026-10-20"))
    export = focus_export(start=OCTOBER[0], end=OCTOBER[1])
    rows = [dict(zip(export.header, row, strict=True)) for row in export.rows]
    assert len(rows) == 1
    row = rows[0]
    assert (row["ChargeCategory"], row["ChargeFrequency"], row["ChargeClass"]) == ("Purchase", "Recurring", "")
    assert (row["ConsumedQuantity"], row["ConsumedUnit"]) == ("", "")
    assert (row["PricingQuantity"], row["PricingUnit"]) == (Decimal("0.322581"), "Seat-Months")
    assert (row["ChargePeriodStart"], row["ChargePeriodEnd"]) == ("2026-10-11T00:00:00Z", "2026-10-21T00:00:00Z")
    assert row["BilledCost"] == row["EffectiveCost"] == row["ListCost"] == row["ContractedCost"] == Decimal(10)
    assert (row["x_EngineerEmail"], row["x_Team"], row["x_CostCenter"], row["x_ChargeSource"]) == (
        "ann@example.com", "Storage", "CC-7", "seat",
    )  # fmt: skip
    assert row["ServiceName"] == "Cursor Cursor"


@pytest.mark.django_db
def test_the_finance_page_shows_seats_beside_metered_spend(client):
    a_month_of_usage(teams=1)
    seats_for_a_month_of_usage()
    client.force_login(finance_user())
    response = client.get(reverse("billing:finance") + "?month=2026-10")
    body = response.content.decode()
    assert "Total paid" in body and "+ seats" in body
    vendors = {line.key: line for line in response.context["o"].vendors}
    assert vendors["github"].seat_usd == vendors["github"].cost_usd > 0  # seats only
    assert vendors["anthropic"].seat_usd == 0
    assert "(unmapped)" in {line.label for line in response.context["o"].teams}


@pytest.mark.django_db
def test_chargeback_rows_have_metered_and_seat_columns():
    a_month_of_usage(teams=1)
    seats_for_a_month_of_usage()
    export = chargeback_export(start=OCTOBER[0], end=OCTOBER[1], by="cost_center")
    assert list(export.header) == ["cost_center", "tokens", "cost_usd", "metered_usd", "seats_usd"]
    out = io.StringIO()
    writer = csv.writer(out)
    for row in export.rows:
        assert row[2] == row[3] + row[4]
        writer.writerow(row)


@pytest.mark.django_db
def test_finance_uploads_a_seats_file_on_the_page_and_a_bad_one_writes_nothing(client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(finance_user())
    url = reverse("billing:finance-seats")
    good = SimpleUploadedFile("seats.csv", (HEADER + seat(email="ghost@example.com")).encode())
    response = client.post(url, {"file": good, "month": "2026-10"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("billing:finance") + "?month=2026-10#seats"
    body = response.content.decode()
    assert "1 seat (1 new, 0 changed, 0 unchanged)" in body and "ghost@example.com" in body
    assert response.context["o"].seat_usd == Decimal(40)

    bad = SimpleUploadedFile("seats.csv", (HEADER + seat(price="-3")).encode())
    body = client.post(url, {"file": bad, "month": "2026-10"}, follow=True).content.decode()
    assert "nothing imported" in body and "line 2, monthly_price_usd" in body
    # In the seats card the page opens at (#seats), not at the top, out of sight.
    assert body.index('id="seats"') < body.index("nothing imported")
    assert SeatAssignment.objects.count() == 1


@pytest.mark.django_db
def test_only_finance_and_admins_may_upload_seats(client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(EngineerFactory().user)
    upload = SimpleUploadedFile("seats.csv", (HEADER + seat()).encode())
    assert client.post(reverse("billing:finance-seats"), {"file": upload}).status_code == 404
    assert not SeatAssignment.objects.exists()


# The seat ledger's segments as they were first computed, one row per seat and day: the reference
# the interval arithmetic of SEGMENTS_BASE_SQL must match, segment for segment.
PER_DAY_SQL = """
SELECT s.id AS seat_id, s.email, s.vendor, s.product, s.monthly_price_usd, e.id AS engineer_id, e.cost_center,
       m.id AS membership_id, m.team_id, t.name AS team_name, date_trunc('month', g.ts)::date AS month,
       min(g.ts)::date AS first_day, max(g.ts)::date + 1 AS end_day, count(*) AS days,
       (date_trunc('month', g.ts) + interval '1 month')::date - date_trunc('month', g.ts)::date AS month_days,
       s.monthly_price_usd * count(*)
           / ((date_trunc('month', g.ts) + interval '1 month')::date - date_trunc('month', g.ts)::date) AS cost_usd
FROM billing_seatassignment s
CROSS JOIN LATERAL generate_series(
    GREATEST(s.start_on, %(start)s)::timestamp,
    LEAST(COALESCE(s.end_on, %(last)s), %(last)s)::timestamp,
    interval '1 day'
) AS g(ts)
LEFT JOIN usage_engineer e ON lower(e.email) = s.email
LEFT JOIN usage_teammembership m
    ON m.engineer_id = e.id AND m.valid_from <= g.ts::date AND (m.valid_to IS NULL OR m.valid_to > g.ts::date)
LEFT JOIN usage_team t ON t.id = m.team_id
WHERE s.start_on <= %(last)s AND (s.end_on IS NULL OR s.end_on >= %(start)s)
GROUP BY s.id, e.id, m.id, t.id, date_trunc('month', g.ts)
"""


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(4))
def test_segments_by_intervals_equal_the_per_day_expansion(seed):
    """Random seats (ongoing, ended, one day, before and across the period) of people with random
    team histories (gaps before, between and after memberships; no team; not in the org chart)."""
    import random

    from django.db import connection

    from billing.seats import SEGMENTS_BASE_SQL, _params

    rng = random.Random(seed)
    teams = [TeamFactory(name=f"T{seed}-{n}") for n in range(4)]
    day0 = date(2026, 1, 1)
    for n in range(30):
        engineer = EngineerFactory(email=f"p{n}@example.com")
        at = day0 + timedelta(days=rng.randint(-40, 120))
        for _ in range(rng.randint(0, 3)):
            until = at + timedelta(days=rng.randint(1, 90))
            ongoing = rng.random() < 0.3
            TeamMembership.objects.create(
                engineer=engineer, team=rng.choice(teams), valid_from=at, valid_to=None if ongoing else until
            )
            if ongoing:
                break
            at = until + timedelta(days=rng.choice([0, 0, 3, 20]))
    for n in range(60):
        start = day0 + timedelta(days=rng.randint(-60, 200))
        end = rng.choice([None, start, start + timedelta(days=rng.randint(1, 150))])
        email = f"p{rng.randint(0, 33)}@example.com"  # a few are nobody's
        SeatAssignment.objects.get_or_create(
            email=email, vendor="cursor", product=f"tool{n}", start_on=start,
            defaults={"monthly_price_usd": Decimal(rng.choice([19, 40, 39.5])), "end_on": end},
        )  # fmt: skip
    order = " ORDER BY seat_id, month, first_day"
    for start, end in [(date(2026, 1, 1), date(2026, 7, 1)), (date(2026, 2, 10), date(2026, 3, 20))]:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM ({PER_DAY_SQL}) x" + order, _params(start, end))
            per_day = cursor.fetchall()
            cursor.execute(f"SELECT * FROM ({SEGMENTS_BASE_SQL}) x" + order, _params(start, end))
            intervals = cursor.fetchall()
        assert len(per_day) > 20
        assert intervals == per_day
        # The chart's months, from the windows alone (no team cut): the same per month and vendor.
        by_month = {(r["month"], r["vendor"]): r["cost_usd"] for r in seat_costs_by_month(start=start, end=end)}
        segmented = seat_costs(start=start, end=end, keys=("month", "vendor"))
        assert by_month.keys() == {(r["month"], r["vendor"]) for r in segmented}
        for row in segmented:
            assert abs(by_month[row["month"], row["vendor"]] - row["cost_usd"]) < Decimal("1e-12")
