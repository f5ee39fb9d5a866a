"""Impact sources: the GitHub PR export, Claude Code core_metrics, the generic impact CSV."""

import json
from datetime import date

import pytest
from django.db.models import Sum

from tests.factories import EngineerFactory
from usage.importers import claude_code_analytics, generic_impact, github_prs
from usage.importers.base import ParseError
from usage.importers.registry import detect_format
from usage.models import DailyUsage, ImpactRecord, RejectedRow
from usage.services.ingest import import_batch_create, import_batch_process
from usage.services.org import org_import

pytestmark = pytest.mark.django_db

PR_HEADER = "repo,number,author_login,created_at,merged_at,additions,deletions\n"


def pr_csv(*lines: str) -> bytes:
    return (PR_HEADER + "".join(f"{line}\n" for line in lines)).encode()


@pytest.fixture
def ingest(django_capture_on_commit_callbacks):
    def run(raw: bytes, filename="export.csv", **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            batch = import_batch_create(filename=filename, raw=raw, **kwargs)
        batch.refresh_from_db()
        return batch

    return run


def metrics(**filters) -> dict[str, int]:
    rows = ImpactRecord.objects.filter(**filters).values("metric").annotate(total=Sum("value"))
    return {row["metric"]: row["total"] for row in rows}


# --- parsing (pure) ---------------------------------------------------------------------------


def test_a_merged_pr_counts_as_opened_on_its_first_day_and_merged_with_its_lines_on_the_merge_day():
    parsed = github_prs.parse(pr_csv("acme/api,12,Ada-L,2026-10-01T09:00:00Z,2026-10-03T23:30:00-02:00,120,30"))
    rows = {row["metric"]: row for row in parsed.frame.to_dict("records")}
    assert parsed.role == "impact" and not parsed.rejections
    assert rows["prs_opened"]["day"] == "2026-10-01" and rows["prs_opened"]["window_start"] is None
    # 23:30 at -02:00 is 01:30 UTC the next day: days are UTC.
    assert rows["prs_merged"]["day"] == "2026-10-04" and rows["prs_merged"]["window_start"] == "2026-10-01"
    assert (rows["pr_lines_added"]["value"], rows["pr_lines_removed"]["value"]) == (120, 30)
    assert {row["identity_value"] for row in rows.values()} == {"ada-l"}  # logins are case-insensitive


def test_an_unmerged_pr_counts_as_opened_only():
    parsed = github_prs.parse(pr_csv("acme/api,13,ada,2026-10-01T09:00:00Z,,5,1"))
    assert list(parsed.frame["metric"]) == ["prs_opened"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("acme/api,x1,ada,2026-10-01T09:00:00Z,,1,1", "number is not a PR number"),
        ("acme/api,14,,2026-10-01T09:00:00Z,,1,1", "author_login is empty"),
        ("acme/api,15,ada,2026-10-01 09:00:00,,1,1", "created_at has no UTC offset"),
        ("acme/api,16,ada,yesterday,,1,1", "created_at is not an ISO-8601 time"),
        ("acme/api,17,ada,2026-10-02T09:00:00Z,2026-10-01T09:00:00Z,1,1", "merged_at '2026-10-01T09:00:00Z' is before"),
        ("acme/api,18,ada,2026-10-01T09:00:00Z,2026-10-02T09:00:00Z,-4,1", "additions is negative"),
        ("acme/api,19,ada,2026-10-01T09:00:00Z,2026-10-02T09:00:00Z,1", "6 values for 7 columns"),
    ],
)
def test_a_bad_pr_row_is_rejected_with_its_line_and_reason(line, reason):
    parsed = github_prs.parse(pr_csv("acme/api,1,ada,2026-10-01T09:00:00Z,,1,1", line))
    assert len(parsed.rejections) == 1
    assert parsed.rejections[0].location == "line 3" and reason in parsed.rejections[0].reason


def test_a_pr_export_without_its_columns_fails_the_whole_file():
    with pytest.raises(ParseError, match="missing column"):
        github_prs.parse(b"repo,number,author_login,merged_at\nacme/api,1,ada,\n")


def test_pr_exports_and_impact_csvs_are_detected_from_their_header():
    assert detect_format(pr_csv("acme/api,1,ada,2026-10-01T09:00:00Z,,1,1")) == "github_prs"
    assert detect_format(b"email,day,metric,value\na@example.com,2026-10-01,commits,3\n") == "generic_impact"


def test_the_generic_impact_csv_refuses_unknown_metrics_and_bad_values():
    raw = b"email,day,metric,value\nA@Example.com,2026-10-01,Commits,3\nb@example.com,2026-10-01,vibes,3\n"
    raw += b"c@example.com,2026-13-01,commits,1\nd@example.com,2026-10-01,commits,1.5\nnobody,2026-10-01,commits,1\n"
    parsed = generic_impact.parse(raw)
    assert parsed.frame.to_dict("records")[0] | {"dedup_key": "", "location": ""} == {
        "dedup_key": "",
        "day": "2026-10-01",
        "window_start": None,
        "source": "generic",
        "identity_kind": "email",
        "identity_value": "a@example.com",
        "metric": "commits",
        "value": 3,
        "location": "",
    }
    reasons = {r.location: r.reason for r in parsed.rejections}
    assert "is not one of: prs_opened" in reasons["line 3"]
    assert "day is not a date" in reasons["line 4"]
    assert "value is not a whole number" in reasons["line 5"]
    assert "email is not an email address" in reasons["line 6"]


def test_claude_code_core_metrics_and_tool_actions_become_impact_rows(samples):
    parsed = claude_code_analytics.parse((samples / "claude_code_analytics.json").read_bytes())
    first = parsed.impact[parsed.impact["location"].str.startswith("data[0].")]
    values = dict(zip(first["metric"], first["value"], strict=True))
    assert values == {
        "ai_commits": 4,
        "ai_prs": 0,
        "ai_lines_added": 393,
        "ai_lines_removed": 104,
        "ai_sessions": 11,
        "ai_edits_accepted": 32,  # edit_tool 27 + write_tool 5; missing tools are 0
        "ai_edits_rejected": 0,
    }
    assert set(first["identity_value"]) == {"dennis.perlman@example.com"}


def test_a_malformed_core_metrics_block_is_rejected_but_the_usage_is_read():
    record = {
        "date": "2026-10-01T00:00:00Z",
        "actor": {"type": "user_actor", "email_address": "a@example.com"},
        "core_metrics": {"commits_by_claude_code": -1},
        "tool_actions": {"edit_tool": {"accepted": 2}},
        "model_breakdown": [{"model": "claude-sonnet-4-5", "tokens": {"input": 1, "output": 1}}],
    }
    parsed = claude_code_analytics.parse(json.dumps({"data": [record]}).encode())
    assert len(parsed.frame) == 1 and list(parsed.impact["metric"]) == ["ai_edits_accepted", "ai_edits_rejected"]
    assert [(r.location, r.reason) for r in parsed.rejections] == [
        ("data[0].core_metrics", "core_metrics.commits_by_claude_code is negative: -1")
    ]


# --- loading ----------------------------------------------------------------------------------


def test_pr_authors_map_through_github_login_and_unknown_logins_are_kept_unmapped(ingest):
    ada = EngineerFactory(email="ada@example.com", github_login="Ada-L")
    batch = ingest(
        pr_csv(
            "acme/api,1,ada-l,2026-10-01T09:00:00Z,2026-10-02T09:00:00Z,10,2",
            "acme/api,2,dependabot[bot],2026-10-01T09:00:00Z,2026-10-01T10:00:00Z,3,3",
            "acme/api,3,ada-l,not a time,,1,1",
        )
    )
    assert (batch.status, batch.format, batch.rows_accepted, batch.rows_unmapped, batch.rows_rejected) == (
        "done",
        "github_prs",
        8,
        4,
        1,
    )
    assert metrics(engineer=ada) == {"prs_opened": 1, "prs_merged": 1, "pr_lines_added": 10, "pr_lines_removed": 2}
    unmapped = ImpactRecord.objects.filter(engineer__isnull=True)
    assert set(unmapped.values_list("identity_kind", "identity_value")) == {("github_login", "dependabot[bot]")}
    assert RejectedRow.objects.get(batch=batch).location == "line 4"


def test_reimporting_a_pr_export_changes_nothing_and_a_later_merge_replaces_the_open_pr(ingest):
    EngineerFactory(github_login="ada")
    first = pr_csv("acme/api,1,ada,2026-10-01T09:00:00Z,,10,2")
    ingest(first)
    ingest(first)  # byte-identical: a duplicate batch
    ingest(first + b"\n")  # the same rows in other bytes: rewritten in place
    assert ImpactRecord.objects.count() == 1
    ingest(pr_csv("acme/api,1,ada,2026-10-01T09:00:00Z,2026-10-05T09:00:00Z,10,2"))
    assert metrics() == {"prs_opened": 1, "prs_merged": 1, "pr_lines_added": 10, "pr_lines_removed": 2}
    assert ImpactRecord.objects.get(metric="prs_merged").day == date(2026, 10, 5)


def test_the_same_pr_twice_in_one_file_counts_once_and_the_earlier_line_is_reported(ingest):
    batch = ingest(
        pr_csv(
            "acme/api,1,ada,2026-10-01T09:00:00Z,2026-10-02T09:00:00Z,10,2",
            "acme/api,1,ada,2026-10-01T09:00:00Z,2026-10-03T09:00:00Z,11,2",
        )
    )
    assert metrics() == {"prs_opened": 1, "prs_merged": 1, "pr_lines_added": 11, "pr_lines_removed": 2}
    assert {r.location for r in RejectedRow.objects.filter(batch=batch)} == {"line 2"}


def test_processing_a_batch_twice_changes_nothing(ingest):
    batch = ingest(b"email,day,metric,value\na@example.com,2026-10-01,commits,3\n")
    import_batch_process(batch_id=batch.pk)
    assert ImpactRecord.objects.count() == 1 and metrics() == {"commits": 3}


def test_a_login_added_to_the_org_chart_later_claims_its_unmapped_prs(ingest):
    ingest(pr_csv("acme/api,1,grace-h,2026-10-01T09:00:00Z,2026-10-02T09:00:00Z,10,2"))
    assert ImpactRecord.objects.filter(engineer__isnull=True).count() == 4
    org = "employee_id,email,name,title,team,parent_team,manager_email,cost_center,github_login,start_date,end_date\n"
    org += "E1,grace@example.com,Grace,Engineer,Platform,,,CC-1,Grace-H,2024-01-01,\n"
    org_import(raw=org.encode(), today=date(2026, 10, 1))
    assert ImpactRecord.objects.filter(engineer__email="grace@example.com").count() == 4


def test_importing_claude_code_analytics_loads_impact_and_leaves_usage_as_it_was(ingest, samples):
    raw = (samples / "claude_code_analytics.json").read_bytes()
    batch = ingest(raw, filename="claude_code_analytics.json")
    before = DailyUsage.objects.aggregate(tokens=Sum("tokens"), cost=Sum("cost_usd"))
    assert batch.status == "done" and batch.rows_rejected == 0
    # every record with core_metrics gives five rows, with tool_actions two more
    records = json.loads(raw)["data"]
    expected = sum(5 * ("core_metrics" in r) + 2 * ("tool_actions" in r) for r in records)
    assert ImpactRecord.objects.filter(dataset="claude_code_analytics").count() == expected
    ingest(raw + b" ", filename="again.json")
    assert ImpactRecord.objects.count() == expected
    assert DailyUsage.objects.aggregate(tokens=Sum("tokens"), cost=Sum("cost_usd")) == before


def test_mapping_a_github_identity_on_the_imports_page_claims_its_prs(ingest):
    from usage.services.identities import identity_map

    grace = EngineerFactory(email="grace@example.com", github_login="")
    ingest(pr_csv("acme/api,1,grace-at-home,2026-10-01T09:00:00Z,2026-10-02T09:00:00Z,10,2"))
    identity_map(
        vendor="github", kind="github_login", external_id="grace-at-home", engineer_email=grace.email, user=None
    )
    assert metrics(engineer=grace) == {"prs_opened": 1, "prs_merged": 1, "pr_lines_added": 10, "pr_lines_removed": 2}
