"""Idle seats: paid licences nobody uses, leavers' seats and seats of people not in the org chart."""

import json
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import SeatAssignment
from billing.seats import idle_seats
from billing.services.copilot_seats import copilot_seats_import
from tests.factories import DailyUsageFactory, EngineerFactory

pytestmark = pytest.mark.django_db

OCTOBER_31 = date(2026, 10, 31)


def seat(email: str, vendor="cursor", product="cursor", price=40, start=date(2026, 9, 1), **extra) -> SeatAssignment:
    return SeatAssignment.objects.create(
        email=email, vendor=vendor, product=product, monthly_price_usd=price, start_on=start, **extra
    )


def used(engineer, day: date, vendor="cursor", product="cursor") -> None:
    DailyUsageFactory(engineer=engineer, day=day, vendor=vendor, product=product)


@pytest.fixture
def company():
    ada = EngineerFactory(email="ada@example.com", name="Ada")
    grace = EngineerFactory(email="grace@example.com", name="Grace")
    linus = EngineerFactory(email="linus@example.com", name="Linus")
    ken = EngineerFactory(email="ken@example.com", name="Ken", end_date=date(2026, 10, 15))
    barbara = EngineerFactory(email="barbara@example.com", name="Barbara")
    dennis = EngineerFactory(email="dennis@example.com", name="Dennis")
    seat("ada@example.com")
    used(ada, date(2026, 10, 20))  # used this month: not idle
    seat("grace@example.com")
    used(grace, date(2026, 9, 10))  # Cursor last in September;
    used(grace, date(2026, 10, 20), vendor="anthropic", product="api")  # another vendor does not count
    seat("linus@example.com", start=date(2026, 10, 20))  # too new to call idle
    seat("ken@example.com")
    used(ken, date(2026, 10, 14))  # left on the 15th: his seat is idle whatever he used
    seat("gone@example.com", price=19, vendor="github", product="copilot")  # nobody has this email
    # Copilot: no usage rows for base completions, the seats API's last activity says who is active.
    seat("barbara@example.com", price=19, vendor="github", product="copilot", last_activity_on=date(2026, 10, 25))
    seat("dennis@example.com", price=19, vendor="github", product="copilot", last_activity_on=date(2026, 8, 1))
    # A seat already ending is a decision taken: not listed.
    seat("dennis@example.com", end_on=date(2026, 11, 30))
    return ada, grace, linus, ken, barbara, dennis


def test_idle_seats_are_leavers_strangers_and_seats_unused_in_the_window(company):
    idle = idle_seats(as_of=OCTOBER_31, idle_days=30).seats
    assert [(s.email, s.vendor, s.monthly_price_usd, s.reason) for s in idle] == [
        ("grace@example.com", "cursor", Decimal(40), "last used 10 Sep 2026"),
        ("ken@example.com", "cursor", Decimal(40), "left on 15 Oct 2026"),
        ("dennis@example.com", "github", Decimal(19), "last used 1 Aug 2026"),
        ("gone@example.com", "github", Decimal(19), "not in the org chart"),
    ]
    # A page of the costliest, with the count and monthly cost of all.
    top = idle_seats(as_of=OCTOBER_31, idle_days=30, limit=2)
    assert ([s.email for s in top.seats], top.count, top.monthly_usd) == (
        ["grace@example.com", "ken@example.com"],
        4,
        Decimal(118),
    )
    # Earlier in the month, Grace's September use is within the window.
    assert "grace@example.com" not in [s.email for s in idle_seats(as_of=date(2026, 10, 5), idle_days=30).seats]
    # A never-used seat says so.
    seat("linus@example.com", vendor="openai", product="chatgpt", start=date(2026, 8, 1))
    assert ("linus@example.com", "never used") in [
        (s.email, s.reason) for s in idle_seats(as_of=OCTOBER_31, idle_days=30).seats
    ]


def test_the_copilot_seats_import_keeps_the_last_activity_day(company):
    barbara = company[4]
    barbara.github_login = "barb"
    barbara.save()
    SeatAssignment.objects.filter(email="barbara@example.com").delete()
    raw = json.dumps(
        {
            "total_seats": 1,
            "seats": [
                {
                    "created_at": "2026-09-01T09:00:00Z",
                    "plan_type": "business",
                    "last_activity_at": "2026-10-28T23:30:00-02:00",
                    "assignee": {"login": "Barb"},
                }
            ],
        }
    )
    copilot_seats_import(raw=raw)
    # 23:30 at -02:00 is 01:30 UTC the next day.
    assert SeatAssignment.objects.get(email="barbara@example.com").last_activity_on == date(2026, 10, 29)


def test_finance_lists_the_idle_seats_and_what_reclaiming_them_saves(company, client):
    from tests.billing.test_finance import finance_user

    client.force_login(finance_user())
    body = client.get(reverse("billing:finance") + "?month=2026-10").content.decode()
    section = body[body.index('id="idle-seats"') :]
    assert "4 seats: reclaiming them saves <strong>$118.00</strong> a month." in section
    assert "left on 15 Oct 2026" in section and "not in the org chart" in section
    assert "Ada" not in section[: section.index("</section>")]


@pytest.mark.django_db(transaction=True)  # import_usage waits for each batch's commit
def test_the_demo_company_has_seats_in_use_idle_and_ending(tmp_path):
    """seed_demo (what `make run` shows): its Cursor seat holders mostly use Cursor, a quarter do
    not; its Copilot seats come from the seats API response with their last activity."""
    import io

    from django.core.management import call_command
    from django.utils import timezone

    from usage.models import ImportBatch

    call_command("seed_demo", "--engineers", "48", "--days", "45", "--out", str(tmp_path), stdout=io.StringIO())
    assert not ImportBatch.objects.exclude(status="done").exists()
    assert not ImportBatch.objects.filter(rows_rejected__gt=0).exists()
    idle = idle_seats(as_of=timezone.now().date(), idle_days=30).seats
    reasons = {(s.vendor, s.reason.split(" ")[0]) for s in idle}
    assert {("cursor", "never"), ("cursor", "not"), ("github", "last")} <= reasons
    cursor_seats = SeatAssignment.objects.filter(vendor="cursor").exclude(email__startswith="contractor")
    idle_cursor = [s for s in idle if s.vendor == "cursor" and s.engineer_id]
    assert len(idle_cursor) == cursor_seats.count() // 4  # every fourth holder
    assert SeatAssignment.objects.filter(vendor="github", last_activity_on__isnull=False).count() == 12
    assert SeatAssignment.objects.filter(vendor="github").exclude(end_on=None).exists()  # some ending
