import csv
import io
from datetime import date
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from tests.factories import EngineerFactory, TeamFactory, UserFactory, VendorIdentityFactory
from usage.importers.base import ParseError
from usage.models import DailyUsage, Engineer, Team, TeamMembership, UsageRecord, VendorIdentity
from usage.services.ingest import import_batch_create
from usage.services.org import identities_import, org_import
from usage.services.org_csv import ORG_COLUMNS

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "company-small"
TODAY = date(2026, 11, 2)

pytestmark = pytest.mark.django_db


def org_csv(*people: dict) -> bytes:
    """An HRIS export; each person is a dict of the columns that differ from a default row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ORG_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for n, person in enumerate(people):
        default = {"employee_id": f"E{n}", "email": f"p{n}@example.com", "name": f"Person {n}", "team": "Platform"}
        writer.writerow({**default, "start_date": "2024-01-15", **person})
    return out.getvalue().encode()


def identities_csv(*rows: tuple[str, str, str, str]) -> bytes:
    lines = ["vendor,kind,external_id,email", *(",".join(row) for row in rows)]
    return ("\n".join(lines) + "\n").encode()


def memberships(email: str) -> list[tuple[str, date, date | None]]:
    found = TeamMembership.objects.filter(engineer__email=email).order_by("valid_from")
    return [(m.team.name, m.valid_from, m.valid_to) for m in found]


def sample_org() -> bytes:
    return (SAMPLES / "org.csv").read_bytes()


@pytest.fixture
def usage_by_email(django_capture_on_commit_callbacks):
    """Load one day of usage per given day for an email through the real ingest pipeline."""

    def load(email: str, days: list[str]) -> None:
        header = "day,vendor,product,model,email,input_uncached_tokens,output_tokens\n"
        body = "".join(f"{day},cursor,cursor,claude-sonnet-4-5,{email},1000,100\n" for day in days)
        with django_capture_on_commit_callbacks(execute=True):
            import_batch_create(filename="usage.csv", raw=(header + body).encode(), format="generic_csv")
        assert UsageRecord.objects.filter(engineer__email=email).count() == len(days)

    return load


def rollup_teams(email: str) -> dict[date, str | None]:
    rows = DailyUsage.objects.filter(engineer__email=email).select_related("team")
    return {row.day: row.team.name if row.team else None for row in rows}


# The sample org chart


def test_importing_the_sample_org_creates_people_teams_and_managers():
    result = org_import(raw=sample_org(), today=TODAY)

    assert (result.created, result.updated, result.unchanged, result.errors) == (12, 0, 0, [])
    assert result.teams_created == 3
    parents = {team.name: team.parent.name if team.parent else None for team in Team.objects.all()}
    assert parents == {"Engineering": None, "Platform": "Engineering", "Applied AI": "Engineering"}
    bjarne = Engineer.objects.get(email="bjarne.liskov@example.com")
    assert (bjarne.employee_id, bjarne.name, bjarne.github_login, bjarne.cost_center) == (
        "E1004",
        "Bjarne Liskov",
        "bjarnel4",
        "CC-110",
    )
    assert bjarne.manager.email == "sophie.thompson@example.com"
    assert bjarne.manager.manager.email == "dennis.perlman@example.com"
    assert Engineer.objects.get(email="dennis.perlman@example.com").manager is None
    assert memberships("bjarne.liskov@example.com") == [("Platform", date(2024, 1, 15), None)]


def test_reimporting_the_same_org_changes_nothing():
    org_import(raw=sample_org(), today=TODAY)
    before = list(TeamMembership.objects.values_list("id", "engineer_id", "team_id", "valid_from", "valid_to"))

    result = org_import(raw=sample_org(), today=date(2026, 12, 1))

    assert (result.created, result.updated, result.unchanged, result.team_changes, result.teams_created) == (
        0,
        0,
        12,
        0,
        0,
    )
    assert list(TeamMembership.objects.values_list("id", "engineer_id", "team_id", "valid_from", "valid_to")) == before
    assert Engineer.objects.count() == 12 and get_user_model().objects.count() == 12


def test_a_leaver_keeps_their_team_through_their_last_day():
    org_import(raw=sample_org(), today=TODAY)

    # end_date 2026-10-20 is the last day worked; valid_to is exclusive.
    assert memberships("niklaus.shannon@example.com") == [("Applied AI", date(2024, 1, 15), date(2026, 10, 21))]
    assert TeamMembership.objects.on(date(2026, 10, 20)).filter(engineer__email="niklaus.shannon@example.com").exists()
    assert (
        not TeamMembership.objects.on(date(2026, 10, 21)).filter(engineer__email="niklaus.shannon@example.com").exists()
    )


def test_every_engineer_gets_a_user_with_an_unusable_password():
    org_import(raw=sample_org(), today=TODAY)

    for engineer in Engineer.objects.select_related("user"):
        assert engineer.user.username == engineer.email == engineer.user.email
        assert not engineer.user.has_usable_password()
    sophie = get_user_model().objects.get(username="sophie.thompson@example.com")
    assert (sophie.first_name, sophie.last_name) == ("Sophie", "Thompson")


def test_an_existing_user_with_the_email_is_linked_and_keeps_its_password():
    user = UserFactory(username="Ada@Example.com")

    org_import(raw=org_csv({"email": "ada@example.com"}), today=TODAY)

    assert Engineer.objects.get(email="ada@example.com").user == user
    user.refresh_from_db()
    assert user.has_usable_password()


# Changes over time


def test_a_team_change_becomes_a_new_dated_membership():
    org_import(raw=org_csv({"email": "ada@example.com", "team": "Platform"}), today=date(2026, 1, 1))

    result = org_import(raw=org_csv({"email": "ada@example.com", "team": "Research"}), today=TODAY)

    assert (result.updated, result.team_changes, result.teams_created) == (1, 1, 1)
    assert memberships("ada@example.com") == [
        ("Platform", date(2024, 1, 15), TODAY),
        ("Research", TODAY, None),
    ]
    assert org_import(raw=org_csv({"email": "ada@example.com", "team": "Research"}), today=TODAY).unchanged == 1


def test_a_team_change_on_the_day_the_membership_started_corrects_it():
    org_import(raw=org_csv({"email": "ada@example.com", "team": "Platform", "start_date": ""}), today=TODAY)

    org_import(raw=org_csv({"email": "ada@example.com", "team": "Research", "start_date": ""}), today=TODAY)

    assert memberships("ada@example.com") == [("Research", TODAY, None)]


def test_an_end_date_entered_late_removes_a_membership_that_began_after_it():
    org_import(raw=org_csv({"email": "ada@example.com", "team": "Platform"}), today=date(2026, 1, 1))
    org_import(raw=org_csv({"email": "ada@example.com", "team": "Research"}), today=TODAY)

    org_import(
        raw=org_csv({"email": "ada@example.com", "team": "Research", "end_date": "2026-10-31"}), today=date(2026, 11, 9)
    )

    assert memberships("ada@example.com") == [("Platform", date(2024, 1, 15), date(2026, 11, 1))]


def test_removing_an_end_date_reopens_the_membership():
    org_import(raw=org_csv({"email": "ada@example.com", "end_date": "2026-10-31"}), today=TODAY)

    org_import(raw=org_csv({"email": "ada@example.com"}), today=TODAY)

    assert memberships("ada@example.com") == [("Platform", date(2024, 1, 15), None)]


def test_a_rehire_after_a_gap_starts_a_new_membership():
    org_import(raw=org_csv({"email": "ada@example.com", "end_date": "2025-06-30"}), today=date(2025, 7, 1))

    org_import(raw=org_csv({"email": "ada@example.com", "team": "Research", "start_date": "2026-09-01"}), today=TODAY)

    assert memberships("ada@example.com") == [
        ("Platform", date(2024, 1, 15), date(2025, 7, 1)),
        ("Research", date(2026, 9, 1), None),
    ]


def test_a_team_moving_under_another_parent_is_updated():
    org_import(raw=org_csv({"team": "Platform", "parent_team": "Engineering"}), today=TODAY)

    result = org_import(raw=org_csv({"team": "Platform", "parent_team": "Infrastructure"}), today=TODAY)

    assert result.teams_created == 1
    assert Team.objects.get(name="Platform").parent.name == "Infrastructure"
    assert Team.objects.get(name="Infrastructure").parent is None
    assert Team.objects.filter(name="Engineering").exists()  # kept: it may have history


def test_a_parent_that_would_make_a_cycle_is_refused_with_a_warning():
    org_import(raw=org_csv({"team": "Platform", "parent_team": "Engineering"}), today=TODAY)

    result = org_import(
        raw=org_csv(
            {"team": "Platform", "parent_team": "Engineering"}, {"team": "Engineering", "parent_team": "Platform"}
        ),
        today=TODAY,
    )

    assert Team.objects.get(name="Engineering").parent is None
    assert any("line 3: parent_team Platform would put Engineering under itself" in w for w in result.warnings)


def managers() -> dict[str, str | None]:
    return dict(Engineer.objects.values_list("email", "manager__email"))


def test_a_manager_that_would_make_a_reporting_loop_is_refused_with_a_warning():
    # A reports to B, B to C (C is not in the later file: the loop goes through the company).
    org_import(
        raw=org_csv(
            {"email": "a@example.com", "manager_email": "b@example.com"},
            {"email": "b@example.com", "manager_email": "c@example.com"},
            {"email": "c@example.com"},
        ),
        today=TODAY,
    )

    result = org_import(raw=org_csv({"email": "c@example.com", "manager_email": "a@example.com"}), today=TODAY)

    assert managers() == {"a@example.com": "b@example.com", "b@example.com": "c@example.com", "c@example.com": None}
    assert result.warnings == [
        "line 2: manager_email a@example.com reports to c@example.com, which would make a loop; manager left as it was"
    ]


def test_two_people_swapping_places_in_one_file_is_no_loop():
    org_import(
        raw=org_csv({"email": "a@example.com"}, {"email": "b@example.com", "manager_email": "a@example.com"}),
        today=TODAY,
    )

    result = org_import(
        raw=org_csv({"email": "a@example.com", "manager_email": "b@example.com"}, {"email": "b@example.com"}),
        today=TODAY,
    )

    assert managers() == {"a@example.com": "b@example.com", "b@example.com": None}
    assert result.warnings == []


def test_two_people_naming_each_other_keeps_the_first_line():
    result = org_import(
        raw=org_csv(
            {"email": "a@example.com", "manager_email": "b@example.com"},
            {"email": "b@example.com", "manager_email": "a@example.com"},
        ),
        today=TODAY,
    )

    assert managers() == {"a@example.com": "b@example.com", "b@example.com": None}
    assert result.warnings == [
        "line 3: manager_email a@example.com reports to b@example.com, which would make a loop; manager left as it was"
    ]


def test_a_team_change_moves_the_rollup_from_the_change_day(usage_by_email):
    org_import(raw=org_csv({"email": "ada@example.com", "team": "Platform"}), today=date(2026, 1, 1))
    usage_by_email("ada@example.com", ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04"])

    org_import(raw=org_csv({"email": "ada@example.com", "team": "Research"}), today=date(2026, 10, 3))

    assert rollup_teams("ada@example.com") == {
        date(2026, 10, 1): "Platform",
        date(2026, 10, 2): "Platform",
        date(2026, 10, 3): "Research",
        date(2026, 10, 4): "Research",
    }


def test_usage_on_a_leavers_last_day_stays_with_their_team(usage_by_email):
    org_import(raw=org_csv({"email": "ada@example.com"}), today=date(2026, 1, 1))
    usage_by_email("ada@example.com", ["2026-10-02", "2026-10-03"])

    org_import(raw=org_csv({"email": "ada@example.com", "end_date": "2026-10-02"}), today=TODAY)

    assert rollup_teams("ada@example.com") == {date(2026, 10, 2): "Platform", date(2026, 10, 3): None}


# Matching and validation


def test_emails_match_case_insensitively():
    existing = EngineerFactory(email="ada.lovelace@example.com", team=TeamFactory(name="Platform"))

    result = org_import(
        raw=org_csv(
            {"email": "  Ada.Lovelace@EXAMPLE.com ", "name": "Ada Lovelace", "team": "Platform"},
            {"email": "grace@example.com", "manager_email": "ADA.LOVELACE@example.com"},
        ),
        today=TODAY,
    )

    assert (result.created, result.updated) == (1, 1)
    assert Engineer.objects.filter(email__iexact="ada.lovelace@example.com").count() == 1
    existing.refresh_from_db()
    assert existing.name == "Ada Lovelace"
    assert Engineer.objects.get(email="grace@example.com").manager == existing


def test_bad_rows_are_reported_with_their_line_and_good_rows_import():
    raw = org_csv(
        {"email": "good@example.com"},
        {"email": ""},
        {"email": "not-an-email"},
        {"email": "month@example.com", "start_date": "2026-13-01"},
        {"email": "backwards@example.com", "start_date": "2026-05-01", "end_date": "2026-04-30"},
        {"email": "GOOD@example.com"},
        {"email": "also.good@example.com", "manager_email": "nobody@example.com"},
    )

    result = org_import(raw=raw, today=TODAY)

    assert result.errors == [
        "line 3: email is empty",
        "line 4: email 'not-an-email' is not a valid email address",
        "line 5: start_date '2026-13-01' is not a date (expected YYYY-MM-DD)",
        "line 6: end_date 2026-04-30 is before start_date 2026-05-01",
        "line 7: email good@example.com appears again (first on line 2); row skipped",
    ]
    assert result.skipped == 5 and result.created == 2
    assert set(Engineer.objects.values_list("email", flat=True)) == {"good@example.com", "also.good@example.com"}
    assert result.warnings == [
        "line 8: manager_email nobody@example.com is nobody in this file or imported before; manager left as it was"
    ]


def test_a_row_with_a_stray_comma_is_reported_not_shifted():
    raw = org_csv({"email": "good@example.com"}) + b"E9,smith@example.com,Smith, John,,Platform,,,,,,\n"

    result = org_import(raw=raw, today=TODAY)

    assert result.errors == ["line 3: 12 values where the header has 11 columns"]
    assert list(Engineer.objects.values_list("email", flat=True)) == ["good@example.com"]


def test_a_file_missing_a_column_is_refused_whole():
    raw = b"employee_id,email,name,title,parent_team,manager_email,cost_center,github_login,start_date,end_date\n"
    raw += b"E1,ada@example.com,Ada,,,,,,2024-01-01,\n"

    with pytest.raises(ParseError, match="line 1: the header has no column team"):
        org_import(raw=raw, today=TODAY)
    assert not Engineer.objects.exists()


def test_a_file_that_is_not_utf8_is_refused_whole():
    raw = org_csv({"email": "ada@example.com", "name": "Zoë"}).decode().encode("latin-1")

    with pytest.raises(ParseError, match="not UTF-8"):
        org_import(raw=raw, today=TODAY)
    assert not Engineer.objects.exists()


def test_a_byte_order_mark_and_header_case_are_accepted():
    raw = "\ufeff" + org_csv({"email": "ada@example.com"}).decode().replace(
        "employee_id,email", "Employee_ID, Email", 1
    )

    assert org_import(raw=raw.encode(), today=TODAY).created == 1


# Vendor identities


def test_identities_map_to_engineers_case_insensitively():
    org_import(raw=sample_org(), today=TODAY)
    raw = identities_csv(
        (" Anthropic ", "API_KEY_ID", "apikey_X1", "Bjarne.Liskov@Example.com"),
        ("openai", "user_id", "user-1", "anita.goldwasser@example.com"),
    )

    result = identities_import(raw=raw)

    assert (result.created, result.repointed, result.unchanged, result.errors) == (2, 0, 0, [])
    identity = VendorIdentity.objects.get(external_id="apikey_X1")
    assert (identity.vendor, identity.kind, identity.engineer.email) == (
        "anthropic",
        "api_key_id",
        "bjarne.liskov@example.com",
    )


def test_the_sample_identities_import_and_reimport_changes_nothing():
    org_import(raw=sample_org(), today=TODAY)
    raw = (SAMPLES / "identities.csv").read_bytes()

    assert identities_import(raw=raw).created == 15
    again = identities_import(raw=raw)

    assert (again.created, again.repointed, again.unchanged) == (0, 0, 15)
    assert VendorIdentity.objects.count() == 15


def test_an_unknown_email_in_identities_is_reported():
    EngineerFactory(email="ada@example.com")
    raw = identities_csv(
        ("anthropic", "api_key_id", "k1", "ada@example.com"), ("anthropic", "api_key_id", "k2", "ghost@example.com")
    )

    result = identities_import(raw=raw)

    assert result.errors == ["line 3: no engineer with email ghost@example.com (import the org chart first)"]
    assert list(VendorIdentity.objects.values_list("external_id", flat=True)) == ["k1"]


def test_an_identity_of_someone_else_is_repointed_and_reported():
    identity = VendorIdentityFactory(
        vendor="anthropic", kind="api_key_id", external_id="k1", engineer__email="ada@example.com"
    )
    grace = EngineerFactory(email="grace@example.com")

    result = identities_import(raw=identities_csv(("anthropic", "api_key_id", "k1", "grace@example.com")))

    identity.refresh_from_db()
    assert identity.engineer == grace and result.repointed == 1
    assert result.warnings == ["line 2: anthropic:api_key_id:k1 moved from ada@example.com to grace@example.com"]


def test_mapping_an_identity_moves_its_unmapped_usage(django_capture_on_commit_callbacks):
    ada = EngineerFactory(email="ada@example.com", team=TeamFactory(name="Platform"))
    header = "day,vendor,product,model,identity_kind,identity_value,input_uncached_tokens,output_tokens\n"
    with django_capture_on_commit_callbacks(execute=True):
        import_batch_create(
            filename="u.csv", raw=(header + "2026-10-01,openai,api,gpt-5,user_id,user-9,1000,10\n").encode()
        )
    assert DailyUsage.objects.get().engineer is None

    result = identities_import(raw=identities_csv(("openai", "user_id", "user-9", "ADA@example.com")))

    assert result.usage_rows_moved == 1
    assert (DailyUsage.objects.get().engineer, DailyUsage.objects.get().team.name) == (ada, "Platform")


def test_identities_missing_a_column_are_refused_whole():
    with pytest.raises(ParseError, match="line 1: the header has no column email"):
        identities_import(raw=b"vendor,kind,external_id\nanthropic,api_key_id,k1\n")


# Management commands


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_org_prints_people_teams_and_team_changes():
    out, err = run("import_org", str(SAMPLES / "org.csv"), "--today", "2026-11-02")

    assert out == "org.csv: 12 people (12 created, 0 updated, 0 unchanged), 3 teams created, 0 team changes\n"
    assert err == ""


def test_import_org_refuses_a_file_missing_a_column_and_exits_non_zero(tmp_path):
    path = tmp_path / "org.csv"
    path.write_bytes(b"email,name\nada@example.com,Ada\n")

    with pytest.raises(
        CommandError, match="org.csv refused, nothing imported: line 1: the header has no column employee_id"
    ):
        run("import_org", str(path))
    assert not Engineer.objects.exists()


def test_import_org_lists_bad_rows_on_stderr_exits_non_zero_and_keeps_the_good_rows(tmp_path):
    path = tmp_path / "org.csv"
    path.write_bytes(org_csv({"email": "ada@example.com"}, {"email": "bad"}))
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="1 row skipped"):
        call_command("import_org", str(path), stdout=out, stderr=err)

    assert out.getvalue().startswith("org.csv: 1 people (1 created")
    assert "line 3: email 'bad' is not a valid email address" in err.getvalue()
    assert Engineer.objects.filter(email="ada@example.com").exists()


def test_import_org_names_a_missing_file():
    with pytest.raises(CommandError, match="no such file: nope.csv"):
        run("import_org", "nope.csv")


def test_import_identities_prints_what_it_mapped():
    run("import_org", str(SAMPLES / "org.csv"))

    out, _ = run("import_identities", str(SAMPLES / "identities.csv"))

    assert (
        out == "identities.csv: 15 identities mapped, 0 re-pointed, 0 unchanged; 0 usage rows moved to their owners\n"
    )


def test_import_identities_exits_non_zero_on_an_unknown_email(tmp_path):
    path = tmp_path / "identities.csv"
    path.write_bytes(identities_csv(("anthropic", "api_key_id", "k1", "ghost@example.com")))
    err = io.StringIO()

    with pytest.raises(CommandError, match="1 row skipped"):
        call_command("import_identities", str(path), stdout=io.StringIO(), stderr=err)
    assert "line 2: no engineer with email ghost@example.com (import the org chart first)" in err.getvalue()


def test_a_mapping_of_a_kind_its_vendor_never_uses_is_kept_with_a_warning():
    ada = EngineerFactory(email="ada@example.com")
    VendorIdentityFactory(vendor="anthropic", kind="api_key_id", external_id="apikey_1", engineer=ada)

    result = identities_import(
        raw=identities_csv(
            ("anthropic", "api_key", "apikey_2", "ada@example.com"),  # a typo of api_key_id
            ("anthropic", "api_key_id", "apikey_3", "ada@example.com"),
            ("cursor", "email", "ada@example.com", "ada@example.com"),  # a vendor with nothing yet
        )
    )

    assert result.created == 3
    assert result.warnings == [
        "line 2: no anthropic identity so far is of kind 'api_key' (seen: api_key_id); mapped anyway, "
        "but check the spelling: it matches no usage yet"
    ]
