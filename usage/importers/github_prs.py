"""A GitHub pull-request export CSV: `repo,number,author_login,created_at,merged_at,additions,deletions`.

Impact source, one row per pull request (docs/impact.md). Quirks:
- `merged_at` is empty for a PR that is open or was closed unmerged: it counts as opened only;
- times are ISO 8601 with `Z` (the API's form) or an offset; a time without one is refused;
- logins are case-insensitive on GitHub: lower-cased here, matched to Engineer.github_login;
  an unknown login (a contractor, `dependabot[bot]`) is kept as unmapped;
- a PR exported again (an overlapping window, or merged since) replaces its rows: the natural
  key is (repo, number, metric), not the day.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .base import ParsedExport, ParseError, Rejection, impact_frame, natural_key, non_negative_int
from .readers import find_columns, header_names, read_csv

FORMAT = "github_prs"
DATASET = "github_prs"
COLUMNS = {
    "repo": ("repo", "repository"),
    "number": ("number", "pr_number"),
    "author_login": ("author_login", "author"),
    "created_at": ("created_at",),
    "merged_at": ("merged_at",),
    "additions": ("additions",),
    "deletions": ("deletions",),
}


DETECT_COLUMNS = ("repo", "number", "author_login", "merged_at")
WHAT = "a GitHub pull-request export"


def detect_bytes(head: bytes) -> bool:
    return set(DETECT_COLUMNS) <= header_names(head)


def parse(raw: bytes) -> ParsedExport:
    header, csv_rows, rejections = read_csv(raw, what="pull-request export")
    columns = find_columns(header, COLUMNS, required=tuple(COLUMNS), what="GitHub pull-request export")
    rows = []
    for csv_row in csv_rows:
        location = f"line {csv_row.line}"
        values = {ours: csv_row.values[theirs] for ours, theirs in columns.items()}
        try:
            rows.extend(_rows(values, location))
        except ValueError as exc:
            rejections.append(Rejection(location, str(exc), ",".join(csv_row.values.values())[:500]))
    if not rows and not rejections:
        raise ParseError("the pull-request export has a header but no rows")
    return ParsedExport(FORMAT, DATASET, "impact", impact_frame(rows), rejections)


def _rows(values: dict[str, str], location: str) -> list[dict]:
    repo = values["repo"]
    if not repo:
        raise ValueError("repo is empty")
    if not values["number"].isdigit() or int(values["number"]) == 0:
        raise ValueError(f"number is not a PR number: {values['number']!r}")
    number = int(values["number"])
    login = values["author_login"].lower()
    if not login:
        raise ValueError("author_login is empty (a deleted GitHub account?): no one to attribute it to")
    created = _moment(values["created_at"], "created_at")
    merged = _moment(values["merged_at"], "merged_at") if values["merged_at"] else None
    if merged is not None and merged < created:
        raise ValueError(f"merged_at {values['merged_at']!r} is before created_at {values['created_at']!r}")
    additions = non_negative_int(values["additions"] or None, "additions")
    deletions = non_negative_int(values["deletions"] or None, "deletions")
    opened_on = created.date().isoformat()
    counts = [("prs_opened", opened_on, 1)]
    if merged is not None:
        merged_on = merged.date().isoformat()
        counts += [("prs_merged", merged_on, 1), ("pr_lines_added", merged_on, additions)]
        counts += [("pr_lines_removed", merged_on, deletions)]
    return [
        {
            "dedup_key": natural_key(repo.lower(), number, metric),
            "day": day,
            "window_start": opened_on if metric != "prs_opened" else None,
            "source": "github",
            "identity_kind": "github_login",
            "identity_value": login,
            "metric": metric,
            "value": value,
            "location": location,
        }
        for metric, day, value in counts
    ]


def _moment(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} is not an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{name} has no UTC offset: {text!r}; GitHub writes times ending in Z")
    return moment.astimezone(UTC)
