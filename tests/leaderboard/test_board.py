import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction

from leaderboard.access import pseudonym, viewer_for
from leaderboard.models import AuditEntry, PrivacySettings
from leaderboard.periods import Period
from leaderboard.selectors.board import leaderboard_page, team_board_page
from tests.factories import DailyUsageFactory, EngineerFactory, TeamFactory, UserFactory
from usage.models import DailyUsage, Engineer, Team

OCTOBER = Period(date(2026, 10, 1), date(2026, 11, 1))
OCTOBER_QUERY = "start=2026-10-01&end=2026-11-01"

pytestmark = pytest.mark.django_db


@pytest.fixture
def privacy():
    """The settings row exists up front, so query counts do not include its creation."""
    return PrivacySettings.objects.create(pk=1)


def spend(engineer, usd, *, day=date(2026, 10, 5), **fields):
    return DailyUsageFactory(engineer=engineer, day=day, cost_usd=Decimal(usd), team=fields.pop("team", None), **fields)


def board(viewer_user, privacy, **options):
    options.setdefault("period", OCTOBER)
    options.setdefault("metric", "spend")
    return leaderboard_page(viewer=viewer_for(viewer_user), privacy=privacy, **options)


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def bulk_engineers(count: int, *, first: int = 0, team=None) -> None:
    """Engineers with a day of usage in October and one in September each, through bulk_create."""
    engineers = Engineer.objects.bulk_create(
        Engineer(email=f"bulk{i}@example.com", name=f"Bulk {i}") for i in range(first, first + count)
    )
    DailyUsage.objects.bulk_create(
        DailyUsage(
            day=day,
            engineer=engineer,
            team=team,
            vendor="openai",
            product="codex",
            model="gpt-5",
            input_uncached_tokens=100 * i,
            output_tokens=10,
            tokens=100 * i + 10,
            requests=1,
            cost_usd=Decimal(i) / 100,
        )
        for i, engineer in enumerate(engineers, start=1)
        for day in (date(2026, 10, 3), date(2026, 9, 20))
    )


def test_the_board_ranks_engineers_by_spend_over_the_period(privacy):
    ada, alan, grace = (EngineerFactory(name=n) for n in ("Ada", "Alan", "Grace"))
    for engineer, usd in ((ada, "10"), (alan, "30"), (grace, "20")):
        spend(engineer, usd)
    spend(ada, "100", day=date(2026, 11, 1))  # the day after the half-open period
    spend(ada, "100", day=date(2026, 9, 30))  # the day before it

    page = board(ada.user, privacy)

    assert [(row.position, row.name, row.cost_usd) for row in page.rows] == [
        (1, "Alan", Decimal("30")),
        (2, "Grace", Decimal("20")),
        (3, "Ada", Decimal("10")),
    ]
    assert page.people == 3
    assert page.total_cost_usd == Decimal("60")
    assert [row.name for row in page.podium] == ["Alan", "Grace", "Ada"]


def test_the_board_can_rank_by_tokens_and_by_tokens_per_dollar(privacy):
    big, thrifty = EngineerFactory(name="Big"), EngineerFactory(name="Thrifty")
    spend(big, "100", input_uncached_tokens=10_000_000)
    spend(thrifty, "1", input_uncached_tokens=1_000_000)

    assert [row.name for row in board(big.user, privacy, metric="tokens").rows] == ["Big", "Thrifty"]
    by_value = board(big.user, privacy, metric="tokens_per_usd").rows
    assert [row.name for row in by_value] == ["Thrifty", "Big"]
    assert by_value[0].tokens_per_usd == 1_006_000


def test_change_is_against_the_previous_period_of_the_same_length(privacy):
    period = Period(date(2026, 10, 11), date(2026, 10, 21))  # ten days; the previous ten start Oct 1
    grower, newcomer = EngineerFactory(name="Grower"), EngineerFactory(name="Newcomer")
    spend(grower, "15", day=date(2026, 10, 15))
    spend(grower, "10", day=date(2026, 10, 1))  # first day of the previous period
    spend(grower, "1000", day=date(2026, 9, 30))  # before the previous period: ignored
    spend(newcomer, "5", day=date(2026, 10, 20))

    rows = {row.name: row for row in board(grower.user, privacy, period=period).rows}

    assert rows["Grower"].change_pct == pytest.approx(50.0)
    assert rows["Newcomer"].change_pct is None


def test_a_team_filter_includes_sub_teams(privacy):
    platform = TeamFactory(name="Platform")
    infra = TeamFactory(name="Infrastructure", parent=platform)
    storage = TeamFactory(name="Storage", parent=infra)
    growth = TeamFactory(name="Growth")
    people = {name: EngineerFactory(name=name) for name in ("P", "I", "S", "G")}
    for name, team in (("P", platform), ("I", infra), ("S", storage), ("G", growth)):
        spend(people[name], "5", team=team)

    assert sorted(row.name for row in board(people["P"].user, privacy, team_id=platform.pk).rows) == ["I", "P", "S"]
    assert sorted(row.name for row in board(people["P"].user, privacy, team_id=infra.pk).rows) == ["I", "S"]


def test_usage_follows_the_team_of_its_day_under_a_team_filter(privacy):
    old, new = TeamFactory(name="Old"), TeamFactory(name="New")
    mover = EngineerFactory(name="Mover")
    spend(mover, "7", team=old, day=date(2026, 10, 2))
    spend(mover, "3", team=new, day=date(2026, 10, 20))

    (row,) = board(mover.user, privacy, team_id=old.pk).rows
    assert (row.cost_usd, row.team) == (Decimal("7"), "Old")
    assert board(mover.user, privacy).rows[0].team == "New"  # unfiltered: the team of the latest day


def test_vendor_and_product_filters_narrow_the_board_and_the_top_model_and_tool(privacy):
    both = EngineerFactory(name="Both")
    spend(both, "9", vendor="openai", product="codex", model="gpt-5", input_uncached_tokens=9_000)
    spend(both, "1", vendor="anthropic", product="claude_code", model="claude-sonnet-4-5")
    spend(both, "1", vendor="anthropic", product="claude_code", model="claude-opus-4-1", day=date(2026, 10, 6))

    (everything,) = board(both.user, privacy).rows
    (anthropic,) = board(both.user, privacy, vendor="anthropic").rows

    assert (everything.cost_usd, everything.top_model, everything.top_tool) == (Decimal(11), "gpt-5", "openai/codex")
    assert (anthropic.cost_usd, anthropic.top_tool) == (Decimal(2), "anthropic/claude_code")
    assert board(both.user, privacy, product="api").rows == []


def test_the_top_tool_is_one_vendors_product_not_a_product_added_up_over_vendors(privacy):
    person = EngineerFactory(name="Many")
    spend(person, "1", vendor="anthropic", product="api", model="claude-sonnet-4-5", input_uncached_tokens=5_000)
    spend(person, "1", vendor="bedrock", product="api", model="claude-haiku-4-5", input_uncached_tokens=4_000)
    spend(person, "1", vendor="openai", product="codex", model="gpt-5", input_uncached_tokens=6_000)

    (row,) = board(person.user, privacy).rows
    assert row.top_tool == "openai/codex"  # "api" has more tokens, but over two vendors


def test_the_page_names_tools_and_vendors_but_the_csv_and_the_filters_keep_identifiers(client, privacy):
    api, editor = EngineerFactory(name="Api"), EngineerFactory(name="Editor")
    spend(api, "2", vendor="openai", product="api", model="gpt-5")
    spend(editor, "1", vendor="cursor", product="cursor", model="auto")
    client.force_login(api.user)

    html = client.get(f"/?{OCTOBER_QUERY}").content.decode()
    exported = csv_rows(client.get(f"/?{OCTOBER_QUERY}&format=csv&vendor=openai&product=api"))

    assert '<td class="lb-wide lb-tool">OpenAI&nbsp;· API</td>' in html
    assert '<td class="lb-wide lb-tool">Cursor</td>' in html
    assert '<option value="openai">OpenAI</option>' in html
    assert '<option value="api">API</option>' in html
    assert [row["top_tool"] for row in exported] == ["openai/api"]


def test_tiers_follow_percentiles_of_the_sort_metric(privacy):
    engineers = [EngineerFactory(name=f"E{i:02}") for i in range(1, 21)]
    for i, engineer in enumerate(engineers, start=1):
        spend(engineer, str(i))

    tiers = [row.tier for row in board(engineers[0].user, privacy).rows]

    # Twenty people: the top 5% is one person, 80th-95th three, 50th-80th six, the rest bronze.
    assert tiers == ["emerald"] + ["gold"] * 3 + ["silver"] * 6 + ["bronze"] * 10


def test_titles_go_to_the_people_who_earned_them(privacy):
    legend, wizard, connoisseur, light = (EngineerFactory(name=n) for n in ("Legend", "Wizard", "Connoisseur", "Light"))
    spend(legend, "50", input_uncached_tokens=900_000, cache_read_tokens=0)
    spend(wizard, "5", input_uncached_tokens=1_000, cache_read_tokens=500_000)
    for model in ("gpt-5", "gpt-5-mini", "claude-haiku-4-5"):
        spend(connoisseur, "1", model=model, input_uncached_tokens=1_000, cache_read_tokens=0)
    # The best cache share of all, but too little volume to count.
    spend(light, "0.01", input_uncached_tokens=0, cache_read_tokens=10, cache_write_tokens=0, output_tokens=0)

    titles = {title.name: title.holder for title in board(legend.user, privacy).titles}

    assert titles["Token Legend"] == "Legend"
    assert titles["Cache Wizard"] == "Wizard"
    assert titles["Model Connoisseur"] == "Connoisseur"
    assert "Light" not in titles.values()


def test_the_viewer_sees_their_rank_even_off_the_first_page(client, privacy):
    bulk_engineers(60)
    me = EngineerFactory(name="Me Myself")
    spend(me, "0.001")
    client.force_login(me.user)

    response = client.get(f"/?{OCTOBER_QUERY}")

    page = response.context["board"]
    assert (page.page, page.pages, len(page.rows)) == (1, 2, 50)
    assert page.viewer_row.position == 61
    assert "You are <strong>#61</strong> of 61 (top 100%)" in response.content.decode()
    assert "Me Myself" in response.content.decode()


def test_pages_hold_fifty_people_and_a_page_past_the_end_shows_the_last(client, privacy):
    bulk_engineers(120)
    client.force_login(UserFactory())

    second = client.get(f"/?{OCTOBER_QUERY}&page=2").context["board"]
    past = client.get(f"/?{OCTOBER_QUERY}&page=9").context["board"]

    assert [row.position for row in second.rows] == list(range(51, 101))
    assert (past.page, [row.position for row in past.rows]) == (3, list(range(101, 121)))


def test_pseudonyms_hide_names_also_in_csv_and_hover_text(client, privacy):
    privacy.board_names = PrivacySettings.BoardNames.PSEUDONYMS
    privacy.save()
    me, other = EngineerFactory(name="Visible Me"), EngineerFactory(name="Secret Sam")
    spend(me, "5")
    spend(other, "50")
    client.force_login(me.user)

    html = client.get(f"/?{OCTOBER_QUERY}").content.decode()
    exported = client.get(f"/?{OCTOBER_QUERY}&format=csv")

    chart = html.split('id="board-chart"')[1].split("</script>")[0]
    assert "Secret Sam" not in html
    assert pseudonym(other.pk) in chart and "Visible Me" in chart
    assert [row["name"] for row in csv_rows(exported)] == [pseudonym(other.pk), "Visible Me"]
    assert "Secret Sam" not in exported.content.decode()


def test_managers_see_the_names_of_their_reports_under_pseudonyms(privacy):
    privacy.board_names = PrivacySettings.BoardNames.PSEUDONYMS
    privacy.save()
    boss = EngineerFactory(name="Boss")
    report, stranger = EngineerFactory(name="Report", manager=boss), EngineerFactory(name="Stranger")
    spend(report, "5")
    spend(stranger, "3")

    names = [row.name for row in board(boss.user, privacy).rows]

    assert names == ["Report", pseudonym(stranger.pk)]


def test_a_pseudonym_does_not_show_the_name_of_a_small_team(privacy):
    privacy.board_names = PrivacySettings.BoardNames.PSEUDONYMS
    privacy.min_team_size = 3
    privacy.save()
    tiny, big = TeamFactory(name="Tiny"), TeamFactory(name="Big")
    loner = EngineerFactory(name="Loner", team=tiny)
    crowd = [EngineerFactory(team=big) for _ in range(3)]
    spend(loner, "9", team=tiny)
    spend(crowd[0], "5", team=big)

    rows = {row.name: row.team for row in board(UserFactory(), privacy).rows}

    assert rows == {pseudonym(loner.pk): "—", pseudonym(crowd[0].pk): "Big"}


def test_under_pseudonyms_a_filter_on_a_small_team_lists_only_people_the_viewer_may_open(privacy):
    privacy.board_names = PrivacySettings.BoardNames.PSEUDONYMS
    privacy.min_team_size = 3
    privacy.save()
    pair = TeamFactory(name="Pair")
    me, other = EngineerFactory(name="Me", team=pair), EngineerFactory(name="Other", team=pair)
    spend(me, "1", team=pair)
    spend(other, "2", team=pair)

    page = board(me.user, privacy, team_id=pair.pk)

    assert (page.people, [row.name for row in page.rows], [row.name for row in page.podium]) == (2, ["Me"], ["Me"])
    assert all(title.holder == "Me" for title in page.titles)
    assert page.peers_withheld


def test_self_only_shows_just_the_viewers_row(client, privacy):
    privacy.board_names = PrivacySettings.BoardNames.SELF_ONLY
    privacy.save()
    me = EngineerFactory(name="Only Me")
    others = [EngineerFactory(name=f"Peer {i}") for i in range(3)]
    spend(me, "5")
    for peer in others:
        spend(peer, "50", input_uncached_tokens=10_000_000)  # holds every title but the viewer's
    client.force_login(me.user)

    response = client.get(f"/?{OCTOBER_QUERY}")
    html = response.content.decode()
    exported = csv_rows(client.get(f"/?{OCTOBER_QUERY}&format=csv"))

    assert [row.name for row in response.context["board"].rows] == ["Only Me"]
    assert "You are <strong>#4</strong> of 4" in html
    for peer in others:
        assert peer.name not in html and pseudonym(peer.pk) not in html
    assert response.context["board"].podium == []
    assert all(title.is_viewer for title in response.context["board"].titles)
    assert [row["name"] for row in exported] == ["Only Me"]


def test_the_csv_export_is_written_to_the_audit_log(client, privacy):
    me = EngineerFactory(name="Exporter")
    spend(me, "5")
    client.force_login(me.user)

    response = client.get(f"/?{OCTOBER_QUERY}&format=csv&vendor=anthropic")

    assert response["Content-Type"] == "text/csv"
    assert [(row["rank"], row["name"], row["cost_usd"]) for row in csv_rows(response)] == [("1", "Exporter", "5.00")]
    entry = AuditEntry.objects.get()
    assert (entry.user, entry.action) == (me.user, "export_leaderboard_csv")
    assert "vendor=anthropic" in entry.target and "format=csv" in entry.target


def test_csv_cells_that_look_like_formulas_are_defused(client, privacy):
    me = EngineerFactory(name="=HYPERLINK(1)")
    spend(me, "5")
    client.force_login(me.user)

    (row,) = csv_rows(client.get(f"/?{OCTOBER_QUERY}&format=csv"))

    assert row["name"] == "'=HYPERLINK(1)"


def test_small_teams_are_hidden_from_non_managers(client, privacy):
    privacy.min_team_size = 3
    privacy.save()
    big, small = TeamFactory(name="Big Team"), TeamFactory(name="Tiny Team")
    members = [EngineerFactory(team=big) for _ in range(3)]
    loner = EngineerFactory(team=small)
    for engineer in members:
        spend(engineer, "5", team=big)
    spend(loner, "9", team=small)
    finance = UserFactory()
    finance.groups.add(Group.objects.create(name="finance"))

    client.force_login(members[0].user)
    response = client.get(f"/?{OCTOBER_QUERY}&tab=teams")
    assert [row.name for row in response.context["board"].rows] == ["Big Team"]
    assert "Tiny Team</a>" not in response.content.decode()  # it stays in the team filter's list
    assert "1 team with fewer than 3 active members is hidden" in response.content.decode()

    manager = EngineerFactory()
    EngineerFactory(manager=manager)
    for privileged in (finance, UserFactory(is_staff=True), manager.user):
        teams = team_board_page(viewer=viewer_for(privileged), privacy=privacy, period=OCTOBER, metric="spend")
        assert [row.name for row in teams.rows] == ["Big Team", "Tiny Team"]
        assert teams.hidden_teams == 0


def test_team_rows_have_totals_members_and_spend_per_member(privacy):
    team = TeamFactory(name="Payments")
    for usd in ("10", "20"):
        spend(EngineerFactory(team=team), usd, team=team)
    spend(EngineerFactory(team=team), "5", team=team, day=date(2026, 9, 20))  # previous period only

    (row,) = team_board_page(
        viewer=viewer_for(UserFactory(is_staff=True)), privacy=privacy, period=OCTOBER, metric="spend"
    ).rows

    assert (row.name, row.members, row.cost_usd, row.cost_per_member_usd) == ("Payments", 2, 30, 15)
    assert row.change_pct == pytest.approx(500.0)


def test_unmapped_usage_is_not_on_the_board_but_its_total_is_mentioned(client, privacy):
    me = EngineerFactory(name="Mapped")
    spend(me, "5")
    DailyUsageFactory(engineer=None, day=date(2026, 10, 3), cost_usd=Decimal("42.50"))
    client.force_login(me.user)

    response = client.get(f"/?{OCTOBER_QUERY}")

    page = response.context["board"]
    assert [row.name for row in page.rows] == ["Mapped"]
    assert page.unmapped_cost_usd == Decimal("42.50")
    assert "$42.50" in response.content.decode()


def test_an_empty_period_points_staff_to_imports(client, privacy):
    client.force_login(UserFactory(is_staff=True))

    html = client.get(f"/?{OCTOBER_QUERY}").content.decode()

    assert "No usage yet: upload an export on" in html
    assert 'href="/imports/"' in html


def test_an_invalid_period_shows_the_error_and_falls_back_to_30_days(client, privacy):
    client.force_login(UserFactory())

    response = client.get("/?start=2026-10-10&end=2026-10-01")

    assert response.context["period"].preset == "30d"
    assert response.context["period"].days == 30
    assert "The last day must not be before the first" in response.content.decode()


def test_a_preset_period_is_shareable_by_its_query_string(client, privacy):
    client.force_login(UserFactory())

    response = client.get("/?period=7d&sort=tokens")

    assert (response.context["period"].preset, response.context["options"]["metric"]) == ("7d", "tokens")


def test_htmx_requests_get_only_the_board_fragment(client, privacy):
    me = EngineerFactory(name="Fragment")
    spend(me, "5")
    client.force_login(me.user)

    html = client.get(f"/?{OCTOBER_QUERY}", headers={"HX-Request": "true"}).content.decode()

    assert "Fragment" in html
    assert "<html" not in html


def test_anonymous_users_are_sent_to_login(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_board_makes_the_same_number_of_queries_with_10_and_1000_engineers(
    client, privacy, django_assert_num_queries
):
    me = EngineerFactory(name="Counter", team=TeamFactory())
    client.force_login(me.user)
    bulk_engineers(10)
    # session, user, viewer (engineer, groups and chain), privacy, snapshot lookup (none here: the
    # board is ranked live), filter choices (2), the board
    with django_assert_num_queries(8):
        assert client.get(f"/?{OCTOBER_QUERY}").status_code == 200

    bulk_engineers(990, first=10)
    with django_assert_num_queries(8):
        response = client.get(f"/?{OCTOBER_QUERY}")
    assert response.context["board"].people == 1000
    with django_assert_num_queries(8):
        client.get(f"/?{OCTOBER_QUERY}&tab=teams&sort=tokens&vendor=x&page=3")
    # Filtered by a team: its subtree comes from the team menu kept per process (its version).
    team_id = me.memberships.get().team_id
    with django_assert_num_queries(9):
        client.get(f"/?{OCTOBER_QUERY}&team={team_id}")


def test_the_team_filter_lists_every_team_escaped_with_the_chosen_one_selected(client, privacy):
    parent = TeamFactory(name="R&D <Labs>")
    child = TeamFactory(name="Apps", parent=parent)
    me = EngineerFactory(name="Me", team=child)
    spend(me, "1")
    client.force_login(me.user)
    html = client.get(f"/?{OCTOBER_QUERY}&team={child.pk}").content.decode()
    assert f'<option value="{parent.pk}">R&amp;D &lt;Labs&gt;</option>' in html
    assert f'<option value="{child.pk}" selected>\u2002\u2002Apps</option>' in html


def test_the_team_menu_follows_renames_and_an_unknown_team_falls_back_to_all(client, privacy):
    team = TeamFactory(name="Before")
    me = EngineerFactory(name="Me", team=team)
    spend(me, "1")
    client.force_login(me.user)
    assert ">Before</option>" in client.get(f"/?{OCTOBER_QUERY}").content.decode()
    team.name = "After"
    team.save()
    html = client.get(f"/?{OCTOBER_QUERY}&team=999999").content.decode()
    assert ">After</option>" in html and ">Before</option>" not in html
    assert "There is no such team." in html and "Using the default instead." in html


def test_the_team_menu_follows_writes_made_in_sql_and_forgets_rolled_back_ones(client, privacy):
    """The menu is cached per process under the team table's version, which a trigger moves on
    every statement (org CSV imports write teams with set-based SQL, not save())."""
    team = TeamFactory(name="Before")
    me = EngineerFactory(name="Me", team=team)
    client.force_login(me.user)
    assert ">Before</option>" in client.get(f"/?{OCTOBER_QUERY}").content.decode()

    with connection.cursor() as cursor:
        cursor.execute("UPDATE usage_team SET name = 'In SQL' WHERE id = %s", [team.pk])
        cursor.execute("INSERT INTO usage_team (name, parent_id) VALUES ('Added in SQL', %s)", [team.pk])
    html = client.get(f"/?{OCTOBER_QUERY}").content.decode()
    assert ">In SQL</option>" in html and "Added in SQL</option>" in html and ">Before</option>" not in html

    try:
        with transaction.atomic():
            Team.objects.filter(pk=team.pk).update(name="Rolled back")
            assert ">Rolled back</option>" in client.get(f"/?{OCTOBER_QUERY}").content.decode()
            raise RuntimeError
    except RuntimeError:
        pass
    html = client.get(f"/?{OCTOBER_QUERY}").content.decode()
    assert ">In SQL</option>" in html and "Rolled back" not in html


def test_a_big_orgs_team_menu_comes_when_first_used(client, privacy, settings, django_assert_num_queries):
    settings.LEADERBOARD_TEAM_MENU_INLINE = 2
    root = TeamFactory(name="Root")
    teams = [TeamFactory(name=f"Squad <{n}>", parent=root) for n in range(3)]
    me = EngineerFactory(name="Menu", team=teams[1])
    spend(me, "5")
    client.force_login(me.user)

    page = client.get(f"/?{OCTOBER_QUERY}&team={teams[1].pk}").content.decode()
    select = page[page.index('<select name="team"') : page.index("</select>", page.index('<select name="team"'))]
    # Only the chosen team in the page, and where the rest comes from.
    assert 'hx-get="/teams/menu/"' in select
    assert f'<option value="{teams[1].pk}" selected>' in select
    assert f'value="{teams[0].pk}"' not in select and "Root" not in select

    with django_assert_num_queries(3):  # session, user, the team menu
        menu = client.get(f"/teams/menu/?team={teams[1].pk}").content.decode()
    assert menu.startswith('<option value="">All teams</option>')
    assert f'<option value="{teams[1].pk}" selected>' in menu
    assert f'value="{teams[0].pk}"' in menu and f'value="{teams[2].pk}"' in menu and "Root" in menu
    assert "Squad &lt;0&gt;" in menu  # names escaped
    assert " selected>" not in client.get("/teams/menu/?team=999999").content.decode()


def test_a_small_orgs_team_menu_is_in_the_page(client, privacy):
    teams = [TeamFactory(name=f"Squad {n}") for n in range(3)]
    me = EngineerFactory(name="Menu", team=teams[0])
    client.force_login(me.user)

    page = client.get(f"/?{OCTOBER_QUERY}").content.decode()

    assert 'hx-get="/teams/menu/"' not in page
    assert all(f'<option value="{team.pk}">' in page for team in teams)


def test_the_team_menu_is_revalidated_by_its_etag_until_a_team_changes(client, privacy, settings):
    """7,500 teams are 500 KB of options: the browser keeps them and asks with their ETag."""
    settings.LEADERBOARD_TEAM_MENU_INLINE = 1
    teams = [TeamFactory(name=f"Squad {n}") for n in range(3)]
    client.force_login(EngineerFactory(team=teams[0]).user)

    first = client.get("/teams/menu/")
    etag = first["ETag"]
    assert first.status_code == 200 and first["Cache-Control"] == "private, no-cache"
    again = client.get("/teams/menu/", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""

    Team.objects.filter(pk=teams[2].pk).update(name="Renamed")
    changed = client.get("/teams/menu/", headers={"if-none-match": etag})
    assert changed.status_code == 200 and changed["ETag"] != etag and "Renamed" in changed.content.decode()
