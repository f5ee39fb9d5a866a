"""Costly reads kept under the versions of the tables they read (usage.services.computed), and the
team page that uses it: read back while nothing changed, computed again after any write."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from leaderboard.periods import Period
from leaderboard.selectors.teams import team_usage
from tests.factories import DailyUsageFactory, EngineerFactory, TeamFactory
from usage.models import ComputedCache, Engineer, Team
from usage.services.computed import ENGINEERS, ROLLUP, TEAMS, computed, computed_entry, versions_sql
from usage.services.rollup import daily_usage_rebuild

VERSIONS = versions_sql(ROLLUP, ENGINEERS, TEAMS)
OCTOBER = Period(date(2026, 10, 1), date(2026, 11, 1))


def counting(value):
    calls = []

    def compute():
        calls.append(1)
        return value

    return compute, calls


@pytest.mark.django_db
def test_a_result_is_read_back_until_a_version_moves():
    compute, calls = counting({"total": Decimal("1.50")})
    for _ in range(3):
        assert computed(kind="t", key="a", versions=VERSIONS, compute=compute, of=dict) == {"total": Decimal("1.50")}
    assert len(calls) == 1
    assert computed_entry(kind="t", key="a", versions=VERSIONS) is not None
    TeamFactory()  # the team table's version moves
    assert computed_entry(kind="t", key="a", versions=VERSIONS) is None
    computed(kind="t", key="a", versions=VERSIONS, compute=compute, of=dict)
    assert len(calls) == 2


@pytest.mark.django_db
def test_storing_drops_the_same_kinds_entries_of_older_versions_only():
    compute, _ = counting([1])
    computed(kind="t", key="a", versions=VERSIONS, compute=compute, of=list)
    computed(kind="other", key="a", versions=VERSIONS, compute=compute, of=list)
    DailyUsageFactory()  # the rollup's version moves
    computed(kind="t", key="b", versions=VERSIONS, compute=compute, of=list)
    assert sorted(ComputedCache.objects.values_list("key", flat=True)) == ["other:a", "t:b"]


@pytest.mark.django_db
def test_an_entry_of_another_class_is_computed_again(caplog):
    compute, calls = counting([1])
    computed(kind="t", key="a", versions=VERSIONS, compute=compute, of=list)
    assert computed(kind="t", key="a", versions=VERSIONS, compute=lambda: {"now": "a dict"}, of=dict) == {
        "now": "a dict"
    }
    assert "could not be read" in caplog.text
    assert computed(kind="t", key="a", versions=VERSIONS, compute=compute, of=dict) == {"now": "a dict"}
    assert len(calls) == 1


def a_team_with_usage() -> Team:
    team = TeamFactory(name="Platform")
    child = TeamFactory(name="Infra", parent=team)
    for n, where in enumerate((team, child, child)):
        engineer = EngineerFactory(team=where, name=f"Person {n}")
        DailyUsageFactory(engineer=engineer, team=where, day=date(2026, 10, 2 + n), cost_usd=Decimal("10.00") * (n + 1))
    return team


def rollup_row(team: Team) -> None:
    engineer = Engineer.objects.filter(memberships__team=team).first()
    DailyUsageFactory(engineer=engineer, team=team, day=date(2026, 10, 9), cost_usd=Decimal("100.00"))


def engineer_renamed(team: Team) -> None:
    Engineer.objects.filter(name="Person 1").update(name="Renamed person")


def sub_team_renamed(team: Team) -> None:
    Team.objects.filter(name="Infra").update(name="Infrastructure")


@pytest.mark.django_db
@pytest.mark.parametrize("write", [rollup_row, engineer_renamed, sub_team_renamed])
def test_the_team_page_shows_every_write_to_what_it_reads(write):
    team = a_team_with_usage()
    before = team_usage(team_id=team.pk, period=OCTOBER)
    assert team_usage(team_id=team.pk, period=OCTOBER) == before
    assert ComputedCache.objects.filter(kind="team").count() == 1
    write(team)
    after = team_usage(team_id=team.pk, period=OCTOBER)
    assert after != before
    ComputedCache.objects.all().delete()
    assert after == team_usage(team_id=team.pk, period=OCTOBER)


@pytest.mark.django_db
def test_each_period_and_team_is_its_own_entry_and_a_missing_team_is_none():
    team = a_team_with_usage()
    october = team_usage(team_id=team.pk, period=OCTOBER)
    november = team_usage(team_id=team.pk, period=Period(date(2026, 11, 1), date(2026, 12, 1)))
    assert october.cost_usd == Decimal("60.00") and november.cost_usd == 0
    assert team_usage(team_id=team.pk + 1000, period=OCTOBER) is None
    assert team_usage(team_id=team.pk + 1000, period=OCTOBER) is None
    assert ComputedCache.objects.filter(kind="team").count() == 3


def rollup_version() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {ROLLUP}")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_a_rollup_write_moves_the_version_again_when_it_commits(django_capture_on_commit_callbacks):
    """A page computed between an import's rollup statements and its commit reads the new version
    but not the rows yet: the move at commit makes what it stored stale."""
    team = a_team_with_usage()
    with django_capture_on_commit_callbacks(execute=True):
        daily_usage_rebuild(start=date(2026, 10, 1), end=date(2026, 11, 1))
        during = rollup_version()
        stored_during = team_usage(team_id=team.pk, period=OCTOBER)  # here it sees the rows; a race would not
    assert rollup_version() > during
    assert computed_entry(kind="team", key=f"{team.pk}:{OCTOBER.start}:{OCTOBER.end}", versions=VERSIONS) is None
    assert team_usage(team_id=team.pk, period=OCTOBER) == stored_during
