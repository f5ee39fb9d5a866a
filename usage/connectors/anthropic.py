"""Anthropic Admin API: usage report, cost report, Claude Code analytics.

Auth is an Admin key in `x-api-key` plus `anthropic-version`. All three page with
`{data, has_more, next_page}` and a `page` cursor. The Claude Code report takes one day per call.
"""

from __future__ import annotations

import json
from datetime import date

from .base import Connector, Pull, day_bounds, rfc3339
from .client import HttpClient, cursor_pages

BASE_URL = "https://api.anthropic.com"
USAGE_GROUP_BY = (
    "api_key_id",
    "workspace_id",
    "account_id",
    "service_account_id",
    "model",
    "service_tier",
    "context_window",
)


def headers(secret: str) -> dict[str, str]:
    return {"x-api-key": secret, "anthropic-version": "2023-06-01"}


def _report(buckets: list) -> bytes:
    return json.dumps({"data": buckets, "has_more": False, "next_page": None}).encode()


def _results(buckets: list) -> int:
    return sum(len(b.get("results") or []) for b in buckets if isinstance(b, dict))


def pull_usage(client: HttpClient, account: str, day: date) -> Pull:
    start, end = day_bounds(day)
    params = [("starting_at", rfc3339(start)), ("ending_at", rfc3339(end)), ("bucket_width", "1d")]
    params += [("group_by[]", g) for g in USAGE_GROUP_BY]
    buckets = cursor_pages(client, "/v1/organizations/usage_report/messages", params)
    return Pull("anthropic_usage", _report(buckets), _results(buckets))


def pull_cost(client: HttpClient, account: str, day: date) -> Pull:
    start, end = day_bounds(day)
    params = [("starting_at", rfc3339(start)), ("ending_at", rfc3339(end)), ("bucket_width", "1d")]
    params += [("group_by[]", "workspace_id"), ("group_by[]", "description")]
    buckets = cursor_pages(client, "/v1/organizations/cost_report", params)
    return Pull("anthropic_cost", _report(buckets), _results(buckets))


def pull_claude_code(client: HttpClient, account: str, day: date) -> Pull:
    # One day per call, as YYYY-MM-DD; records are flat (one per actor), not buckets.
    params = [("starting_at", day.isoformat()), ("limit", "1000")]
    records = cursor_pages(client, "/v1/organizations/usage_report/claude_code", params)
    return Pull("claude_code_analytics", _report(records), len(records))


CONNECTORS = [
    Connector("anthropic_usage", BASE_URL, headers, pull_usage),
    Connector("anthropic_cost", BASE_URL, headers, pull_cost),
    Connector("claude_code_analytics", BASE_URL, headers, pull_claude_code),
]
