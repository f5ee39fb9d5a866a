"""OpenAI Admin API: completions usage, costs, and the user directory (user_id -> email).

Auth is `Authorization: Bearer <admin key>`. Reports page with `{data, has_more, next_page}`
and take unix seconds; the user list pages with `after=<last_id>`.
"""

from __future__ import annotations

import json
from datetime import date

from .base import Connector, Pull, day_bounds
from .client import ConnectorError, HttpClient, cursor_pages

BASE_URL = "https://api.openai.com/v1"
USAGE_GROUP_BY = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
MAX_USER_PAGES = 1000


def headers(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _window(day: date) -> list[tuple[str, str]]:
    start, end = day_bounds(day)
    return [
        ("start_time", str(int(start.timestamp()))),
        ("end_time", str(int(end.timestamp()))),
        ("bucket_width", "1d"),
    ]


def _page(buckets: list) -> bytes:
    return json.dumps({"object": "page", "data": buckets, "has_more": False, "next_page": None}).encode()


def _results(buckets: list) -> int:
    return sum(len(b.get("results") or []) for b in buckets if isinstance(b, dict))


def pull_usage(client: HttpClient, account: str, day: date) -> Pull:
    params = _window(day) + [("group_by", g) for g in USAGE_GROUP_BY]
    buckets = cursor_pages(client, "/organization/usage/completions", params)
    return Pull("openai_usage", _page(buckets), _results(buckets))


def pull_costs(client: HttpClient, account: str, day: date) -> Pull:
    params = _window(day) + [("group_by", "project_id"), ("group_by", "line_item")]
    buckets = cursor_pages(client, "/organization/costs", params)
    return Pull("openai_costs", _page(buckets), _results(buckets))


def pull_users(client: HttpClient, account: str, day: date) -> Pull:
    """Every member of the organization as {id, email}: the usage report names users by id only."""
    users, after = [], None
    for _ in range(MAX_USER_PAGES):
        doc = client.get_json("/organization/users", [("limit", "100")] + ([("after", after)] if after else []))
        data = doc.get("data")
        if not isinstance(data, list):
            raise ConnectorError("GET /organization/users: the answer has no data list")
        users += [{"id": u["id"], "email": u.get("email") or ""} for u in data if isinstance(u, dict) and u.get("id")]
        if not doc.get("has_more"):
            return Pull("openai_users", json.dumps(users).encode(), len(users))
        after = doc.get("last_id") or (data[-1].get("id") if data else None)
        if not after:
            raise ConnectorError("GET /organization/users: has_more is true but there is no last_id")
    raise ConnectorError(f"GET /organization/users: still more pages after {MAX_USER_PAGES}; stopped")


CONNECTORS = [
    Connector("openai_usage", BASE_URL, headers, pull_usage),
    Connector("openai_costs", BASE_URL, headers, pull_costs),
    Connector("openai_users", BASE_URL, headers, pull_users, windowed=False),
]
