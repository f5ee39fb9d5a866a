"""/finance/'s figures kept under the versions of what they read (billing.finance.finance_data
over usage.services.computed): a cached page equals a live one, any write to the rollup, seats,
memberships, engineers or teams is seen on the next view, and the warm task computes ahead of the
page after an import."""

import pickle
import zlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection
from django.utils import timezone

from billing.finance import finance_cache_warm, finance_overview
from billing.models import SeatAssignment, TeamBudget
from tests.billing.test_finance import OCTOBER, a_month_of_usage
from tests.factories import DailyUsageFactory, EngineerFactory, TeamBudgetFactory, TeamFactory
from usage.models import ComputedCache, Engineer, Team, TeamMembership

TODAY = date(2026, 10, 20)  # October runs: the forecast and the same-days comparison apply


def live(**kwargs):
    """The overview computed from the tables, the cache emptied first."""
    ComputedCache.objects.all().delete()
    return finance_overview(**kwargs)


def with_seats() -> None:
    for engineer in Engineer.objects.all():
        SeatAssignment.objects.create(
            email=engineer.email, vendor="cursor", product="cursor", monthly_price_usd=40, start_on=date(2026, 9, 15)
        )


@pytest.mark.django_db
@pytest.mark.parametrize("today", [TODAY, date(2026, 11, 15)])
def test_a_cached_overview_equals_the_live_one(today):
    a_month_of_usage(teams=3)
    with_seats()
    computed = finance_overview(start=OCTOBER, today=today)
    assert ComputedCache.objects.count() == 1
    cached = finance_overview(start=OCTOBER, today=today)
    assert cached == computed == live(start=OCTOBER, today=today)
    assert cached.total_usd > 0 and cached.seat_usd > 0 and cached.idle_seats.count >= 0
    assert (cached.forecast is not None) == (today == TODAY)


def rollup_row() -> None:
    DailyUsageFactory(engineer=Engineer.objects.first(), day=date(2026, 10, 5), cost_usd=Decimal("1000"))


def seat_row() -> None:
    SeatAssignment.objects.create(
        email="someone@else.example", vendor="copilot", product="copilot", monthly_price_usd=19, start_on=OCTOBER
    )


def membership_moved() -> None:
    """Seats follow the holder's team of each day; the rollup is not touched."""
    engineer = Engineer.objects.get(memberships__team__name="Team 0")
    TeamMembership.objects.filter(engineer=engineer).update(team=Team.objects.get(name="Team 1"))


def cost_center_renamed() -> None:
    Engineer.objects.filter(pk=Engineer.objects.first().pk).update(cost_center="CC-renamed")


def team_renamed() -> None:
    Team.objects.filter(name="Team 0").update(name="Team zero")


@pytest.mark.django_db
@pytest.mark.parametrize("write", [rollup_row, seat_row, membership_moved, cost_center_renamed, team_renamed])
def test_every_write_to_what_the_figures_read_is_seen_on_the_next_view(write):
    a_month_of_usage(teams=2)
    with_seats()
    EngineerFactory()  # a seat holder to be
    before = finance_overview(start=OCTOBER, today=TODAY)
    write()
    after = finance_overview(start=OCTOBER, today=TODAY)
    assert after != before
    assert after == live(start=OCTOBER, today=TODAY)


@pytest.mark.django_db
def test_entries_of_older_versions_are_dropped_when_a_new_one_is_stored():
    a_month_of_usage(teams=1)
    finance_overview(start=OCTOBER, today=TODAY)
    finance_overview(start=date(2026, 9, 1), today=TODAY)
    assert ComputedCache.objects.count() == 2
    rollup_row()
    finance_overview(start=OCTOBER, today=TODAY)
    assert list(ComputedCache.objects.values_list("key", flat=True)) == [
        f"finance:{OCTOBER}:2026-09-21:{TODAY}:30:{TODAY}"
    ]


@pytest.mark.django_db
def test_an_unreadable_entry_is_computed_again(caplog):
    a_month_of_usage(teams=1)
    computed = finance_overview(start=OCTOBER, today=TODAY)
    for payload in (b"not a pickle", zlib.compress(pickle.dumps(SimpleNamespace(vendor_rows=[])))):
        ComputedCache.objects.update(payload=payload)
        assert finance_overview(start=OCTOBER, today=TODAY) == computed
        assert "could not be read" in caplog.text
        assert bytes(ComputedCache.objects.get().payload) != payload


@pytest.mark.django_db
def test_the_warm_computes_the_running_month_once_until_something_changes(django_assert_num_queries):
    a_month_of_usage(teams=2)
    assert finance_cache_warm(today=TODAY) is True
    assert finance_cache_warm(today=TODAY) is False
    built_at = ComputedCache.objects.get().built_at
    # An import that committed after the entry was built: its rows may have been invisible then.
    assert finance_cache_warm(today=TODAY, changed_at=built_at + timedelta(seconds=1)) is True
    assert finance_cache_warm(today=TODAY, changed_at=built_at - timedelta(seconds=1)) is False
    rollup_row()
    assert finance_cache_warm(today=TODAY) is True
    # The page then reads the warmed entry: no aggregate runs.
    with django_assert_num_queries(3):  # the lookup, budgets, bills (none: nothing to reconcile)
        finance_overview(start=OCTOBER, today=TODAY)


@pytest.mark.django_db(transaction=True)
def test_an_import_warms_the_running_month_on_commit(samples):
    from django.core.management import call_command

    call_command("import_org", str(samples / "org.csv"), stdout=None)
    call_command("import_usage", str(samples / "claude_code_analytics.json"), stdout=None)
    (entry,) = ComputedCache.objects.filter(kind="finance")  # beside /impact/ and the top teams' pages
    assert entry.key.split(":")[:2] == ["finance", str(timezone.localdate().replace(day=1))]
    with connection.cursor() as cursor:
        cursor.execute("SELECT version FROM usage_membership_version")
        assert cursor.fetchone()[0] > 0
    assert entry.built_at > datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.django_db
def test_budgets_are_read_live_on_a_cached_page():
    a_month_of_usage(teams=2)
    parent = TeamFactory(name="Parent")  # no spend of its own; its child has
    Team.objects.filter(name="Team 0").update(parent=parent)
    finance_overview(start=OCTOBER, today=TODAY)
    built_at = ComputedCache.objects.get().built_at
    TeamBudgetFactory(team=parent, period="month", amount_usd=Decimal("50.00"))
    TeamBudget.objects.filter(team__name="Team 1").update(amount_usd=Decimal("5.00"))
    teams = {line.label: line for line in finance_overview(start=OCTOBER, today=TODAY).teams}
    assert ComputedCache.objects.get().built_at == built_at  # read, not computed again
    assert teams["Parent"].budget_usd == Decimal("50.00")
    assert teams["Parent"].cost_usd == 0 and teams["Parent"].subtree_usd == teams["Team 0"].cost_usd > 0
    assert teams["Team 1"].budget_usd == Decimal("5.00")
    assert finance_overview(start=OCTOBER, today=TODAY).teams == live(start=OCTOBER, today=TODAY).teams
