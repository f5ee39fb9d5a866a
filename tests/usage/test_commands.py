import io
import json

import pytest
from django.core.management import CommandError, call_command

from tests.factories import EngineerFactory, TeamFactory, VendorIdentityFactory

pytestmark = pytest.mark.django_db(transaction=True)  # commands commit, so on_commit tasks run


def run(*args, **kwargs) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def owner():
    engineer = EngineerFactory(email="bjarne.liskov@example.com", team=TeamFactory(name="Platform"))
    VendorIdentityFactory(
        vendor="anthropic", kind="api_key_id", external_id="apikey_cd447e35b8b6d8fe", engineer=engineer
    )
    return engineer


def test_import_usage_prints_format_rows_unmapped_and_cost_per_file(owner, samples):
    out, _ = run("import_usage", str(samples / "anthropic_usage_report_p1.json"), str(samples / "openai_costs.json"))
    first, second = out.strip().splitlines()
    assert first.startswith("anthropic_usage_report_p1.json: anthropic_usage, 107 rows accepted, 0 rejected, ")
    assert "unmapped ($" in first and ", cost $" in first
    assert second.startswith("openai_costs.json: openai_costs, 31 rows accepted, 0 rejected")


def test_import_usage_exits_non_zero_when_a_file_fails_and_still_imports_the_others(owner, samples):
    with pytest.raises(CommandError, match="1 of 2 files failed"):
        run("import_usage", str(samples / "broken_usage_report.json"), str(samples / "anthropic_usage_report_p1.json"))
    out, _ = run("usage_report", month="2026-10", by="engineer", format="json")
    assert any(row["engineer"] == owner.email for row in json.loads(out))


def test_import_usage_says_a_second_import_is_a_duplicate(owner, samples):
    path = str(samples / "anthropic_usage_report_p1.json")
    run("import_usage", path)
    out, _ = run("import_usage", path)
    assert "already imported as batch #" in out and "nothing changed" in out


def test_import_usage_names_a_missing_file(db):
    with pytest.raises(CommandError, match="no such file: nope.json"):
        run("import_usage", "nope.json")


def test_usage_report_json_has_the_group_key_tokens_and_a_decimal_string(owner, samples):
    run("import_usage", str(samples / "anthropic_usage_report_p1.json"))
    out, _ = run("usage_report", month="2026-10", by="engineer", format="json")
    rows = json.loads(out)
    assert {tuple(sorted(r)) for r in rows} == {("cost_usd", "engineer", "tokens")}
    assert None in {r["engineer"] for r in rows}  # unmapped usage
    assert all(isinstance(r["tokens"], int) and isinstance(r["cost_usd"], str) for r in rows)


@pytest.mark.parametrize("by", ["team", "vendor", "model"])
def test_usage_report_groups_by_team_vendor_and_model(owner, samples, by):
    run("import_usage", str(samples / "anthropic_usage_report_p1.json"))
    out, _ = run("usage_report", month="2026-10", by=by, format="json")
    assert all(by in row for row in json.loads(out))


def test_usage_report_table_is_aligned_with_compact_tokens_and_dollars(owner, samples):
    run("import_usage", str(samples / "anthropic_usage_report_p1.json"))
    out, _ = run("usage_report", month="2026-10", by="engineer")
    lines = out.splitlines()
    assert lines[0].split() == ["engineer", "tokens", "cost"]
    assert "(unmapped)" in out and "TOTAL" in lines[-1]
    assert len({len(line) for line in lines if not line.startswith("-")}) == 1  # aligned columns
    assert "M " in out or "B " in out
    assert "$" in lines[-1] and "." in lines[-1]


def test_usage_report_csv_has_a_header(owner, samples):
    run("import_usage", str(samples / "anthropic_usage_report_p1.json"))
    out, _ = run("usage_report", month="2026-10", by="vendor", format="csv")
    assert out.splitlines()[0] == "vendor,tokens,cost_usd"


def test_usage_report_refuses_a_malformed_month(db):
    with pytest.raises(CommandError, match="--month must look like 2026-10"):
        run("usage_report", month="2026-13")


def test_usage_report_says_what_to_do_for_an_empty_month(db):
    out, _ = run("usage_report", month="2020-01")
    assert "No usage in 2020-01" in out
