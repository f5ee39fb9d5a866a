"""The people pages (/me/, /engineers/<id>/) and the team page (/teams/<id>/): who sees what,
the numbers they show, and a query count that does not grow with the org."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from leaderboard.access import FINANCE_GROUP, can_view_team, viewer_for
from leaderboard.models import AuditEntry
from leaderboard.periods import Period
from leaderboard.selectors.people import engineer_month_to_date, engineer_usage, engineer_weekly_ranks
from leaderboard.selectors.teams import team_usage
from tests.factories import DailyUsageFactory, EngineerFactory, TeamFactory, UserFactory
from usage.models import DailyUsage, Engineer, TeamMembership

pytestmark = pytest.mark.django_db

OCTOBER = Period(date(2026, 10, 1), date(2026, 11, 1))
OCTOBER_QUERY = "?start=2026-10-01&end=2026-11-01"


def engineer_url(engineer) -> str:
    return reverse("leaderboard:engineer", args=[engineer.pk]) + OCTOBER_QUERY


def team_url(team) -> str:
    return reverse("leaderboard:team", args=[team.pk]) + OCTOBER_QUERY


@pytest.fixture
def org():
    """Ada manages Bob, who manages Cy; Dee is elsewhere. Platform contains Infra."""
    platform = TeamFactory(name="Platform")
    infra = TeamFactory(name="Infra", parent=platform)
    payments = TeamFactory(name="Payments")
    ada = EngineerFactory(name="Ada", team=platform)
    bob = EngineerFactory(name="Bob", manager=ada, team=platform)
    cy = EngineerFactory(name="Cy", manager=bob, team=infra)
    dee = EngineerFactory(name="Dee", team=payments)
    return {"ada": ada, "bob": bob, "cy": cy, "dee": dee, "platform": platform, "infra": infra, "payments": payments}


def usage(engineer, team, day, cost="1.00", **fields) -> DailyUsage:
    return DailyUsageFactory(engineer=engineer, team=team, day=day, cost_usd=Decimal(cost), **fields)


def test_anonymous_users_are_sent_to_login(client, org):
    for url in [reverse("leaderboard:me"), engineer_url(org["bob"]), team_url(org["platform"])]:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/")


def test_an_engineer_gets_404_on_another_engineers_page(client, org):
    client.force_login(org["cy"].user)
    assert client.get(engineer_url(org["cy"])).status_code == 200
    for other in ["ada", "bob", "dee"]:
        assert client.get(engineer_url(org[other])).status_code == 404
    assert client.get(reverse("leaderboard:engineer", args=[999_999])).status_code == 404


def test_a_manager_sees_their_whole_chain_and_nobody_elses(client, org):
    client.force_login(org["ada"].user)
    assert client.get(engineer_url(org["bob"])).status_code == 200
    assert client.get(engineer_url(org["cy"])).status_code == 200
    assert client.get(engineer_url(org["dee"])).status_code == 404


def test_a_manager_sees_the_teams_of_their_chain_and_those_below_but_no_others(client, org):
    client.force_login(org["bob"].user)
    assert client.get(team_url(org["platform"])).status_code == 200
    assert client.get(team_url(org["infra"])).status_code == 200
    assert client.get(team_url(org["payments"])).status_code == 404


def test_a_sub_team_manager_cannot_open_the_team_above_or_beside_theirs(client, org):
    lead = EngineerFactory(name="Lead", team=org["infra"])
    EngineerFactory(name="Report", manager=lead, team=org["infra"])
    beside = TeamFactory(name="Tools", parent=org["platform"])
    client.force_login(lead.user)
    assert client.get(team_url(org["infra"])).status_code == 200
    assert client.get(team_url(org["platform"])).status_code == 404
    assert client.get(team_url(beside)).status_code == 404


def test_engineers_who_manage_nobody_cannot_open_team_pages(client, org):
    client.force_login(org["cy"].user)
    assert client.get(team_url(org["infra"])).status_code == 404


def test_finance_sees_everyone(client, org):
    user = UserFactory()
    user.groups.add(Group.objects.get_or_create(name=FINANCE_GROUP)[0])
    client.force_login(user)
    for person in ["ada", "bob", "cy", "dee"]:
        assert client.get(engineer_url(org[person])).status_code == 200
    for team in ["platform", "infra", "payments"]:
        assert client.get(team_url(org[team])).status_code == 200
    assert client.get(reverse("leaderboard:team", args=[999_999])).status_code == 404


def test_admins_see_everyone(client, org):
    client.force_login(UserFactory(is_staff=True))
    assert client.get(engineer_url(org["dee"])).status_code == 200
    assert client.get(team_url(org["payments"])).status_code == 200


def test_viewing_another_persons_page_is_audited(client, org):
    client.force_login(org["ada"].user)
    client.get(engineer_url(org["cy"]))
    entry = AuditEntry.objects.get()
    assert (entry.user, entry.action, entry.target) == (org["ada"].user, "view_engineer", f"engineer:{org['cy'].pk}")
    assert entry.details == {"period": "start=2026-10-01&end=2026-11-01"}


def test_viewing_your_own_page_is_not_audited(client, org):
    client.force_login(org["cy"].user)
    client.get(reverse("leaderboard:me"))
    client.get(engineer_url(org["cy"]))
    assert not AuditEntry.objects.exists()


def test_a_refused_page_is_not_audited(client, org):
    client.force_login(org["cy"].user)
    client.get(engineer_url(org["dee"]))
    assert not AuditEntry.objects.exists()


def test_the_page_shows_the_manager_chain_and_team(client, org):
    client.force_login(org["ada"].user)
    html = client.get(engineer_url(org["cy"])).content.decode()
    assert "Reports to" in html
    assert html.index(">Bob<") < html.index("Ada")
    assert "Infra" in html
    assert reverse("leaderboard:team", args=[org["infra"].pk]) in html


def test_a_login_without_an_engineer_record_is_told_what_to_do(client):
    client.force_login(UserFactory(is_staff=True))
    response = client.get(reverse("leaderboard:me"))
    assert response.status_code == 200
    assert "not linked to anyone in the org chart" in response.content.decode()


def test_no_usage_shows_the_empty_state(client, org):
    client.force_login(org["cy"].user)
    assert "No usage yet: upload an export on Imports" in client.get(reverse("leaderboard:me")).content.decode()


def test_me_shows_my_numbers_and_charts(client, org):
    usage(org["cy"], org["infra"], date(2026, 10, 5), cost="12.50", model="claude-opus-4-1")
    client.force_login(org["cy"].user)
    html = client.get(reverse("leaderboard:me") + OCTOBER_QUERY).content.decode()
    assert "$12.50" in html
    assert "claude-opus-4-1" in html
    for chart in ["chart-daily", "chart-models", "chart-rank"]:
        assert f'id="{chart}"' in html
    assert "charts.js" in html


def test_the_weekly_rank_reads_as_an_ordinal(client, org):
    from django.utils import timezone

    this_week = timezone.localdate()
    for person, cost in [("ada", "9.00"), ("bob", "5.00"), ("cy", "7.00")]:
        usage(org[person], None, this_week, cost=cost)
    client.force_login(org["bob"].user)
    html = client.get(reverse("leaderboard:me")).content.decode()
    assert "#3</strong> of 3" in html and "33rd percentile" in html  # was "33th"
    days = this_week.weekday() + 1  # the week so far: its rank still moves
    assert (f"(its first {days} day" in html) == (days < 7)


def test_an_htmx_request_gets_only_the_usage_fragment(client, org):
    usage(org["cy"], org["infra"], date(2026, 10, 5))
    client.force_login(org["cy"].user)
    response = client.get(reverse("leaderboard:me") + OCTOBER_QUERY, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="chart-daily"' in html


def test_an_invalid_period_falls_back_to_this_month_and_says_so(client, org):
    client.force_login(org["cy"].user)
    html = client.get(reverse("leaderboard:me") + "?start=2026-10-05&end=2026-10-01").content.decode()
    assert "The last day must not be before the first" in html


def test_the_daily_series_is_zero_filled(org):
    usage(org["cy"], org["infra"], date(2026, 10, 3), cost="2.00")
    week = Period(date(2026, 10, 1), date(2026, 10, 8))
    result = engineer_usage(engineer_id=org["cy"].pk, period=week, today=date(2026, 10, 20))
    assert [point.day for point in result.days] == [date(2026, 10, 1) + timedelta(days=n) for n in range(7)]
    assert [point.cost_usd for point in result.days] == [0, 0, Decimal("2.00"), 0, 0, 0, 0]
    assert result.vendor_days == {"anthropic": (0, 0, Decimal("2.00"), 0, 0, 0, 0)}


def test_the_team_daily_series_is_zero_filled(org):
    usage(org["cy"], org["infra"], date(2026, 10, 2))
    result = team_usage(team_id=org["platform"].pk, period=Period(date(2026, 10, 1), date(2026, 10, 4)))
    assert [point.tokens for point in result.days] == [0, 7000, 0]
    assert result.members[0].daily_cost_usd == (0, Decimal("1.00"), 0)


def test_usage_splits_by_vendor_product_and_model_and_measures_the_cache(org):
    cy, infra = org["cy"], org["infra"]
    usage(cy, infra, date(2026, 10, 1), cost="3.00", model="claude-sonnet-4-5")
    usage(cy, infra, date(2026, 10, 1), cost="1.00", vendor="openai", product="codex", model="gpt-5")
    result = engineer_usage(engineer_id=cy.pk, period=OCTOBER, today=date(2026, 11, 24))
    assert [(s.key, s.cost_usd) for s in result.by_vendor] == [("anthropic", 3), ("openai", 1)]
    assert [s.key for s in result.by_tool] == ["anthropic/api", "openai/codex"]
    assert [s.share for s in result.by_model] == [0.75, 0.25]
    # Each row: 1,000 uncached + 5,000 cache read + 500 cache write input tokens, 500 output.
    assert result.cache.read_share == pytest.approx(5000 / 6500)
    assert result.cache.usd_per_million == Decimal("4.00") * 1_000_000 / 14_000
    assert result.requests == 20


def test_month_to_date_is_set_against_the_same_days_of_last_month_and_all_of_it(org):
    cy, infra = org["cy"], org["infra"]
    usage(cy, infra, date(2026, 11, 3), cost="10.00")
    usage(cy, infra, date(2026, 10, 2), cost="4.00")
    usage(cy, infra, date(2026, 10, 10), cost="6.00")  # after the 9th: only in the full month
    usage(cy, infra, date(2026, 9, 30), cost="100.00")  # before last month: in nothing
    month = engineer_month_to_date(engineer_id=cy.pk, today=date(2026, 11, 9))
    assert month.days == 9
    assert month.cost_usd == Decimal("10.00")
    assert month.last_same_days_cost_usd == Decimal("4.00")
    assert month.last_month_cost_usd == Decimal("10.00")
    assert month.change == 1.5


def test_month_to_date_on_the_31st_compares_with_all_of_a_shorter_last_month(org):
    usage(org["cy"], org["infra"], date(2026, 11, 30), cost="5.00")
    month = engineer_month_to_date(engineer_id=org["cy"].pk, today=date(2026, 12, 31))
    assert month.last_same_days_cost_usd == month.last_month_cost_usd == Decimal("5.00")


def test_the_weekly_rank_places_an_engineer_among_everyone_with_usage(org):
    monday = date(2026, 10, 12)
    for person, cost in [("ada", "9.00"), ("bob", "5.00"), ("cy", "7.00"), ("dee", "1.00")]:
        usage(org[person], None, monday + timedelta(days=2), cost=cost)
    usage(org["ada"], None, monday - timedelta(days=7), cost="1.00")
    ranks = engineer_weekly_ranks(engineer_id=org["cy"].pk, until=monday + timedelta(days=6))
    assert len(ranks) == 12
    assert ranks[-1].week == monday
    assert (ranks[-1].rank, ranks[-1].engineers, ranks[-1].percentile) == (2, 4, 75)
    assert (ranks[-2].rank, ranks[-2].engineers) == (None, 1)
    assert all(point.rank is None for point in ranks[:-1])


def test_team_totals_include_sub_teams(org):
    deep = TeamFactory(name="Storage", parent=org["infra"])
    sam = EngineerFactory(name="Sam", team=deep)
    usage(org["bob"], org["platform"], date(2026, 10, 1), cost="1.00")
    usage(org["cy"], org["infra"], date(2026, 10, 1), cost="2.00")
    usage(sam, deep, date(2026, 10, 1), cost="4.00")
    usage(org["dee"], org["payments"], date(2026, 10, 1), cost="8.00")

    platform = team_usage(team_id=org["platform"].pk, period=OCTOBER)
    assert platform.cost_usd == Decimal("7.00")
    assert platform.people == 3
    assert [(t.name, t.cost_usd, t.teams, t.people) for t in platform.sub_teams] == [("Infra", Decimal("6.00"), 2, 2)]
    assert platform.own.cost_usd == Decimal("1.00")
    assert set(platform.branch_days) == {"Platform (direct)", "Infra"}
    assert {m.name for m in platform.members} == {"Bob", "Cy", "Sam"}
    assert team_usage(team_id=org["infra"].pk, period=OCTOBER).cost_usd == Decimal("6.00")


def test_usage_counts_for_the_team_of_that_day(org):
    """Cy moved from Infra to Payments on Oct 15: the rollup's team of each day decides."""
    cy = org["cy"]
    TeamMembership.objects.filter(engineer=cy).update(valid_to=date(2026, 10, 15))
    TeamMembership.objects.create(engineer=cy, team=org["payments"], valid_from=date(2026, 10, 15))
    usage(cy, org["infra"], date(2026, 10, 14), cost="3.00")
    usage(cy, org["payments"], date(2026, 10, 15), cost="5.00")

    infra = team_usage(team_id=org["infra"].pk, period=OCTOBER)
    payments = team_usage(team_id=org["payments"].pk, period=OCTOBER)
    assert infra.cost_usd == Decimal("3.00")
    assert [(m.name, m.cost_usd) for m in infra.members] == [("Cy", Decimal("3.00"))]
    assert payments.cost_usd == Decimal("5.00")
    assert team_usage(team_id=org["platform"].pk, period=OCTOBER).cost_usd == Decimal("3.00")


def test_team_access_follows_current_memberships(org):
    """Bob's report Cy leaves Infra: Bob, a member of Platform above it, still sees it."""
    TeamMembership.objects.filter(engineer=org["cy"]).update(valid_to=date(2026, 10, 15))
    bob = viewer_for(org["bob"].user)
    assert can_view_team(bob, team_id=org["infra"].pk, today=date(2026, 11, 1))
    TeamMembership.objects.filter(engineer=org["bob"]).update(valid_to=date(2026, 10, 15))
    assert not can_view_team(bob, team_id=org["infra"].pk, today=date(2026, 11, 1))
    assert can_view_team(bob, team_id=org["infra"].pk, today=date(2026, 10, 1))


def test_the_team_page_lists_members_with_sparklines_and_links_only_where_allowed(client, org):
    usage(org["ada"], org["platform"], date(2026, 10, 1), cost="9.00")
    usage(org["bob"], org["platform"], date(2026, 10, 2))
    usage(org["cy"], org["infra"], date(2026, 10, 3))
    client.force_login(org["bob"].user)
    html = client.get(team_url(org["platform"])).content.decode()
    assert html.count("<polyline") == 3
    assert reverse("leaderboard:engineer", args=[org["cy"].pk]) in html
    assert reverse("leaderboard:engineer", args=[org["ada"].pk]) not in html  # Bob's manager
    assert reverse("leaderboard:team", args=[org["infra"].pk]) in html


def make_org(size: int) -> dict:
    """A manager with `size` reports split over a team and its sub-team, each with five days
    of usage on two models: rows made with bulk_create."""
    team = TeamFactory(name="Org")
    sub = TeamFactory(name="Org sub", parent=team)
    boss = EngineerFactory(name="Boss", team=team)
    reports = Engineer.objects.bulk_create(
        Engineer(email=f"bulk{n}@example.com", name=f"Bulk {n}", manager=boss, start_date=date(2024, 1, 1))
        for n in range(size)
    )
    TeamMembership.objects.bulk_create(
        TeamMembership(engineer=e, team=team if n % 2 else sub, valid_from=date(2024, 1, 1))
        for n, e in enumerate(reports)
    )
    DailyUsage.objects.bulk_create(
        DailyUsage(
            day=date(2026, 10, 1 + day),
            engineer=e,
            team=team if n % 2 else sub,
            vendor="anthropic",
            product="api",
            model=model,
            tokens=1000 + n,
            cache_read_tokens=500,
            cost_usd=Decimal(n % 7 + 1),
        )
        for n, e in enumerate([boss, *reports])
        for day in range(5)
        for model in ["claude-sonnet-4-5", "claude-haiku-4-5"]
    )
    return {"boss": boss, "report": reports[0], "team": team}


# Session and user (2), the viewer (1: engineer, groups and chain), then the page's own.
PAGE_QUERIES = {
    # profile, series, month to date, stored ranks + live ranks (nothing computed ahead here);
    # may the team be linked; caps (2)
    "me": 2 + 1 + 5 + 1 + 2,
    "engineer": 2 + 1 + 1 + 5 + 1 + 2,  # ... and the audit entry
    # may the team be seen; its usage: the cache lookup, then computed in one snapshot (a
    # savepoint here, the versions; tree, usage and members, sparklines) and stored; budgets (1)
    "team": 2 + 1 + 1 + (1 + 2 + 1 + 3 + 1) + 1,
}
# A second view reads the team's usage back: the lookup only.
CACHED_PAGE_QUERIES = {"team": 2 + 1 + 1 + 1 + 1}


@pytest.mark.parametrize("size", [10, 1000])
@pytest.mark.parametrize("page", list(PAGE_QUERIES))
def test_each_page_makes_the_same_number_of_queries_whatever_the_org_size(
    client, django_assert_num_queries, page, size
):
    org = make_org(size)
    client.force_login(org["boss"].user)
    url = {
        "me": reverse("leaderboard:me") + OCTOBER_QUERY,
        "engineer": engineer_url(org["report"]),
        "team": team_url(org["team"]),
    }[page]
    with django_assert_num_queries(PAGE_QUERIES[page]):
        response = client.get(url)
    assert response.status_code == 200
    assert "No usage yet" not in response.content.decode()
    if page in CACHED_PAGE_QUERIES:
        with django_assert_num_queries(CACHED_PAGE_QUERIES[page]):
            again = client.get(url)
        assert again.context["usage"] == response.context["usage"]


@pytest.mark.django_db
def test_usage_dated_after_today_is_drawn_on_the_person_and_team_pages():
    # An export from a clock ahead of ours: its day is after today but inside the running period.
    team = TeamFactory(name="Clockwise")
    ada = EngineerFactory(name="Ada", team=team)
    today = date(2026, 11, 25)
    period = Period(date(2026, 11, 20), date(2026, 12, 1), elapsed_end=today + timedelta(days=1))
    DailyUsageFactory(engineer=ada, team=team, day=today, cost_usd=Decimal("1"))
    DailyUsageFactory(engineer=ada, team=team, day=today + timedelta(days=1), cost_usd=Decimal("2"))

    usage = engineer_usage(engineer_id=ada.pk, period=period, today=today)
    assert [(p.day, p.cost_usd) for p in usage.days][-2:] == [(today, 1), (today + timedelta(days=1), 2)]
    assert sum(p.cost_usd for p in usage.days) == 3

    team_page = team_usage(team_id=team.pk, period=period)
    assert team_page.days[-1].day == today + timedelta(days=1) and team_page.cost_usd == 3
    assert team_page.members[0].daily_cost_usd[-2:] == (1, 2)
