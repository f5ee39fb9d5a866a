"""What /finance/ compares a month with: while the month runs, its usage so far against the same
elapsed days of last month (as /me/ does); a complete month against all of last month."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.finance import finance_overview, month_shift, previous_end
from billing.models import SeatAssignment
from tests.billing.test_finance import finance_user
from tests.factories import DailyUsageFactory, EngineerFactory, TeamFactory

NOVEMBER = date(2026, 11, 1)


def spend(engineer, day: date, cost: str, vendor: str = "anthropic") -> None:
    team_id = engineer.memberships.get().team_id
    DailyUsageFactory(engineer=engineer, team_id=team_id, day=day, vendor=vendor, cost_usd=Decimal(cost))


@pytest.mark.parametrize(
    ("start", "today", "expected"),
    [
        (NOVEMBER, date(2026, 11, 24), date(2026, 10, 25)),  # Nov 1-24 vs Oct 1-24
        (NOVEMBER, date(2026, 11, 1), date(2026, 10, 2)),  # the first day vs the first day
        (date(2027, 3, 1), date(2027, 3, 31), date(2027, 3, 1)),  # Mar 1-31 vs all of Feb 1-28
        (date(2027, 3, 1), date(2027, 3, 29), date(2027, 3, 1)),  # capped at February's end
        (date(2027, 3, 1), date(2027, 3, 27), date(2027, 2, 28)),
        (date(2028, 3, 1), date(2028, 3, 29), date(2028, 3, 1)),  # Feb 1-29 in a leap year
        (date(2027, 1, 1), date(2027, 1, 10), date(2026, 12, 11)),  # across a year
        (date(2026, 10, 1), date(2026, 11, 24), date(2026, 10, 1)),  # a past month: all of September
    ],
)
def test_last_months_window_is_the_same_elapsed_days_while_the_month_runs(start, today, expected):
    assert previous_end(start=start, today=today) == expected


@pytest.mark.django_db
def test_mid_month_every_previous_figure_is_the_same_days_of_last_month():
    ann = EngineerFactory(name="Ann", team=TeamFactory(name="Core"), cost_center="CC-1")
    bob = EngineerFactory(name="Bob", team=TeamFactory(name="Web"), cost_center="CC-2")
    spend(ann, date(2026, 10, 10), "5.00")
    spend(ann, date(2026, 10, 24), "1.00")  # the last day compared
    spend(ann, date(2026, 10, 28), "100.00")  # after Oct 24: not compared with Nov 1-24
    spend(ann, date(2026, 11, 5), "8.00")
    spend(bob, date(2026, 10, 30), "50.00", vendor="openai")  # used only after Oct 24

    o = finance_overview(start=NOVEMBER, today=date(2026, 11, 24))

    assert (o.to_date, o.previous_start, o.previous_end) == (True, date(2026, 10, 1), date(2026, 10, 25))
    assert (o.previous_label, o.previous_days) == ("Oct 1–24", 24)
    assert (o.total_usd, o.previous_total_usd, o.change_usd) == (8, 6, 2)
    for lines in (o.vendors, o.products, o.cost_centers, o.teams):
        assert [
            (line.label, line.cost_usd, line.previous_usd) for line in lines if line.cost_usd or line.previous_usd
        ] == [(lines[0].label, 8, 6)]
    assert [line.label for line in o.vendors] == ["Anthropic"]  # no empty OpenAI line
    assert [(line.label, line.change_usd) for line in o.team_movers] == [("Core", 2)]  # a rise, not a fall
    assert [(line.label, line.change_usd) for line in o.engineer_movers] == [("Ann", 2)]


@pytest.mark.django_db
def test_a_complete_past_month_is_still_compared_with_all_of_last_month():
    ann = EngineerFactory(name="Ann", team=TeamFactory(name="Core"))
    spend(ann, date(2026, 9, 10), "5.00")
    spend(ann, date(2026, 9, 30), "100.00")
    spend(ann, date(2026, 10, 5), "8.00")

    o = finance_overview(start=date(2026, 10, 1), today=date(2026, 11, 24))

    assert (o.to_date, o.previous_end, o.previous_label) == (False, date(2026, 10, 1), "Last month")
    assert (o.total_usd, o.previous_total_usd) == (8, 105)
    assert [(line.label, line.change_usd) for line in o.engineer_movers] == [("Ann", -97)]
    assert [(line.label, line.change_usd) for line in o.team_movers] == [("Core", -97)]


@pytest.mark.django_db
def test_a_31_day_month_on_its_last_day_is_compared_with_all_of_february():
    ann = EngineerFactory(name="Ann", team=TeamFactory(name="Core"))
    spend(ann, date(2027, 2, 1), "2.00")
    spend(ann, date(2027, 2, 28), "7.00")
    spend(ann, date(2027, 3, 30), "4.00")

    on_the_31st = finance_overview(start=date(2027, 3, 1), today=date(2027, 3, 31))
    on_the_27th = finance_overview(start=date(2027, 3, 1), today=date(2027, 3, 27))

    assert (on_the_31st.previous_label, on_the_31st.previous_total_usd) == ("Feb 1–28", 9)
    assert (on_the_27th.previous_label, on_the_27th.previous_total_usd) == ("Feb 1–27", 2)


@pytest.mark.django_db
def test_seats_paid_for_the_whole_month_are_set_against_all_of_last_months_seats():
    """This month's seats count whole (its days to come are paid too), so last month's seats
    count whole as well: an unchanged seat is no change, whatever day of the month it is."""
    ann = EngineerFactory(name="Ann", team=TeamFactory(name="Core"))
    spend(ann, date(2026, 10, 3), "5.00")
    spend(ann, date(2026, 10, 28), "100.00")
    spend(ann, date(2026, 11, 3), "8.00")
    SeatAssignment.objects.create(
        email=ann.email, vendor="cursor", product="cursor", monthly_price_usd=40, start_on=date(2026, 9, 1)
    )

    o = finance_overview(start=NOVEMBER, today=date(2026, 11, 3))

    assert (o.seat_usd, o.total_usd, o.previous_total_usd) == (40, 48, 45)
    cursor = next(line for line in o.vendors if line.key == "cursor")
    assert (cursor.cost_usd, cursor.seat_usd, cursor.previous_usd, cursor.change_usd) == (40, 40, 40, 0)
    core = next(line for line in o.teams if line.label == "Core")
    assert (core.cost_usd, core.seat_usd, core.previous_usd) == (48, 40, 45)


@pytest.mark.django_db
def test_the_page_says_what_the_month_is_compared_with(client):
    today = timezone.localdate()
    start = today.replace(day=1)
    engineer = EngineerFactory(team=TeamFactory(name="Core"))
    spend(engineer, month_shift(start, -1), "5.00")
    spend(engineer, start - timedelta(days=1), "100.00")  # last month's last day
    client.force_login(finance_user())

    running = client.get(reverse("billing:finance"))
    o = running.context["o"]
    body = running.content.decode()
    compared = Decimal("105.00") if o.previous_end == start else Decimal("5.00")
    assert o.to_date and o.previous_total_usd == compared
    assert f"Last month, same {o.previous_days} day" in body
    assert f'<th class="num">{o.previous_label}</th>' in body
    assert f"against the same days of last month ({o.previous_label})" in body

    past = client.get(reverse("billing:finance") + f"?month={month_shift(start, -1):%Y-%m}")
    body = past.content.decode()
    assert not past.context["o"].to_date and "same days" not in body
    assert '<th class="num">Last month</th>' in body
    assert "Total (usage + seats)" in body and "of which seats" in body


@pytest.mark.django_db
def test_team_pages_label_their_spend_as_usage_and_finance_as_usage_plus_seats(client):
    team = TeamFactory(name="Core")
    engineer = EngineerFactory(team=team)
    spend(engineer, timezone.localdate() - timedelta(days=1), "5.00")
    SeatAssignment.objects.create(
        email=engineer.email, vendor="cursor", product="cursor", monthly_price_usd=40, start_on=date(2026, 1, 1)
    )
    client.force_login(finance_user())

    for url in (
        reverse("leaderboard:team", args=[team.pk]),
        reverse("leaderboard:engineer", args=[engineer.pk]),
    ):
        body = client.get(url).content.decode()
        assert "Usage spend" in body and "seat licences not included" in body, url
    assert "Spend is usage only" in client.get(reverse("leaderboard:home") + "?tab=teams").content.decode()
    assert '<th class="num">Total (usage + seats)</th><th class="num">of which seats</th>' in (
        client.get(reverse("billing:finance")).content.decode()
    )
