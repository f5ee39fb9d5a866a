import random
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from leaderboard.access import viewer_for
from leaderboard.models import BoardEntry, BoardSnapshot, PrivacySettings, WeeklyRanking
from leaderboard.periods import preset_period
from leaderboard.selectors.board import board_snapshot, leaderboard_page
from leaderboard.selectors.people import engineer_weekly_ranks
from leaderboard.services import REFRESH_LOCK, RefreshBusy, board_snapshots_refresh
from tests.factories import DailyUsageFactory, EngineerFactory, TeamFactory
from tests.leaderboard.test_board import OCTOBER_QUERY, bulk_engineers
from tests.usage.test_ingest import ingest, result, usage_report  # noqa: F401 - fixture
from usage.models import DailyUsage, VendorIdentity

pytestmark = pytest.mark.django_db

TODAY = date(2026, 10, 20)  # its "this month" preset is October, "last month" September
OCTOBER = preset_period("month", TODAY)  # running: compared with Sep 1-20
AFTER_OCTOBER = date(2026, 11, 20)  # October is done: compared with the 30 days before
WHOLE_OCTOBER = preset_period("last_month", AFTER_OCTOBER)
MODELS = ["claude-sonnet-4-5", "claude-haiku-4-5", "gpt-5", "claude-opus-4-1"]
PRODUCTS = ["api", "claude_code", "codex", "cursor"]


@pytest.fixture
def privacy():
    return PrivacySettings.objects.create(pk=1)


@pytest.fixture
def company():
    """30 engineers on three teams with uneven usage in September and October, ties included."""
    rng = random.Random(7)
    teams = [TeamFactory(name=f"Team {n}") for n in range(3)]
    people = [EngineerFactory(name=f"Person {n:02}", team=teams[n % 3]) for n in range(30)]
    for n, person in enumerate(people):
        for _ in range(rng.randint(1, 6)):
            day = date(2026, 9, 1) + timedelta(days=rng.randint(0, 59))
            output = rng.choice([0, 50, 500, 5000])
            DailyUsageFactory(
                engineer=person,
                team=teams[(n + day.day) % 3],
                day=day,
                model=rng.choice(MODELS),
                product=rng.choice(PRODUCTS),
                input_uncached_tokens=rng.randint(0, 9) * 1000,
                cache_read_tokens=rng.choice([0, 1000, 90_000]),
                output_tokens=output,
                cost_usd=Decimal(rng.choice(["0", "1.50", "1.50", "7.25", "30"])),
            )
    DailyUsageFactory(engineer=None, day=date(2026, 10, 9), cost_usd=Decimal("4.20"))  # unmapped
    return people


def boards(viewer, privacy, **options) -> tuple:
    """The same board ranked live and read from the period's snapshot."""
    options = {"viewer": viewer_for(viewer.user), "privacy": privacy, "period": OCTOBER, **options}
    snapshot = board_snapshot(period=OCTOBER)
    assert snapshot is not None
    return leaderboard_page(**options), leaderboard_page(snapshot=snapshot, **options)


@pytest.mark.parametrize("names", ["names", "pseudonyms", "self_only"])
@pytest.mark.parametrize("metric", ["spend", "tokens", "tokens_per_usd"])
def test_a_board_read_from_its_snapshot_equals_the_board_ranked_live(company, privacy, metric, names):
    privacy.board_names = names
    board_snapshots_refresh(today=TODAY)
    viewer = company[17]
    for page in (1, 2, 5, 99):
        live, stored = boards(viewer, privacy, metric=metric, page=page, per_page=7)
        assert stored == live
    live, stored = boards(viewer, privacy, metric=metric, everyone=True)
    assert stored == live
    assert live.people > 20 and live.unmapped_cost_usd == Decimal("4.20")


def test_filtered_boards_rank_live_even_with_a_snapshot(company, privacy):
    board_snapshots_refresh(today=TODAY)
    viewer = viewer_for(company[0].user)
    snapshot = board_snapshot(period=OCTOBER)
    options = {"viewer": viewer, "privacy": privacy, "period": OCTOBER, "metric": "spend", "product": "codex"}
    assert leaderboard_page(snapshot=snapshot, **options) == leaderboard_page(**options)
    assert 0 < leaderboard_page(**options).people < board_snapshot(period=OCTOBER).people


def test_any_write_to_the_rollup_makes_the_snapshot_stale_until_the_next_refresh(company, privacy):
    board_snapshots_refresh(today=TODAY)
    assert board_snapshot(period=OCTOBER) is not None
    DailyUsageFactory(engineer=company[3], day=date(2026, 10, 2), cost_usd=Decimal("1000"))

    assert board_snapshot(period=OCTOBER) is None  # pages rank live meanwhile
    live = leaderboard_page(viewer=viewer_for(company[0].user), privacy=privacy, period=OCTOBER, metric="spend")
    assert live.rows[0].name == "Person 03"

    board_snapshots_refresh(today=TODAY)
    _, stored = boards(company[0], privacy, metric="spend")
    assert stored.rows[0].name == "Person 03" and stored == live


def test_a_stale_snapshot_is_served_within_the_accepted_staleness(company, privacy, settings, client):
    board_snapshots_refresh(today=AFTER_OCTOBER)  # the page below asks on the real day, after October
    DailyUsage.objects.filter(engineer=company[0]).delete()
    settings.LEADERBOARD_SNAPSHOT_MAX_STALE_SECONDS = 600
    assert board_snapshot(period=WHOLE_OCTOBER) is not None
    client.force_login(company[0].user)
    assert "Ranks as of" in client.get("/?start=2026-10-01&end=2026-11-01").content.decode()
    BoardSnapshot.objects.update(built_at=timezone.now() - timedelta(hours=1))
    assert board_snapshot(period=WHOLE_OCTOBER) is None


def test_a_running_months_snapshot_compares_its_days_so_far_and_is_rebuilt_on_a_new_day(company):
    board_snapshots_refresh(today=TODAY)
    assert board_snapshot(period=preset_period("month", TODAY)) is not None
    assert (OCTOBER.previous.start, OCTOBER.previous.end) == (date(2026, 9, 1), date(2026, 9, 21))
    # The next day compares one more day: that snapshot answers for the 20th only, and is rebuilt.
    tomorrow = TODAY + timedelta(days=1)
    assert board_snapshot(period=preset_period("month", tomorrow)) is None
    assert OCTOBER.start in {p.start for p in board_snapshots_refresh(today=tomorrow).periods}
    assert board_snapshot(period=preset_period("month", tomorrow)) is not None


def test_refreshing_twice_rebuilds_nothing_the_second_time(company):
    first = board_snapshots_refresh(today=TODAY)
    entries = sorted(BoardEntry.objects.values_list("snapshot__start", "engineer_id", "rank_spend", "cost_usd"))
    second = board_snapshots_refresh(today=TODAY)

    assert {(p.start, p.end) for p in first.periods} == {(s.start, s.end) for s in BoardSnapshot.objects.all()}
    assert len(first.weeks) == 12 and WeeklyRanking.objects.count() == 12
    assert second.periods == [] and second.weeks == []
    assert sorted(BoardEntry.objects.values_list("snapshot__start", "engineer_id", "rank_spend", "cost_usd")) == entries


def test_a_refresh_rebuilds_only_the_periods_and_weeks_whose_days_changed(company):
    board_snapshots_refresh(today=TODAY)
    DailyUsageFactory(engineer=company[3], day=date(2026, 10, 19), cost_usd=Decimal("1000"))
    again = board_snapshots_refresh(today=TODAY)
    # Not last month (September, compared with August); not the weeks before the one of Oct 19.
    assert {(p.start, p.end) for p in again.periods} == {
        (p.start, p.end) for p in (preset_period(name, TODAY) for name in ("7d", "30d", "month", "quarter"))
    }
    assert again.weeks == [date(2026, 10, 19)]
    # Every snapshot is current again, rebuilt or not: pages read them.
    assert board_snapshot(period=preset_period("last_month", TODAY)) is not None
    assert board_snapshot(period=OCTOBER) is not None
    assert board_snapshots_refresh(today=TODAY).periods == []


def test_a_change_to_a_previous_period_rebuilds_the_boards_that_compare_with_it(company):
    board_snapshots_refresh(today=TODAY)
    DailyUsage.objects.filter(day=date(2026, 9, 10)).delete()
    again = {p.start for p in board_snapshots_refresh(today=TODAY).periods}
    assert {date(2026, 9, 1), OCTOBER.start} <= again  # last month itself; this month compares with Sep 1-20
    assert preset_period("7d", TODAY).start not in again


@pytest.mark.django_db(transaction=True)  # each refresh its own transaction, as in a worker
def test_a_write_committed_after_a_refresh_began_is_rebuilt_by_the_next(company, other_connection):
    """The refresh deletes only the change rows its snapshot saw: an import committing while it
    runs leaves its row for the next refresh, which then rebuilds what it changed."""
    board_snapshots_refresh(today=TODAY)
    with other_connection.transaction():  # another worker's import, committed after the refresh began
        other_connection.execute(
            "INSERT INTO usage_dailyusage (day, engineer_id, team_id, vendor, product, model, input_uncached_tokens,"
            " cache_read_tokens, cache_write_tokens, output_tokens, tokens, requests, cost_usd, unpriced_tokens)"
            " VALUES ('2026-10-19', NULL, NULL, 'openai', 'api', 'gpt-5', 1, 0, 0, 0, 1, 1, 0.5, 0)"
        )
        assert board_snapshots_refresh(today=TODAY).periods == []  # not visible yet
    assert OCTOBER.start in {p.start for p in board_snapshots_refresh(today=TODAY).periods}
    assert board_snapshot(period=OCTOBER).unmapped_cost_usd == Decimal("4.70")


def test_snapshots_of_periods_that_are_no_longer_presets_are_dropped(company):
    board_snapshots_refresh(today=TODAY)
    board_snapshots_refresh(today=date(2026, 12, 15))
    periods = set(BoardSnapshot.objects.values_list("start", "end"))
    assert (OCTOBER.start, OCTOBER.end) not in periods and (date(2026, 12, 1), date(2027, 1, 1)) in periods
    assert not BoardEntry.objects.filter(snapshot__start=OCTOBER.start, snapshot__end=OCTOBER.end).exists()
    assert min(WeeklyRanking.objects.values_list("week", flat=True)) > date(2026, 9, 20)


def test_a_second_refresh_while_one_runs_says_it_is_busy(company, other_connection):
    other_connection.execute("SELECT pg_advisory_lock(%s)", [REFRESH_LOCK])
    with pytest.raises(RefreshBusy):
        board_snapshots_refresh(today=TODAY)


def test_weekly_ranks_read_ahead_equal_the_ranks_computed_live(company):
    until = date(2026, 10, 20)
    live = [engineer_weekly_ranks(engineer_id=p.pk, until=until) for p in company[:10]]
    board_snapshots_refresh(today=TODAY)
    stored = [engineer_weekly_ranks(engineer_id=p.pk, until=until) for p in company[:10]]
    assert stored == live
    assert any(point.rank for points in stored for point in points)


def test_weekly_ranks_fall_back_to_live_when_a_week_was_not_computed(company, django_assert_num_queries):
    board_snapshots_refresh(today=TODAY)
    with django_assert_num_queries(1):
        engineer_weekly_ranks(engineer_id=company[0].pk, until=TODAY)
    with django_assert_num_queries(2):  # the 12 weeks ending in August were never computed ahead
        points = engineer_weekly_ranks(engineer_id=company[0].pk, until=date(2026, 8, 20))
    assert [p.week for p in points][-1] == date(2026, 8, 17)


def test_an_import_rebuilds_the_snapshots_once_it_commits(ingest, privacy):  # noqa: F811
    ada = EngineerFactory(email="ada@example.com", name="Ada")
    VendorIdentity.objects.create(vendor="anthropic", kind="api_key_id", external_id="apikey_1", engineer=ada)
    today = date.today()
    batch = ingest(usage_report((today.isoformat(), [result(output=1000)])))
    assert batch.status == "done"

    this_month = preset_period("month", today)
    snapshot = board_snapshot(period=this_month)
    assert snapshot is not None and snapshot.people == 1
    board = leaderboard_page(viewer=viewer_for(ada.user), privacy=privacy, period=this_month, metric="tokens")
    assert board == replace(
        leaderboard_page(
            viewer=viewer_for(ada.user), privacy=privacy, period=this_month, metric="tokens", snapshot=snapshot
        )
    )
    assert board.rows[0].tokens == 1_001_000


def test_the_board_read_from_a_snapshot_makes_the_same_queries_at_10_and_1000_engineers(
    client, privacy, django_assert_num_queries
):
    me = EngineerFactory(name="Counter", team=TeamFactory())
    client.force_login(me.user)
    bulk_engineers(10)
    board_snapshots_refresh(today=AFTER_OCTOBER)  # the page asks on the real day, after October
    # session, user, viewer, privacy, the snapshot, the team tree, one page of the snapshot
    with django_assert_num_queries(7):
        response = client.get(f"/?{OCTOBER_QUERY}")
    assert response.context["snapshot"] is not None and response.context["board"].people == 10
    assert "Ranks as of" not in response.content.decode()  # current: no note

    bulk_engineers(990, first=10)
    board_snapshots_refresh(today=AFTER_OCTOBER)
    for query in ("", "&sort=tokens&page=3", "&sort=tokens_per_usd&page=20"):
        with django_assert_num_queries(7):
            response = client.get(f"/?{OCTOBER_QUERY}{query}")
        assert response.context["snapshot"] is not None and response.context["board"].people == 1000
    # The team tab ranks the snapshot's team entries (the same queries as the people tab), and
    # no query reads the rollup.
    for query in ("&tab=teams", "&tab=teams&sort=tokens&page=2"):
        with django_assert_num_queries(7) as captured:
            response = client.get(f"/?{OCTOBER_QUERY}{query}")
        assert response.context["board"].rows
        assert not any("usage_dailyusage" in q["sql"] for q in captured.captured_queries)


def test_a_refresh_leaves_the_planner_statistics_that_count_its_new_snapshots(company):
    from django.db import connection

    def estimated_entries(snapshot_id: int) -> float:
        with connection.cursor() as cursor:
            cursor.execute(
                "EXPLAIN (FORMAT JSON) SELECT * FROM leaderboard_boardentry WHERE snapshot_id = %s", [snapshot_id]
            )
            return cursor.fetchone()[0][0]["Plan"]["Plan Rows"]

    board_snapshots_refresh(today=TODAY)
    DailyUsageFactory(engineer=company[0], day=TODAY, cost_usd=Decimal("3"))
    board_snapshots_refresh(today=TODAY)  # new snapshots: ids past what any earlier statistics saw
    newest = BoardSnapshot.objects.latest("pk")
    # Unanalysed, a new id reads as one row, and the page scans the whole snapshot for its page.
    assert estimated_entries(newest.pk) >= newest.entries.count() / 2 > 1
