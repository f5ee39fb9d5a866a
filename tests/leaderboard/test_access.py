import pytest
from django.contrib.auth.models import Group

from leaderboard.access import display_name, pseudonym, viewer_for
from leaderboard.models import AuditEntry, PrivacySettings
from tests.factories import PASSWORD, EngineerFactory, UserFactory

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
    with django_assert_num_queries(2):  # engineer and groups, then the chain
        viewer_for(org[0].user)


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
