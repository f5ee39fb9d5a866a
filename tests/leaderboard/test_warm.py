"""Pages computed ahead after the boards' refresh (leaderboard.warm): /impact/ as finance opens
it and the top-level teams' pages are kept at the current versions before anyone views them."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from leaderboard.models import PrivacySettings
from leaderboard.tasks import board_snapshots_refresh_task
from leaderboard.warm import pages_warm
from tests.factories import DailyUsageFactory, EngineerFactory, TeamFactory, UserFactory
from usage.models import ComputedCache

pytestmark = pytest.mark.django_db


@pytest.fixture
def company():
    PrivacySettings.objects.create(pk=1)
    root = TeamFactory(name="Company")
    platform = TeamFactory(name="Platform", parent=root)
    ada = EngineerFactory(name="Ada Lovelace", team=platform)
    grace = EngineerFactory(name="Grace Hopper", team=root)
    today = timezone.now().date()  # in both default periods (the last 30 days, the running month)
    DailyUsageFactory(engineer=ada, team=platform, day=today, cost_usd=Decimal("12.50"))
    DailyUsageFactory(engineer=grace, team=root, day=today, cost_usd=Decimal("3"))
    return {"root": root, "grace": grace, "today": today}


@pytest.fixture
def finance_client(client):
    user = UserFactory()
    user.groups.add(Group.objects.create(name="finance"))
    client.force_login(user)
    return client


def entries() -> dict[str, object]:
    return dict(ComputedCache.objects.values_list("key", "built_at"))


def test_warming_computes_impact_and_the_top_teams_once_per_change(company):
    today = timezone.now().date()
    warmed = pages_warm(today=today)
    assert warmed == ["impact", f"team {company['root'].pk}"]  # a sub-team waits for its first view
    assert pages_warm(today=today) == []  # nothing changed
    DailyUsageFactory(engineer=company["grace"], team=company["root"], day=today, model="another-model")
    assert pages_warm(today=today) == ["impact", f"team {company['root'].pk}"]


def test_the_pages_read_what_was_computed_ahead(company, finance_client):
    board_snapshots_refresh_task.delay()  # eager here: the refresh, then the warm it queues
    kept = entries()
    assert {key.split(":")[0] for key in kept} == {"impact_people", "impact_teams", "team"}

    impact = finance_client.get("/impact/")
    team = finance_client.get(f"/teams/{company['root'].pk}/")
    assert impact.status_code == team.status_code == 200
    assert entries() == kept  # read back, none computed again
    assert impact.context["page"].people == 2
    assert team.context["usage"].cost_usd == Decimal("15.50")


def test_what_was_computed_ahead_equals_what_a_view_computes(company, finance_client):
    board_snapshots_refresh_task.delay()
    ahead = finance_client.get("/impact/").context["page"]
    ComputedCache.objects.all().delete()
    assert finance_client.get("/impact/").context["page"] == ahead
