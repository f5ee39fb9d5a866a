"""The team board, the team page and the efficiency ranking were rewritten for speed at 50,000
engineers. The statements they replaced are kept here, as first written, and the new ones must
return exactly what they did on random data: teams in a tree, people moving between teams and
working with no team, unmapped usage, repeated costs (ties), outcomes with and without lines."""

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F, Sum
from django.test.utils import CaptureQueriesContext

from leaderboard.access import viewer_for
from leaderboard.models import PrivacySettings
from leaderboard.periods import Period
from leaderboard.selectors import efficiency, teams
from leaderboard.selectors.board import _params, board_snapshot, team_board_page
from leaderboard.selectors.board_sql import METRIC_SQL, TEAMS_SQL
from leaderboard.selectors.people import MAX_DEPTH
from leaderboard.services import board_snapshots_refresh
from tests.factories import EngineerFactory, TeamFactory
from usage.models import DailyUsage, Engineer, ImpactRecord, ImportBatch

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 20)
PERIODS = [
    Period(date(2026, 10, 1), date(2026, 11, 1), "last_month"),  # a preset: snapshots exist for it
    Period(date(2026, 10, 10), date(2026, 10, 24)),
    Period(date(2026, 12, 1), date(2026, 12, 8)),  # nobody
]

# The team filter before the team's subtree was a constant (board_sql.SCOPE_FILTER then).
SCOPE_FILTER = """
    (%(vendor)s = '' OR d.vendor = %(vendor)s)
    AND (%(product)s = '' OR d.product = %(product)s)
    AND (%(team_id)s::bigint IS NULL OR d.team_id IN (SELECT id FROM scope))
"""
SCOPE_CTE = """
scope(id) AS (
    SELECT id FROM usage_team WHERE id = %(team_id)s
    UNION
    SELECT t.id FROM usage_team t JOIN scope s ON t.parent_id = s.id
)
"""

# The team board before the snapshot (board_sql.TEAMS_SQL then).
OLD_TEAMS_SQL = f"""
WITH RECURSIVE {SCOPE_CTE},
members AS (
    SELECT d.team_id, d.engineer_id,
           sum(d.tokens) FILTER (WHERE d.day >= %(start)s) AS tokens,
           sum(d.cost_usd) FILTER (WHERE d.day >= %(start)s) AS cost_usd,
           sum(d.tokens) FILTER (WHERE d.day < %(prev_end)s) AS prev_tokens,
           sum(d.cost_usd) FILTER (WHERE d.day < %(prev_end)s) AS prev_cost_usd
    FROM usage_dailyusage d
    WHERE d.day >= %(prev_start)s AND d.day < %(end)s AND d.engineer_id IS NOT NULL AND {SCOPE_FILTER}
    GROUP BY d.team_id, d.engineer_id
),
scored AS (
    SELECT team_id, members, tokens, cost_usd,
           {METRIC_SQL.format(t="")} AS value,
           {METRIC_SQL.format(t="prev_")} AS prev_value
    FROM (
        SELECT team_id, count(tokens) AS members, sum(tokens) AS tokens, sum(cost_usd) AS cost_usd,
               sum(prev_tokens) AS prev_tokens, sum(prev_cost_usd) AS prev_cost_usd
        FROM members GROUP BY team_id
        HAVING count(tokens) > 0
    ) per_team
),
visible AS (
    SELECT s.*,
           row_number() OVER (ORDER BY value DESC NULLS LAST, team_id NULLS LAST) AS position,
           count(*) OVER () AS teams
    FROM scored s WHERE members >= %(min_members)s
),
picked AS (
    SELECT v.*, t.name, parent.name AS parent_name,
           least(%(page)s, greatest(1, ceil(v.teams / %(per_page)s::numeric))) AS page
    FROM visible v
    LEFT JOIN usage_team t ON t.id = v.team_id
    LEFT JOIN usage_team parent ON parent.id = t.parent_id
),
hidden AS (
    SELECT count(*) AS hidden_teams FROM scored WHERE members < %(min_members)s
)
SELECT h.hidden_teams, p.*
FROM hidden h
LEFT JOIN picked p ON p.position BETWEEN (p.page - 1) * %(per_page)s + 1 AND p.page * %(per_page)s
ORDER BY p.position
"""

# The team page's usage before (teams.TEAM_USAGE_SQL then) and its members query (an ORM
# query then, below): the day rows' distinct counts were never read.
OLD_TEAM_USAGE_SQL = (
    teams.SUBTREE_CTE
    + """
SELECT u.day, s.branch, SUM(u.tokens), SUM(u.cost_usd), COUNT(DISTINCT u.engineer_id)
FROM usage_dailyusage u
JOIN subtree s ON s.id = u.team_id
WHERE u.day >= %(start)s AND u.day < %(end)s
GROUP BY GROUPING SETS ((u.day, s.branch), (s.branch), ())
"""
)

# The efficiency ranking before (efficiency.EFFICIENCY_SQL then): everyone ranked by a window.
OLD_ORDER = {
    "prs_per_100usd": "prs_per_100usd DESC, lines_per_usd DESC NULLS LAST, cost_usd, engineer_id",
    "lines_per_usd": "lines_per_usd DESC NULLS LAST, prs_per_100usd DESC, cost_usd, engineer_id",
}
OLD_EFFICIENCY_SQL = """
WITH spend AS (
    SELECT engineer_id, sum(cost_usd) AS cost_usd, sum(tokens) AS tokens
    FROM usage_dailyusage
    WHERE day >= %(start)s AND day < %(end)s AND engineer_id IS NOT NULL
    GROUP BY engineer_id
    HAVING sum(cost_usd) >= %(min_spend)s
), outcome AS (
    SELECT engineer_id, sum(value) FILTER (WHERE metric = 'prs_merged') AS prs_merged,
           sum(value) FILTER (WHERE metric = 'ai_lines_added') AS accepted_lines
    FROM usage_impactrecord
    WHERE day >= %(start)s AND day < %(end)s AND engineer_id IS NOT NULL
    GROUP BY engineer_id
), rated AS (
    SELECT s.engineer_id, s.cost_usd, s.tokens, COALESCE(o.prs_merged, 0) AS prs_merged,
           o.accepted_lines,
           COALESCE(o.prs_merged, 0) * 100 / s.cost_usd AS prs_per_100usd,
           o.accepted_lines / s.cost_usd AS lines_per_usd
    FROM spend s LEFT JOIN outcome o ON o.engineer_id = s.engineer_id
), ranked AS (
    SELECT *, row_number() OVER (ORDER BY {order}) AS position, count(*) OVER () AS people FROM rated
)
SELECT r.*, e.name, t.name AS team_name
FROM ranked r
JOIN usage_engineer e ON e.id = r.engineer_id
LEFT JOIN usage_teammembership m
       ON m.engineer_id = e.id AND m.valid_from <= %(as_of)s AND (m.valid_to IS NULL OR m.valid_to > %(as_of)s)
LEFT JOIN usage_team t ON t.id = m.team_id
WHERE r.position <= %(limit)s OR r.engineer_id = %(viewer)s
ORDER BY r.position
"""


def random_company(seed: int) -> tuple[list, list]:
    """A root, three sub-teams and a team under each; 40 people (some named alike) whose rows go
    to a random team of the tree or to none, in September to November; some unmapped usage;
    merged PRs and accepted lines for some of them."""
    rng = random.Random(seed)
    root = TeamFactory(name="Root")
    tree = [root]
    for n in range(3):
        child = TeamFactory(name=f"Child {n}", parent=root)
        tree += [child, TeamFactory(name=f"Leaf {n}", parent=child)]
    people = [EngineerFactory(name=f"P{n % 25:02}", team=rng.choice(tree)) for n in range(40)]
    rows = []
    for n in range(900):
        day = date(2026, 9, 1) + timedelta(days=rng.randint(0, 88))
        person = None if rng.random() < 0.05 else rng.choice(people)
        tokens = rng.choice([0, 1000, 1000, 25_000, 400_000])
        rows.append(
            DailyUsage(
                day=day,
                engineer=person,
                team=None if rng.random() < 0.08 else rng.choice(tree),
                vendor=rng.choice(["anthropic", "openai"]),
                product=rng.choice(["api", "claude_code", "codex"]),
                model=f"model-{n}",  # unique key: (day, engineer, vendor, product, model)
                input_uncached_tokens=tokens,
                cache_read_tokens=0,
                cache_write_tokens=0,
                output_tokens=0,
                tokens=tokens,
                requests=1,
                cost_usd=Decimal(rng.choice(["0", "0.0000000003", "1.5", "1.5", "7.25", "12.3456789012", "40"])),
            )
        )
    DailyUsage.objects.bulk_create(rows)
    batch = ImportBatch.objects.create(filename="x.csv", size_bytes=0, sha256="0" * 64, raw_file="x.csv")
    ImpactRecord.objects.bulk_create(
        ImpactRecord(
            batch=batch,
            dataset="t",
            dedup_key=f"{n}",
            day=date(2026, 9, 1) + timedelta(days=rng.randint(0, 88)),
            source="github",
            identity_kind="github_login",
            identity_value=f"x{n}",
            engineer=rng.choice(people),
            metric=rng.choice(["prs_merged", "prs_merged", "ai_lines_added"]),
            value=rng.choice([0, 1, 2, 2, 300]),
        )
        for n in range(120)
    )
    return tree, people


def fetch(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@pytest.mark.parametrize("seed", range(3))
def test_the_team_board_ranked_live_and_from_its_snapshot_equals_the_old_query(seed):
    tree, people = random_company(seed)
    everyone = _params(PERIODS[0], "spend", None, "", "", 1, 100) | {"min_members": 0}
    sizes = sorted(row[2] for row in fetch(TEAMS_SQL, everyone))  # hidden_teams, team_id, members
    k = sizes[len(sizes) // 2]  # half the teams are too small for someone who manages nobody
    privacy = PrivacySettings.objects.create(pk=1, min_team_size=k)
    for period in PERIODS:
        for metric in ("spend", "tokens", "tokens_per_usd"):
            for team_id, vendor in ((None, ""), (tree[0].pk, ""), (tree[1].pk, ""), (None, "openai")):
                for min_members, page in ((0, 1), (k, 1), (0, 2), (k, 9)):
                    params = _params(period, metric, team_id, vendor, "", page, 4)
                    params |= {"min_members": min_members, "team_id": team_id}
                    assert fetch(TEAMS_SQL, params) == fetch(OLD_TEAMS_SQL, params)
    # From the snapshot: the whole page, for a manager (every team) and a member (k = 3).
    live = {}
    manager, member = people[0].user, people[1].user
    people[2].manager = people[0]
    people[2].save()
    period = PERIODS[0]
    options = [(who, metric, page) for who in (manager, member) for metric in ("spend", "tokens") for page in (1, 3)]
    for who, metric, page in options:
        viewer = viewer_for(who)
        live[who.pk, metric, page] = team_board_page(
            viewer=viewer, privacy=privacy, period=period, metric=metric, page=page, per_page=3
        )
    board_snapshots_refresh(today=TODAY)
    snapshot = board_snapshot(period=period)
    assert snapshot is not None and snapshot.team_entries.exists()
    for who, metric, page in options:
        stored = team_board_page(
            viewer=viewer_for(who), privacy=privacy, period=period, metric=metric, page=page, per_page=3
        )
        assert stored == live[who.pk, metric, page]
    assert live[member.pk, "spend", 1].hidden_teams > 0
    assert live[manager.pk, "spend", 1].teams == len(sizes)


def old_team_members(team_ids: tuple[int, ...], period: Period) -> list[tuple]:
    in_teams = DailyUsage.objects.in_period(period.start, period.end).filter(team_id__in=team_ids)
    top = (
        in_teams.values("engineer_id", name=F("engineer__name"))
        .annotate(tokens=Sum("tokens"), cost_usd=Sum("cost_usd"))
        .order_by("-cost_usd", "name", "engineer_id")[: teams.MEMBER_LIMIT]
    )
    return [(row["engineer_id"], row["name"], row["tokens"], row["cost_usd"]) for row in top]


@pytest.mark.parametrize("seed", range(3))
def test_the_team_pages_usage_and_members_equal_the_old_queries(seed, monkeypatch):
    tree, _ = random_company(seed)
    monkeypatch.setattr(teams, "MEMBER_LIMIT", 7)  # fewer than the people: the cut is tested
    for team in tree[:3]:
        for period in PERIODS:
            params = {"team": team.pk, "max_depth": MAX_DEPTH, "start": period.start, "end": period.end}
            team_ids = tuple(row[0] for row in fetch(teams.TEAM_TREE_SQL, params))
            old = fetch(OLD_TEAM_USAGE_SQL, params)
            new = fetch(teams.TEAM_USAGE_SQL, params | {"member_limit": teams.MEMBER_LIMIT})
            day_rows = sorted((day, branch, tokens, cost) for day, branch, tokens, cost, _ in old if day is not None)
            totals = {branch: (tokens, cost, people) for day, branch, tokens, cost, people in old if day is None}
            new_days = sorted(
                (day, branch, tokens, cost) for kind, day, branch, _, _, tokens, cost, _ in new if kind == "day"
            )
            new_totals = {branch: (tokens, cost, people) for kind, _, branch, _, _, tokens, cost, people in new
                          if kind in ("branch", "total")}  # fmt: skip
            members = [(engineer, name, tokens, cost) for kind, _, _, engineer, name, tokens, cost, _ in new
                       if kind == "member"]  # fmt: skip
            assert new_days == day_rows
            assert new_totals == totals
            assert members == old_team_members(team_ids, period)
            if period == PERIODS[0] and team == tree[0]:
                assert len(members) == 7 and len(totals) == 5  # the cut; own, three sub-teams, total


@pytest.mark.parametrize("seed", range(3))
def test_the_efficiency_ranking_live_and_from_the_snapshot_equals_the_old_query(seed):
    _, people = random_company(seed)
    board_snapshots_refresh(today=TODAY)
    for period in PERIODS:
        snapshot = board_snapshot(period=period)
        assert (snapshot is not None) == (period.preset == "last_month")
        for metric in efficiency.METRICS:
            for min_spend, limit in ((Decimal("10.0"), 5), (Decimal("0.0000000001"), 100), (Decimal("7.25"), 1)):
                for viewer in (None, people[3].pk, people[11].pk, people[30].pk):
                    params = {
                        "start": period.start,
                        "end": period.end,
                        "as_of": period.end - timedelta(days=1),
                        "min_spend": min_spend,
                        "limit": limit,
                        "viewer": viewer,
                        "snapshot": snapshot.pk if snapshot else None,
                    }
                    old = fetch(OLD_EFFICIENCY_SQL.format(order=OLD_ORDER[metric]), params)
                    old = [(e, c, t, p, lines, r1, r2, pos, people_, name, team)
                           for e, c, t, p, lines, r1, r2, pos, people_, name, team in old]  # fmt: skip
                    for spend in (efficiency.LIVE_SPEND_SQL, efficiency.SNAPSHOT_SPEND_SQL if snapshot else None):
                        if spend:
                            sql = efficiency.EFFICIENCY_SQL.format(spend=spend, sort_key=efficiency.SORT_KEY[metric])
                            assert fetch(sql, params) == old
        assert Engineer.objects.count() == 40


def test_the_efficiency_page_of_a_preset_period_reads_spend_from_the_snapshot_and_shows_the_same(client):
    _, people = random_company(0)
    client.force_login(people[0].user)
    PrivacySettings.objects.create(pk=1)
    live = client.get("/efficiency/?start=2026-10-01&end=2026-11-01").context["board"]  # no snapshot yet
    board_snapshots_refresh(today=TODAY)  # its last month is October
    with CaptureQueriesContext(connection) as captured:
        stored = client.get("/efficiency/?start=2026-10-01&end=2026-11-01").context["board"]
    assert not any("usage_dailyusage" in q["sql"] for q in captured.captured_queries)
    assert stored == live and stored.people > 10


def test_the_impact_page_of_a_preset_period_reads_spend_from_the_snapshot_and_shows_the_same(client):
    """/impact/ sums only the period's last days live when the period's snapshot holds the rest."""
    from django.contrib.auth.models import Group

    from tests.factories import UserFactory

    random_company(1)
    finance = UserFactory()
    finance.groups.add(Group.objects.get_or_create(name="finance")[0])
    client.force_login(finance)
    PrivacySettings.objects.create(pk=1)
    url = "/impact/?start=2026-10-01&end=2026-11-01"
    live = client.get(url).context["page"]  # no snapshot yet
    board_snapshots_refresh(today=TODAY)  # its last month is October
    with CaptureQueriesContext(connection) as captured:
        stored = client.get(url).context["page"]
    assert any("leaderboard_boardentry" in q["sql"] for q in captured.captured_queries)
    assert stored.points == live.points and stored.flags == live.flags and stored.people > 10
    assert (stored.median_cost_usd, stored.median_prs) == (live.median_cost_usd, live.median_prs)
    assert stored.team_months == live.team_months
