"""The foundation's acceptance check: a company's org chart, identities and every export it
has in the formats of the foundation give exactly the totals of its expected.json.

Runs on ../shared/samples/company-small and on every other folder named in the environment
variable TOKENBOARD_ACCEPTANCE_DIRS (colon-separated) with the same layout.
"""

import io
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum

from tests.conftest import SAMPLES
from usage.importers.base import ParseError
from usage.importers.registry import detect_format
from usage.models import DailyUsage, ImportBatch, UsageRecord

FOUNDATION_FORMATS = {"anthropic_usage", "anthropic_cost", "claude_code_analytics", "openai_usage", "openai_costs"}
DIRS = [SAMPLES, *(Path(p) for p in os.environ.get("TOKENBOARD_ACCEPTANCE_DIRS", "").split(":") if p)]


def exports(folder: Path) -> tuple[list[Path], list[Path]]:
    """(files of the foundation's formats, files that cannot be parsed at all)."""
    readable, broken = [], []
    for path in sorted(folder.iterdir()):
        if (
            path.name in {"org.csv", "identities.csv"}
            or "expected" in path.name
            or path.suffix not in {".json", ".csv", ".ndjson"}
        ):
            continue
        try:
            if detect_format(path.read_bytes()) in FOUNDATION_FORMATS:
                readable.append(path)
        except ParseError as exc:
            if "not valid JSON" in str(exc) or "not UTF-8" in str(exc):
                broken.append(path)
    return readable, broken


def import_company(folder: Path, files: list[Path], broken: list[Path]) -> None:
    call_command("import_org", str(folder / "org.csv"), stdout=io.StringIO())
    call_command("import_identities", str(folder / "identities.csv"), stdout=io.StringIO())
    call_command("import_usage", *map(str, files), stdout=io.StringIO(), stderr=io.StringIO())
    for path in broken:
        with pytest.raises(CommandError):
            call_command("import_usage", str(path), stdout=io.StringIO(), stderr=io.StringIO())


def report(month: str) -> dict:
    out = io.StringIO()
    call_command("usage_report", month=month, by="engineer", format="json", stdout=out)
    return {row["engineer"]: row for row in json.loads(out.getvalue())}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("folder", DIRS, ids=lambda p: p.name)
def test_a_company_imports_to_exactly_its_expected_totals_and_a_second_import_changes_nothing(folder):
    if not (folder / "expected.json").exists():
        pytest.skip(f"no expected.json in {folder}")
    expected = json.loads((folder / "expected.json").read_text())
    files, broken = exports(folder)
    import_company(folder, files, broken)

    rows = report(expected["month"])
    for email, want in expected["engineers"].items():
        got = rows.get(email)
        assert got is not None, f"{email} has no usage"
        assert got["tokens"] == want["tokens"], email
        assert Decimal(got["cost_usd"]) == pytest.approx(Decimal(want["cost_usd"]), rel=Decimal("0.005")), email
    assert set(rows) - {None} == set(expected["engineers"])
    unmapped = rows.get(None, {"tokens": 0, "cost_usd": "0"})
    assert unmapped["tokens"] == expected["unmapped"]["tokens"]
    assert Decimal(unmapped["cost_usd"]) == pytest.approx(
        Decimal(expected["unmapped"]["cost_usd"]), rel=Decimal("0.005")
    )
    if "attributed_cost_usd" in expected:
        attributed = sum(Decimal(r["cost_usd"]) for k, r in rows.items() if k)
        assert attributed == pytest.approx(Decimal(expected["attributed_cost_usd"]), rel=Decimal("0.005"))

    # Broken files were refused whole: no batch of theirs stored a row.
    failed = ImportBatch.objects.filter(status="failed")
    assert failed.count() == len(broken)
    assert not UsageRecord.objects.filter(batch__in=failed).exists()

    # Everything a second time: duplicates, and not one number moves.
    before = (UsageRecord.objects.count(), DailyUsage.objects.aggregate(t=Sum("tokens"), c=Sum("cost_usd")))
    import_company(folder, files, broken)
    assert (UsageRecord.objects.count(), DailyUsage.objects.aggregate(t=Sum("tokens"), c=Sum("cost_usd"))) == before
    assert report(expected["month"]) == rows


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("folder", DIRS, ids=lambda p: p.name)
def test_usage_imported_before_the_org_chart_and_identities_ends_at_the_same_totals(folder):
    """Exports often arrive first: their usage waits unmapped, and the org chart and identity
    imports that come later move it to its people, to the same report."""
    if not (folder / "expected.json").exists():
        pytest.skip(f"no expected.json in {folder}")
    expected = json.loads((folder / "expected.json").read_text())
    files, _ = exports(folder)
    call_command("import_usage", *map(str, files), stdout=io.StringIO(), stderr=io.StringIO())
    total = DailyUsage.objects.aggregate(t=Sum("tokens"))["t"]
    assert report(expected["month"]).keys() == {None}  # nobody known yet: all of it unmapped

    out = io.StringIO()
    call_command("import_org", str(folder / "org.csv"), stdout=out)
    assert "unmapped usage rows claimed" in out.getvalue()  # the people the exports named by email
    call_command("import_identities", str(folder / "identities.csv"), stdout=io.StringIO())

    rows = report(expected["month"])
    for email, want in expected["engineers"].items():
        assert rows[email]["tokens"] == want["tokens"], email
        assert Decimal(rows[email]["cost_usd"]) == pytest.approx(Decimal(want["cost_usd"]), rel=Decimal("0.005")), email
    assert rows.get(None, {"tokens": 0})["tokens"] == expected["unmapped"]["tokens"]
    assert DailyUsage.objects.aggregate(t=Sum("tokens"))["t"] == total  # moved, not added
