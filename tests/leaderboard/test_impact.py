"""The impact page (/impact/) and the efficiency ranking (/efficiency/): access, privacy, flags, queries."""

import dataclasses
import statistics
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from leaderboard.access import pseudonym, viewer_for
from leaderboard.models import PrivacySettings
from leaderboard.periods import Period
from leaderboard.selectors.impact import impact_page
from tests.factories import DailyUsageFactory, EngineerFactory, TeamFactory, UserFactory
from usage.models import ComputedCache, DailyUsage, Engineer, ImpactRecord, ImportBatch, TeamMembership

OCTOBER = Period(date(2026, 10, 1), date(2026, 11, 1))
OCTOBER_QUERY = "start=2026-10-01&end=2026-11-01"
TODAY = date(2026, 11, 15)

pytestmark = pytest.mark.django_db


@pytest.fixture
def privacy():
    """The settings row exists up front, so query counts do not include its creation."""
    return PrivacySettings.objects.create(pk=1)


@pytest.fixture
def batch():
    return ImportBatch.objects.create(filename="x.csv", size_bytes=0, sha256="0" * 64, raw_file="x.csv")


@pytest.fixture
def org(privacy):
    """Grace manages Ada and Alan on Platform; Linus is on Payments under nobody of theirs."""
    platform, payments = TeamFactory(name="Platform"), TeamFactory(name="Payments")
    grace = EngineerFactory(name="Grace Hopper", team=platform)
    ada = EngineerFactory(name="Ada Lovelace", manager=grace, team=platform)
    alan = EngineerFactory(name="Alan Turing", manager=grace, team=platform)
    linus = EngineerFactory(name="Linus Torvalds", team=payments)
    return {"platform": platform, "payments": payments, "grace": grace, "ada": ada, "alan": alan, "linus": linus}


def spend(engineer, usd, *, day=date(2026, 10, 5), team=None, **fields):
    team = team or engineer.memberships.first().team
    return DailyUsageFactory(engineer=engineer, day=day, cost_usd=Decimal(usd), team=team, **fields)


def outcome(batch, engineer, metric, value=1, *, day=date(2026, 10, 6), window_start=None):
    return ImpactRecord.objects.create(
        batch=batch,
        dataset="test",
        dedup_key=f"{engineer.pk}-{metric}-{day}-{ImpactRecord.objects.count()}",
        day=day,
        window_start=window_start,
        source="github",
        identity_kind="github_login",
        identity_value=engineer.github_login,
        engineer=engineer,
        metric=metric,
        value=value,
    )


def page_for(engineer_or_user, privacy, scope_ids=None, scope="everyone"):
    user = getattr(engineer_or_user, "user", engineer_or_user)
    viewer = viewer_for(user)
    return impact_page(viewer=viewer, privacy=privacy, period=OCTOBER, today=TODAY, scope_ids=scope_ids, scope=scope)


# --- access -----------------------------------------------------------------------------------


def test_an_engineer_sees_only_themself_and_gets_404_for_someone_else(client, org):
    spend(org["ada"], "10")
    spend(org["linus"], "20")
    client.force_login(org["ada"].user)

    response = client.get(f"/impact/?{OCTOBER_QUERY}")
    assert response.status_code == 200
    page = response.context["page"]
    assert page.scope == "self" and page.in_scope_people == 1 and page.flags is None
    assert [p.name for p in page.points if p.in_scope] == ["Ada Lovelace"]
    assert client.get(f"/impact/?{OCTOBER_QUERY}&engineer={org['linus'].pk}").status_code == 404
    assert client.get(f"/impact/?{OCTOBER_QUERY}&engineer={org['ada'].pk}").status_code == 200
    assert client.get(f"/impact/?{OCTOBER_QUERY}&team={org['payments'].pk}").status_code == 403


def test_a_manager_sees_their_chain_and_its_teams_but_not_other_teams(client, org):
    for person, usd in (("grace", "5"), ("ada", "10"), ("alan", "15"), ("linus", "20")):
        spend(org[person], usd)
    client.force_login(org["grace"].user)

    page = client.get(f"/impact/?{OCTOBER_QUERY}").context["page"]
    assert page.scope == "chain" and page.in_scope_people == 3 and page.flags == []
    assert [(r.team, r.cost_usd) for r in page.team_months] == [("Platform", Decimal("30.00"))]
    assert client.get(f"/impact/?{OCTOBER_QUERY}&team={org['platform'].pk}").status_code == 200
    assert client.get(f"/impact/?{OCTOBER_QUERY}&team={org['payments'].pk}").status_code == 403
    assert client.get(f"/impact/?{OCTOBER_QUERY}&engineer={org['linus'].pk}").status_code == 404


def test_finance_sees_everyone(client, org):
    spend(org["ada"], "10")
    spend(org["linus"], "20")
    user = UserFactory()
    user.groups.add(Group.objects.create(name="finance"))
    client.force_login(user)

    page = client.get(f"/impact/?{OCTOBER_QUERY}").context["page"]
    assert page.scope == "everyone" and page.in_scope_people == 2
    assert {r.team for r in page.team_months} == {"Platform", "Payments"}


def test_the_impact_page_is_for_logged_in_people_only(client):
    assert client.get("/impact/")["Location"].startswith("/accounts/login/")


# --- scatter privacy --------------------------------------------------------------------------


def test_the_scatter_names_others_under_pseudonyms_and_leaves_them_out_under_self_only(client, org, privacy):
    spend(org["ada"], "10")
    spend(org["linus"], "20")
    client.force_login(org["ada"].user)

    privacy.board_names = PrivacySettings.BoardNames.PSEUDONYMS
    privacy.save()
    html = client.get(f"/impact/?{OCTOBER_QUERY}").content.decode()
    assert "Linus Torvalds" not in html and pseudonym(org["linus"].pk) in html and "Ada Lovelace" in html
    assert "Payments" not in html  # a team beside a pseudonym would give the person away

    privacy.board_names = PrivacySettings.BoardNames.SELF_ONLY
    privacy.save()
    page = client.get(f"/impact/?{OCTOBER_QUERY}").context["page"]
    assert [p.name for p in page.points] == ["Ada Lovelace"]
    assert pseudonym(org["linus"].pk) not in client.get(f"/impact/?{OCTOBER_QUERY}").content.decode()

    privacy.board_names = PrivacySettings.BoardNames.NAMES
    privacy.save()
    assert "Linus Torvalds" in client.get(f"/impact/?{OCTOBER_QUERY}").content.decode()


def test_a_manager_sees_their_reports_by_name_even_under_pseudonyms(org, privacy):
    privacy.board_names = PrivacySettings.BoardNames.PSEUDONYMS
    spend(org["ada"], "10")
    spend(org["linus"], "20")
    page = page_for(org["grace"], privacy, scope_ids=frozenset({org["grace"].pk, org["ada"].pk, org["alan"].pk}))
    names = {p.name: p.in_scope for p in page.points}
    assert names == {"Ada Lovelace": True, pseudonym(org["linus"].pk): False}


def test_medians_and_quadrants_come_from_everyone_with_spend(org, privacy, batch):
    spend(org["ada"], "10")
    spend(org["alan"], "30")
    spend(org["linus"], "50")
    outcome(batch, org["ada"], "prs_merged", 5)
    outcome(batch, org["linus"], "prs_merged", 1)
    page = page_for(UserFactory(is_staff=True), privacy)
    assert (page.median_cost_usd, page.median_prs) == (Decimal("30.00"), 1.0)
    quadrants = {p.name: page.quadrant(p) for p in page.points}
    assert quadrants["Ada Lovelace"] == "low spend, many PRs"
    assert quadrants["Linus Torvalds"] == "high spend, few PRs"


# --- team by month ----------------------------------------------------------------------------


def test_team_months_give_cost_per_pr_tokens_per_line_and_the_ai_assisted_share(org, privacy, batch):
    spend(
        org["ada"],
        "60",
        day=date(2026, 10, 2),
        input_uncached_tokens=9000,
        cache_read_tokens=0,
        cache_write_tokens=0,
        output_tokens=1000,
    )
    # Ada used AI on the 2nd: her PR opened on the 1st and merged on the 3rd is AI-assisted.
    outcome(batch, org["ada"], "prs_merged", day=date(2026, 10, 3), window_start=date(2026, 10, 1))
    # Alan has no usage, but accepted AI edits on the 10th, inside his PR's window.
    outcome(batch, org["alan"], "ai_edits_accepted", 4, day=date(2026, 10, 10))
    outcome(batch, org["alan"], "prs_merged", day=date(2026, 10, 12), window_start=date(2026, 10, 9))
    # Alan's second PR was opened and merged after any AI use: not AI-assisted.
    outcome(batch, org["alan"], "prs_merged", day=date(2026, 10, 20), window_start=date(2026, 10, 15))
    outcome(batch, org["ada"], "ai_lines_added", 500, day=date(2026, 10, 2))

    (row,) = page_for(UserFactory(is_staff=True), privacy).team_months
    assert (row.month, row.team, row.prs_merged, row.ai_prs) == (date(2026, 10, 1), "Platform", 3, 2)
    assert row.cost_per_pr_usd == Decimal(20)
    assert row.tokens_per_line == 20  # 10,000 tokens over 500 accepted lines
    assert row.ai_share == pytest.approx(2 / 3)


# --- flags ------------------------------------------------------------------------------------


def kinds(page) -> set[tuple[str, str]]:
    return {(flag.kind, flag.name) for flag in page.flags}


def test_spend_with_no_output_for_n_days_is_flagged_and_a_commit_clears_it(org, privacy, batch, settings):
    settings.IMPACT_IDLE_DAYS, settings.IMPACT_IDLE_MIN_SPEND_USD = 7, 50.0
    spend(org["ada"], "80", day=date(2026, 10, 28))
    spend(org["alan"], "40", day=date(2026, 10, 28))  # under the threshold
    outcome(batch, org["linus"], "prs_merged", day=date(2026, 10, 2))  # outcome data is loaded
    grace = page_for(org["grace"], privacy, scope_ids=frozenset({org["ada"].pk, org["alan"].pk}), scope="chain")
    assert kinds(grace) == {("idle", "Ada Lovelace")}
    assert "$80.00 in the last 7 days" in grace.flags[0].evidence

    outcome(batch, org["ada"], "commits", 1, day=date(2026, 10, 30))
    assert page_for(org["grace"], privacy, scope_ids=frozenset({org["ada"].pk}), scope="chain").flags == []


def test_the_idle_flag_waits_for_outcome_data_and_ignores_output_before_the_window(org, privacy, batch, settings):
    settings.IMPACT_IDLE_DAYS, settings.IMPACT_IDLE_MIN_SPEND_USD = 7, 50.0
    spend(org["ada"], "80", day=date(2026, 10, 28))
    assert page_for(org["grace"], privacy, scope_ids=frozenset({org["ada"].pk})).flags == []
    outcome(batch, org["ada"], "prs_merged", day=date(2026, 10, 3))  # before the last 7 days
    assert kinds(page_for(org["grace"], privacy, scope_ids=frozenset({org["ada"].pk}))) == {("idle", "Ada Lovelace")}


def test_cache_reads_with_almost_no_output_are_flagged_only_past_the_thresholds(org, privacy, settings):
    settings.IMPACT_CACHE_READ_SHARE, settings.IMPACT_CACHE_MAX_OUTPUT_SHARE = 0.95, 0.005
    settings.IMPACT_CACHE_MIN_TOKENS = 1_000_000
    churn = dict(
        input_uncached_tokens=10_000, cache_read_tokens=1_985_000, cache_write_tokens=4_000, output_tokens=1_000
    )
    spend(org["ada"], "5", **churn, tokens=2_000_000)
    honest = dict(
        input_uncached_tokens=100_000, cache_read_tokens=1_850_000, cache_write_tokens=0, output_tokens=50_000
    )
    spend(org["alan"], "5", **honest, tokens=2_000_000)
    small = dict(input_uncached_tokens=100, cache_read_tokens=99_890, cache_write_tokens=0, output_tokens=10)
    spend(org["grace"], "5", **small, tokens=100_000)  # the same pattern on too few tokens
    page = page_for(UserFactory(is_staff=True), privacy)
    assert kinds(page) == {("cache", "Ada Lovelace")}
    assert "99.2% of 2,000,000 tokens were cache reads" in page.flags[0].evidence


def test_spend_parked_just_above_the_peer_average_is_flagged(org, privacy, settings):
    settings.IMPACT_PARKED_MARGIN, settings.IMPACT_PARKED_MIN_PEERS = 0.05, 4
    # average of 100, 100, 102, 98 is 100: Ada at 102 is +2%; Alan at 100 is not above.
    for person, usd in (("grace", "98"), ("ada", "102"), ("alan", "100"), ("linus", "100")):
        spend(org[person], usd)
    page = page_for(UserFactory(is_staff=True), privacy)
    assert kinds(page) == {("parked", "Ada Lovelace")}
    assert "+2.0%" in page.flags[0].evidence

    settings.IMPACT_PARKED_MIN_PEERS = 5  # too few people for an average to mean anything
    assert page_for(UserFactory(is_staff=True), privacy).flags == []


def test_flags_are_listed_for_managers_with_their_evidence(client, org, batch, settings):
    settings.IMPACT_IDLE_DAYS, settings.IMPACT_IDLE_MIN_SPEND_USD = 7, 50.0
    spend(org["ada"], "80", day=date(2026, 10, 28))
    outcome(batch, org["linus"], "prs_merged", day=date(2026, 10, 2))
    client.force_login(org["grace"].user)
    html = client.get(f"/impact/?{OCTOBER_QUERY}").content.decode()
    assert "Spend with no output" in html and "$80.00 in the last 7 days" in html
    client.force_login(org["ada"].user)
    assert "Spend with no output" not in client.get(f"/impact/?{OCTOBER_QUERY}").content.decode()


# --- empty states -----------------------------------------------------------------------------


def test_the_empty_page_says_what_to_do_next(client, privacy):
    client.force_login(UserFactory(is_staff=True))
    html = client.get(f"/impact/?{OCTOBER_QUERY}").content.decode()
    assert "No spend and no impact data" in html and "GitHub pull-request export" in html


def test_spend_without_impact_data_asks_for_the_pr_export(client, org):
    spend(org["ada"], "10")
    client.force_login(UserFactory(is_staff=True))
    html = client.get(f"/impact/?{OCTOBER_QUERY}").content.decode()
    assert "No merged PRs, commits or accepted lines" in html and "repo,number,author_login" in html


# --- efficiency ranking ------------------------------------------------------------------------


def test_the_efficiency_ranking_orders_by_prs_per_100_dollars_or_lines_per_dollar(client, org, batch):
    spend(org["ada"], "200")
    spend(org["alan"], "50")
    spend(org["linus"], "5")  # under the minimum spend: not ranked
    outcome(batch, org["ada"], "prs_merged", 4)  # 2 per $100
    outcome(batch, org["ada"], "ai_lines_added", 2000)  # 10 per $
    outcome(batch, org["alan"], "prs_merged", 2)  # 4 per $100
    outcome(batch, org["alan"], "ai_lines_added", 100)  # 2 per $
    client.force_login(UserFactory(is_staff=True))

    board = client.get(f"/efficiency/?{OCTOBER_QUERY}").context["board"]
    assert [(r.name, r.prs_per_100usd) for r in board.rows] == [("Alan Turing", 4), ("Ada Lovelace", 2)]
    board = client.get(f"/efficiency/?{OCTOBER_QUERY}&sort=lines_per_usd").context["board"]
    assert [(r.name, r.lines_per_usd) for r in board.rows] == [("Ada Lovelace", 10), ("Alan Turing", 2)]


def test_lines_nobody_reports_read_as_a_dash_and_rank_after_reported_zeros(client, org, batch):
    spend(org["ada"], "100")
    spend(org["alan"], "100")
    outcome(batch, org["alan"], "ai_lines_added", 0)  # reported: none accepted
    client.force_login(UserFactory(is_staff=True))

    page = client.get(f"/efficiency/?{OCTOBER_QUERY}&sort=lines_per_usd")

    rows = page.context["board"].rows
    assert [(r.name, r.accepted_lines) for r in rows] == [("Alan Turing", 0), ("Ada Lovelace", None)]
    assert 'title="Their tools report no accepted lines">—' in page.content.decode()


def test_the_efficiency_ranking_follows_the_privacy_setting(client, org, privacy):
    spend(org["ada"], "20")
    spend(org["linus"], "20")
    client.force_login(org["ada"].user)
    privacy.board_names = PrivacySettings.BoardNames.PSEUDONYMS
    privacy.save()
    names = [r.name for r in client.get(f"/efficiency/?{OCTOBER_QUERY}").context["board"].rows]
    assert sorted(names) == sorted(["Ada Lovelace", pseudonym(org["linus"].pk)])
    privacy.board_names = PrivacySettings.BoardNames.SELF_ONLY
    privacy.save()
    board = client.get(f"/efficiency/?{OCTOBER_QUERY}").context["board"]
    assert [r.name for r in board.rows] == ["Ada Lovelace"] and board.viewer_row.name == "Ada Lovelace"


def test_the_leaderboard_links_to_the_efficiency_ranking(client, org):
    client.force_login(org["ada"].user)
    assert (
        'href="/efficiency/?start=2026-10-01&amp;end=2026-11-01"' in client.get(f"/?{OCTOBER_QUERY}").content.decode()
    )
    assert 'href="/impact/"' in client.get(f"/?{OCTOBER_QUERY}").content.decode()


# --- a fixed number of queries --------------------------------------------------------------------


def bulk(count: int, *, first: int, team, batch) -> None:
    engineers = Engineer.objects.bulk_create(
        Engineer(email=f"bulk{i}@example.com", name=f"Bulk {i}", github_login=f"b{i}")
        for i in range(first, first + count)
    )
    DailyUsage.objects.bulk_create(
        DailyUsage(
            day=date(2026, 10, 3),
            engineer=e,
            team=team,
            vendor="openai",
            product="codex",
            model="gpt-5",
            input_uncached_tokens=100 * i,
            output_tokens=10,
            tokens=100 * i + 10,
            requests=1,
            cost_usd=Decimal(10 + i),
        )
        for i, e in enumerate(engineers, start=first + 1)
    )
    ImpactRecord.objects.bulk_create(
        ImpactRecord(
            batch=batch,
            dataset="bulk",
            dedup_key=f"b{e.pk}",
            day=date(2026, 10, 4),
            window_start=date(2026, 10, 1),
            source="github",
            identity_kind="github_login",
            identity_value=e.github_login,
            engineer=e,
            metric="prs_merged",
            value=1 + i % 3,
        )
        for i, e in enumerate(engineers)
    )


def test_the_impact_and_efficiency_pages_make_the_same_number_of_queries_at_10_and_500_engineers(
    client, org, batch, django_assert_num_queries
):
    grace = org["grace"]
    client.force_login(grace.user)
    bulk(10, first=0, team=org["platform"], batch=batch)
    # session, user, viewer (engineer, groups and chain), whether the chain is everyone (a count),
    # privacy, the period's board snapshot (none: summed live), then people and team months, each
    # computed and kept (usage.services.computed: the lookup, a savepoint here, the versions, the
    # query, the release, the store)
    with django_assert_num_queries(6 + 6 + 6):
        assert client.get(f"/impact/?{OCTOBER_QUERY}").status_code == 200
    # ... and read back while nothing changed: one lookup each
    with django_assert_num_queries(6 + 1 + 1):
        assert client.get(f"/impact/?{OCTOBER_QUERY}").status_code == 200
    # session, user, viewer, privacy, the period's board snapshot (none: summed live), the ranking
    with django_assert_num_queries(6):
        assert client.get(f"/efficiency/?{OCTOBER_QUERY}").status_code == 200

    bulk(490, first=10, team=org["platform"], batch=batch)
    with django_assert_num_queries(6 + 6 + 6):
        response = client.get(f"/impact/?{OCTOBER_QUERY}")
    assert response.context["page"].people == 500
    with django_assert_num_queries(6):
        assert client.get(f"/efficiency/?{OCTOBER_QUERY}").context["board"].people == 500
    # a team filter adds the team check, its name, its member list and the audit entry, and asks
    # no count (the team, not the chain, is the scope); both reads are kept (the team holds the
    # same people as Grace's chain here: the same scope)
    with django_assert_num_queries(9 + 1 + 1):
        assert client.get(f"/impact/?{OCTOBER_QUERY}&team={org['platform'].pk}").status_code == 200


def test_an_admin_outside_the_org_chart_can_narrow_the_page_to_one_engineer(client, org, batch):
    spend(org["ada"], "10")
    spend(org["linus"], "20")
    outcome(batch, org["ada"], "prs_merged", 2)
    client.force_login(UserFactory(is_staff=True))
    response = client.get(f"/impact/?{OCTOBER_QUERY}&engineer={org['ada'].pk}")
    page = response.context["page"]
    assert page.scope == "engineer" and page.in_scope_people == 1 and page.has_impact
    assert "not in the org chart" not in response.content.decode()


def test_a_team_row_narrows_the_page_to_that_team_and_a_new_period_keeps_the_team(client, org):
    spend(org["ada"], "10")
    client.force_login(org["grace"].user)
    team = org["platform"]

    html = client.get(f"/impact/?{OCTOBER_QUERY}").content.decode()
    query = OCTOBER_QUERY.replace("&", "&amp;")  # as written in HTML
    assert f'<a href="?team={team.pk}&amp;{query}" title="Only this team\'s members">Platform</a>' in html
    assert "Show everyone you may see" not in html

    html = client.get(f"/impact/?{OCTOBER_QUERY}&team={team.pk}").content.decode()
    assert "<strong>Platform</strong>: the team's members in the period you may see" in html
    assert f'<a href="/impact/?{query}">Show everyone you may see</a>' in html
    # Both period forms carry the team over; the team's own row no longer links to itself.
    assert html.count(f'<input type="hidden" name="team" value="{team.pk}">') == 2
    assert f'href="?team={team.pk}' not in html


def test_an_engineer_sees_team_names_without_links_and_an_unknown_team_is_not_found(client, org):
    spend(org["linus"], "20")
    client.force_login(org["linus"].user)
    html = client.get(f"/impact/?{OCTOBER_QUERY}").content.decode()
    assert "<td>Payments</td>" in html and "?team=" not in html

    client.force_login(UserFactory(is_staff=True))
    assert client.get(f"/impact/?{OCTOBER_QUERY}&team=999999").status_code == 404


def test_a_month_the_period_holds_only_part_of_is_labelled_with_its_days():
    from leaderboard.periods import Period
    from leaderboard.selectors.impact import _team_month

    row = {"team_key": 0, "team_name": "", "cost_usd": 0, "tokens": 0, "prs_merged": 0, "accepted_lines": 0}
    last_30_days = Period(date(2026, 10, 26), date(2026, 11, 25))
    october = _team_month({**row, "month": date(2026, 10, 1), "ai_prs": 0}, last_30_days)
    november = _team_month({**row, "month": date(2026, 11, 1), "ai_prs": 0}, last_30_days)
    assert (october.label, november.label) == ("Oct 26–31, 2026", "Nov 1–24, 2026")
    whole = _team_month({**row, "month": date(2026, 10, 1), "ai_prs": 0}, Period(date(2026, 10, 1), date(2026, 12, 1)))
    assert whole.label == "Oct 2026"


# --- a big company ------------------------------------------------------------------------------


def test_a_big_scope_draws_the_viewer_the_outliers_and_an_even_spread_within_the_limit():
    """At 50,000 people the scatter was 50,000 points (7 MB of HTML): past the limit it keeps
    the viewer, the costliest and those with the most merged PRs, and an even spread by spend."""
    from leaderboard.selectors.impact import ImpactPoint, _thinned

    def point(n, cost, prs, viewer=False):
        return ImpactPoint(n, f"P{n}", "T", Decimal(cost), prs, 0, True, viewer)

    points = [point(n, n % 1000, (n * 7) % 50) for n in range(5000)]
    points[1234] = point(1234, 1, 0, viewer=True)
    points[42] = point(42, 0, 10_000)  # the most PRs, almost no spend

    kept = _thinned(points, 200)

    assert len(kept) == 200
    ids = [p.engineer_id for p in kept]
    assert ids == sorted(ids)  # in the points' own order
    assert 1234 in ids and 42 in ids
    assert sum(p.cost_usd == 999 for p in kept) >= 5  # the costliest
    spread = sorted(p.cost_usd for p in kept)
    assert spread[0] == 0 and spread[len(spread) // 2] > 100  # the spread covers the whole range
    assert _thinned(points[:150], 200) == points[:150]


def test_the_team_table_and_the_flags_list_the_costliest_and_say_what_is_left_out(client, org, monkeypatch):
    monkeypatch.setattr("leaderboard.selectors.impact.TEAMS_PER_MONTH_SHOWN", 1)
    monkeypatch.setattr("leaderboard.views.impact.TEAMS_PER_MONTH_SHOWN", 1)
    spend(org["ada"], "30")
    spend(org["linus"], "20")
    spend(org["linus"], "5", day=date(2026, 9, 30))  # outside October
    client.force_login(UserFactory(is_staff=True))

    response = client.get(f"/impact/?{OCTOBER_QUERY}")

    page = response.context["page"]
    assert [(r.team, r.cost_usd) for r in page.team_months_shown] == [("Platform", Decimal("30.00"))]
    assert page.team_months_not_shown == (1, Decimal("20.00"))
    body = response.content.decode()
    assert "The 1 other team-months ($20.00 of spend) are left out" in body


def test_the_top_manager_sees_everyone_without_sending_their_chain(client, org):
    """With everyone in their chain, the top manager's page is everyone's, filtered by nothing
    (50,000 ids were sent back in the team-month query), and still says "your reporting chain"."""
    Engineer.objects.filter(pk=org["linus"].pk).update(manager=org["grace"])
    spend(org["ada"], "10")
    spend(org["linus"], "20")
    client.force_login(org["grace"].user)
    page = client.get(f"/impact/?{OCTOBER_QUERY}").context["page"]
    assert page.scope == "chain" and page.in_scope_people == 2
    assert {r.team for r in page.team_months} == {"Platform", "Payments"}
    assert all(p.in_scope for p in page.points)


def test_flags_past_the_limit_list_idle_spend_first_then_the_costliest(monkeypatch):
    from leaderboard.selectors.impact import Flag, ImpactPage

    monkeypatch.setattr("leaderboard.selectors.impact.FLAGS_SHOWN", 3)
    flags = [
        Flag("parked", "", 1, "A", "", "", Decimal(900)),
        Flag("cache", "", 2, "B", "", "", Decimal(10)),
        Flag("idle", "", 3, "C", "", "", Decimal(5)),
        Flag("cache", "", 4, "D", "", "", Decimal(50)),
    ]
    page = ImpactPage(OCTOBER, "everyone", [], None, None, [], flags, 4, 4, False)
    assert [f.name for f in page.flags_shown] == ["C", "D", "B"]


@pytest.mark.parametrize("write", ["outcome", "membership", "spend"])
def test_a_write_to_outcomes_memberships_or_spend_is_on_the_next_view_of_the_kept_page(client, org, batch, write):
    spend(org["ada"], "10")
    outcome(batch, org["ada"], "prs_merged", 2)
    client.force_login(org["grace"].user)

    def ada():
        page = client.get(f"/impact/?{OCTOBER_QUERY}").context["page"]
        (point,) = [p for p in page.points if p.engineer_id == org["ada"].pk]
        return point, page.team_months

    before = ada()
    assert ada() == before  # read back
    if write == "outcome":
        outcome(batch, org["ada"], "prs_merged", 3, day=date(2026, 10, 7))
    elif write == "membership":
        TeamMembership.objects.filter(engineer=org["ada"]).update(team=org["payments"])
    else:
        spend(org["ada"], "5", day=date(2026, 10, 8))
    after = ada()
    assert after != before
    ComputedCache.objects.all().delete()
    assert ada() == after


@pytest.mark.parametrize("names", ["names", "pseudonyms", "self_only"])
def test_the_page_picks_what_it_shows_as_the_per_person_lists_do(org, privacy, batch, settings, monkeypatch, names):
    """The page ranks, thins and counts over arrays and builds only what it shows: the same
    points, medians, flags and team months as the rules over plain lists of every person."""
    for name, value in (("POINTS_IN_SCOPE_SHOWN", 12), ("POINTS_OTHERS_SHOWN", 8), ("FLAGS_SHOWN", 5)):
        monkeypatch.setattr(f"leaderboard.selectors.impact.{name}", value)
    monkeypatch.setattr("leaderboard.selectors.impact.TEAMS_PER_MONTH_SHOWN", 1)
    settings.IMPACT_IDLE_DAYS, settings.IMPACT_IDLE_MIN_SPEND_USD = 7, 50.0
    settings.IMPACT_PARKED_MARGIN, settings.IMPACT_PARKED_MIN_PEERS = 2.0, 4
    settings.IMPACT_CACHE_MIN_TOKENS = 1_000_000
    bulk(60, first=0, team=org["platform"], batch=batch)  # $11 to $70 each, 1 to 3 merged PRs
    spend(org["ada"], "80", day=date(2026, 10, 28))  # idle: recent spend, no output
    churn = dict(input_uncached_tokens=0, cache_read_tokens=1_990_000, cache_write_tokens=0, output_tokens=10_000)
    # Output of exactly 0.5%: under the float threshold as the summed Decimals compare (0.005 is a
    # hair above 0.005 as a float), which a float quotient alone would miss.
    spend(org["alan"], "12", **churn, tokens=2_000_000)
    spend(org["linus"], "40", team=org["payments"])
    spend(org["grace"], "41.5")  # 64 people with spend: the median is the mean of the middle two
    privacy.board_names = names
    bulk_people = Engineer.objects.filter(name__regex=r"^Bulk [15]").values_list("pk", flat=True)
    chain = frozenset({org["grace"].pk, org["ada"].pk, org["alan"].pk, *bulk_people})

    for viewer, scope_ids in ((UserFactory(is_staff=True), None), (org["grace"], chain)):
        page = page_for(viewer, privacy, scope_ids=scope_ids, scope="chain")
        lists = dataclasses.replace(
            page, points=list(page.points), team_months=list(page.team_months), flags=list(page.flags)
        )
        assert len(page.points_shown) < len(page.points) and len(page.flags_shown) < len(page.flags)
        assert page.points_shown == lists.points_shown
        assert {f.kind for f in page.flags} == {"idle", "cache", "parked"}
        assert page.flags_shown == lists.flags_shown
        shown = (page.team_months_shown, page.team_months_not_shown)
        assert shown == (lists.team_months_shown, lists.team_months_not_shown)

    everyone = page_for(UserFactory(is_staff=True), privacy).points
    spenders = [p for p in everyone if p.cost_usd > 0]
    page = page_for(UserFactory(is_staff=True), privacy)
    assert page.median_cost_usd == statistics.median(p.cost_usd for p in spenders)
    assert page.median_prs == float(statistics.median(p.prs_merged for p in spenders))
