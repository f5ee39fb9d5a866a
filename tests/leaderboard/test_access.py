import random
from datetime import date

import pytest
from django.contrib.auth.models import Group

from leaderboard.access import (
    can_view_team,
    cap_team_set,
    chain_is_everyone,
    chain_q,
    display_name,
    pseudonym,
    viewer_for,
)
from leaderboard.models import AuditEntry, PrivacySettings
from tests.factories import PASSWORD, EngineerFactory, TeamFactory, UserFactory
from usage.models import Engineer, Team, TeamMembership

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    """boss -> mid -> dev, and an outsider."""
    boss = EngineerFactory(name="Boss")
    mid = EngineerFactory(name="Mid", manager=boss)
    dev = EngineerFactory(name="Dev", manager=mid)
    outsider = EngineerFactory(name="Outsider")
    return boss, mid, dev, outsider


def test_a_manager_sees_their_whole_reporting_chain_and_nobody_else(org):
    boss, mid, dev, outsider = org
    viewer = viewer_for(boss.user)
    assert viewer.chain_ids == {mid.pk, dev.pk}
    assert viewer.can_view_engineer(dev.pk) and not viewer.can_view_engineer(outsider.pk)
    assert viewer_for(mid.user).chain_ids == {dev.pk}


def test_an_engineer_sees_only_themself(org):
    dev, outsider = org[2], org[3]
    viewer = viewer_for(dev.user)
    assert viewer.can_view_engineer(dev.pk) and not viewer.can_view_engineer(outsider.pk)
    assert not viewer.is_manager


def test_finance_and_admins_see_everyone(org):
    finance = UserFactory()
    finance.groups.add(Group.objects.create(name="finance"))
    admin = UserFactory(is_staff=True)
    assert viewer_for(finance).can_view_engineer(org[3].pk)
    assert viewer_for(admin).can_view_engineer(org[3].pk)


def test_the_viewer_is_resolved_in_a_fixed_number_of_queries(org, django_assert_num_queries):
    with django_assert_num_queries(1):  # engineer, groups and chain together
        viewer_for(org[0].user)


# The rules as they were first written, with the chain sent as a parameter and walked in Python:
# the references the SQL forms in leaderboard/access.py must agree with.
OLD_TEAM_VIEWERS_SQL = """
WITH RECURSIVE up(id, depth) AS (
    SELECT id, 0 FROM usage_team WHERE id = %(team)s
    UNION ALL
    SELECT t.parent_id, up.depth + 1 FROM usage_team t JOIN up ON t.id = up.id
    WHERE t.parent_id IS NOT NULL AND up.depth < 50
)
SELECT EXISTS (
    SELECT 1 FROM usage_teammembership m JOIN up ON up.id = m.team_id
    WHERE (m.engineer_id = %(viewer)s OR m.engineer_id = ANY(%(chain)s))
        AND m.valid_from <= %(today)s AND (m.valid_to IS NULL OR m.valid_to > %(today)s)
)
"""


def old_can_view_team(viewer, *, team_id: int, today: date) -> bool:
    from django.db import connection

    if viewer.sees_everyone:
        return True
    if not viewer.is_manager:
        return False
    with connection.cursor() as cursor:
        params = {"team": team_id, "viewer": viewer.engineer_id, "chain": list(viewer.chain_ids), "today": today}
        cursor.execute(OLD_TEAM_VIEWERS_SQL, params)
        return bool(cursor.fetchone()[0])


def old_cap_team_ids(viewer, *, today: date) -> set[int] | None:
    if viewer.sees_everyone:
        return None
    if not viewer.is_manager:
        return set()
    parent = dict(Team.objects.values_list("pk", "parent_id"))
    inside, outside = set(), set()
    for engineer_id, team_id in TeamMembership.objects.on(today).values_list("engineer_id", "team_id"):
        mark = inside if engineer_id in viewer.chain_ids else None if engineer_id == viewer.engineer_id else outside
        seen: set[int] = set()
        while mark is not None and team_id is not None and team_id not in seen:
            seen.add(team_id)
            mark.add(team_id)
            team_id = parent.get(team_id)
    return inside - outside


TODAY = date(2026, 11, 1)


def random_org(seed: int) -> None:
    """A small org with the odd shapes: a team tree with empty teams, engineers in no team or in
    a team they left, two top managers or one, and sometimes a cycle of managers."""
    rng = random.Random(seed)
    teams: list = []
    for n in range(8):
        teams.append(TeamFactory(name=f"T{seed}-{n}", parent=rng.choice([None, *teams]) if teams else None))
    people: list = []
    for n in range(14):
        manager = rng.choice(people) if people and (n > 1 or seed % 2) else None
        people.append(EngineerFactory(name=f"E{n}", manager=manager))
        if rng.random() < 0.85:
            left = rng.random() < 0.15
            TeamMembership.objects.create(
                engineer=people[-1],
                team=rng.choice(teams),
                valid_from=date(2024, 1, 1),
                valid_to=date(2026, 1, 1) if left else None,
            )
    if seed % 3 == 0:  # the first engineer reports to someone below them
        Engineer.objects.filter(pk=people[0].pk).update(manager=people[-1])


@pytest.mark.parametrize("seed", range(6))
def test_the_sql_forms_of_the_rules_agree_with_the_python_ones_for_every_viewer(seed):
    random_org(seed)
    everyone_ids = set(Engineer.objects.values_list("pk", flat=True))
    team_ids = set(Team.objects.values_list("pk", flat=True))
    for engineer in Engineer.objects.select_related("user"):
        viewer = viewer_for(engineer.user)
        everyone = chain_is_everyone(viewer)
        assert everyone == (viewer.chain_ids | {engineer.pk} == everyone_ids and viewer.is_manager)
        in_chain = set(Engineer.objects.filter(chain_q(viewer, "pk", everyone=everyone)).values_list("pk", flat=True))
        assert in_chain == viewer.chain_ids
        if viewer.is_manager:
            teams = cap_team_set(viewer, today=TODAY, everyone=everyone)
            assert teams.ids == old_cap_team_ids(viewer, today=TODAY)
            assert teams.ids | teams.others == team_ids and not teams.ids & teams.others
            assert set(Team.objects.filter(teams.q("pk")).values_list("pk", flat=True)) == teams.ids
        for team_id in team_ids:
            assert can_view_team(viewer, team_id=team_id, today=TODAY) == old_can_view_team(
                viewer, team_id=team_id, today=TODAY
            )


def test_the_top_managers_chain_is_everyone_in_one_query_and_other_viewers_ask_nothing(org, django_assert_num_queries):
    boss, mid, dev, outsider = org
    finance = EngineerFactory(manager=boss)  # finance and a manager: not filtered, so not asked
    finance.user.groups.add(Group.objects.create(name="finance"))
    EngineerFactory(manager=finance)
    viewers = {who: viewer_for(who.user) for who in (boss, mid, dev, finance)}
    assert viewers[finance].is_manager and viewers[finance].sees_everyone
    with django_assert_num_queries(1):
        assert not chain_is_everyone(viewers[boss])  # the outsider is nobody's report
    outsider.delete()
    with django_assert_num_queries(1):
        assert chain_is_everyone(viewers[boss])
    with django_assert_num_queries(1):
        assert not chain_is_everyone(viewers[mid])
    with django_assert_num_queries(0):
        assert not chain_is_everyone(viewers[dev]) and not chain_is_everyone(viewers[finance])
        assert list(Engineer.objects.filter(chain_q(viewers[dev], "pk", everyone=False))) == []


def test_pseudonyms_are_stable_and_hide_the_name(org):
    boss, _, dev, outsider = org
    viewer = viewer_for(dev.user)
    shown = display_name(viewer, engineer_id=outsider.pk, name=outsider.name, mode="pseudonyms")
    assert shown == pseudonym(outsider.pk) != outsider.name
    assert display_name(viewer, engineer_id=dev.pk, name=dev.name, mode="pseudonyms") == dev.name
    assert display_name(viewer_for(boss.user), engineer_id=dev.pk, name=dev.name, mode="pseudonyms") == dev.name


def test_only_admins_change_privacy_settings_and_the_change_is_audited(client, org):
    client.login(username=org[2].user.username, password=PASSWORD)
    assert client.get("/settings/privacy/").status_code == 302  # staff only: sent to the admin login
    admin = UserFactory(is_staff=True)
    client.login(username=admin.username, password=PASSWORD)
    response = client.post("/settings/privacy/", {"board_names": "pseudonyms", "min_team_size": 3})
    assert response.status_code == 302
    assert PrivacySettings.objects.get().board_names == "pseudonyms"
    entry = AuditEntry.objects.get(action="privacy_update")
    assert entry.user == admin and entry.details["old"]["board_names"] == "names"


def test_a_zero_team_size_is_refused_with_a_message(client):
    admin = UserFactory(is_staff=True)
    client.login(username=admin.username, password=PASSWORD)
    response = client.post("/settings/privacy/", {"board_names": "names", "min_team_size": 0})
    assert response.status_code == 200 and b"At least 1." in response.content


def test_a_long_chain_is_kept_by_the_process_until_the_org_chart_changes(org, monkeypatch, django_assert_num_queries):
    """The top manager of 50,000 walked them on every page (50 ms): a long chain is kept under
    the engineer table's version, which every write to the table moves."""
    from leaderboard import access

    monkeypatch.setattr(access, "KEEP_CHAINS_FROM", 2)
    boss, mid, dev, outsider = org
    first = viewer_for(boss.user)
    assert first.chain_ids == {mid.pk, dev.pk}
    with django_assert_num_queries(1):  # roles and the version, as always
        assert viewer_for(boss.user).chain_ids is first.chain_ids  # kept, not walked again

    Engineer.objects.filter(pk=outsider.pk).update(manager=mid)  # the org chart changes
    assert viewer_for(boss.user).chain_ids == {mid.pk, dev.pk, outsider.pk}
    assert viewer_for(mid.user).chain_ids == {dev.pk, outsider.pk}
    Engineer.objects.filter(pk=dev.pk).delete()
    assert viewer_for(boss.user).chain_ids == {mid.pk, outsider.pk}
