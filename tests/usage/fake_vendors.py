"""Fake vendor APIs for the connector tests: the documented payloads, served page by page.

Data is held per UTC day; each API pages in its own style (Anthropic and OpenAI reports:
has_more/next_page cursors; OpenAI users: after=<last_id>; Cursor: page numbers; Copilot:
download links to NDJSON). `faults` injects answers: (path fragment, status | "truncate",
Retry-After or None), each used once, matched in order.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime


def anthropic_result(key: str, uncached: int = 1_000_000, output: int = 0) -> dict:
    return {
        "uncached_input_tokens": uncached,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "cache_read_input_tokens": 0,
        "output_tokens": output,
        "server_tool_use": {"web_search_requests": 0},
        "api_key_id": key,
        "account_id": None,
        "workspace_id": "wrkspc_1",
        "model": "claude-sonnet-4-5",
        "service_tier": "standard",
        "context_window": "0-200k",
        "inference_geo": "global",
    }


def cost_result(cents: str) -> dict:
    return {
        "amount": cents,
        "currency": "USD",
        "cost_type": "tokens",
        "description": "Claude Sonnet 4.5 Usage - Input Tokens",
        "token_type": "uncached_input_tokens",
        "model": "claude-sonnet-4-5",
        "service_tier": "standard",
        "context_window": "0-200k",
        "inference_geo": "global",
        "workspace_id": None,
    }


def claude_code_record(day: date, email: str, cents: int = 186) -> dict:
    return {
        "actor": {"type": "user_actor", "email_address": email},
        "core_metrics": {"commits_by_claude_code": 1, "lines_of_code": {"added": 10, "removed": 2}, "num_sessions": 1},
        "customer_type": "api",
        "date": f"{day.isoformat()}T00:00:00Z",
        "model_breakdown": [
            {
                "estimated_cost": {"amount": cents, "currency": "USD"},
                "model": "claude-sonnet-4-20250514",
                "tokens": {"cache_creation": 0, "cache_read": 0, "input": 45230, "output": 12450},
            }
        ],
        "organization_id": "12345678-1234-5678-1234-567812345678",
        "terminal_type": "iTerm.app",
        "tool_actions": {},
    }


def openai_usage_result(user: str, input_tokens: int = 5000) -> dict:
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": input_tokens,
        "input_cached_tokens": 0,
        "output_tokens": 1000,
        "num_model_requests": 5,
        "project_id": "proj_abc",
        "user_id": user,
        "api_key_id": "key_abc",
        "model": "gpt-4o-mini-2024-07-18",
        "batch": False,
        "service_tier": "default",
    }


def openai_cost_result(dollars: float, line_item: str) -> dict:
    return {
        "object": "organization.costs.result",
        "amount": {"value": dollars, "currency": "usd"},
        "line_item": line_item,
        "project_id": "proj_abc",
        "api_key_id": None,
        "quantity": None,
        "quantity_unit": None,
    }


def cursor_event(day: date, email: str, cents: float, minute: int) -> dict:
    moment = datetime(day.year, day.month, day.day, 10, minute, tzinfo=UTC)
    return {
        "timestamp": str(int(moment.timestamp() * 1000)),
        "model": "claude-4-sonnet",
        "kind": "Usage-based",
        "maxMode": False,
        "requestsCosts": 1.0,
        "isTokenBasedCall": True,
        "tokenUsage": {
            "inputTokens": 100,
            "outputTokens": 50,
            "cacheWriteTokens": 0,
            "cacheReadTokens": 0,
            "totalCents": cents,
        },
        "isFreeBugbot": False,
        "userEmail": email,
    }


def copilot_record(day: date, login: str, prompt_tokens: int = 1000) -> dict:
    return {
        "day": day.isoformat(),
        "organization_id": "77",
        "user_id": abs(hash(login)) % 10_000_000,
        "user_login": login,
        "totals_by_cli": {
            "session_count": 1,
            "request_count": 3,
            "prompt_count": 2,
            "token_usage": {"prompt_tokens_sum": prompt_tokens, "output_tokens_sum": 100},
        },
    }


class FakeVendors:
    def __init__(self, page_size: int = 2) -> None:
        self.page_size = page_size
        self.data: dict[str, dict[date, list]] = defaultdict(dict)  # kind -> day -> items
        self.users: list[dict] = []  # OpenAI organization users
        self.faults: list[tuple[str, int | str, str | None]] = []
        self.base_url = ""

    def add(self, kind: str, day: date, items: list) -> None:
        self.data[kind][day] = items

    # -- the server's answer ------------------------------------------------------------
    def respond(self, method: str, path: str, query: dict, headers: dict, body: bytes):
        where = f"{path}?{query}"  # a fault can name a path or a query value
        for i, (fragment, fault, retry_after) in enumerate(self.faults):
            if fragment in where:
                del self.faults[i]
                if fault == "truncate":
                    return 200, {"Content-Length": "5000"}, b'{"data": [{"starting_at": "2026'
                extra = {"Retry-After": retry_after} if retry_after else {}
                return fault, extra, json.dumps({"error": {"type": "fault"}}).encode()
        handler = {
            "/v1/organizations/usage_report/messages": self._anthropic_buckets("anthropic_usage"),
            "/v1/organizations/cost_report": self._anthropic_buckets("anthropic_cost"),
            "/v1/organizations/usage_report/claude_code": self._claude_code,
            "/organization/usage/completions": self._openai_buckets("openai_usage"),
            "/organization/costs": self._openai_buckets("openai_costs"),
            "/organization/users": self._openai_users,
            "/teams/filtered-usage-events": self._cursor,
            "/orgs/acme/copilot/metrics/reports/users-1-day": self._copilot_report,
        }.get(path)
        if path.startswith("/download/"):
            return self._copilot_download(path)
        if handler is None:
            return 404, {}, b'{"error": "not found"}'
        return handler(query=query, headers=headers, body=body)

    def _page(self, items: list, token: str | None) -> tuple[list, str | None]:
        start = int(token or 0)
        end = start + self.page_size
        return items[start:end], (str(end) if end < len(items) else None)

    def _anthropic_buckets(self, kind: str):
        def answer(*, query, **_):
            day = date.fromisoformat(query["starting_at"][0][:10])
            results, next_page = self._page(self.data[kind].get(day, []), (query.get("page") or [None])[0])
            bucket = {
                "starting_at": f"{day}T00:00:00Z",
                "ending_at": f"{day.fromordinal(day.toordinal() + 1)}T00:00:00Z",
            }
            doc = {"data": [{**bucket, "results": results}], "has_more": next_page is not None, "next_page": next_page}
            return 200, {}, json.dumps(doc).encode()

        return answer

    def _claude_code(self, *, query, **_):
        day = date.fromisoformat(query["starting_at"][0])
        records, next_page = self._page(
            self.data["claude_code_analytics"].get(day, []), (query.get("page") or [None])[0]
        )
        return (
            200,
            {},
            json.dumps({"data": records, "has_more": next_page is not None, "next_page": next_page}).encode(),
        )

    def _openai_buckets(self, kind: str):
        def answer(*, query, **_):
            start = int(query["start_time"][0])
            day = datetime.fromtimestamp(start, UTC).date()
            results, next_page = self._page(self.data[kind].get(day, []), (query.get("page") or [None])[0])
            bucket = {"object": "bucket", "start_time": start, "end_time": start + 86400, "results": results}
            doc = {"object": "page", "data": [bucket], "has_more": next_page is not None, "next_page": next_page}
            return 200, {}, json.dumps(doc).encode()

        return answer

    def _openai_users(self, *, query, **_):
        after = (query.get("after") or [None])[0]
        start = next((i + 1 for i, u in enumerate(self.users) if u["id"] == after), 0)
        page = self.users[start : start + self.page_size]
        more = start + self.page_size < len(self.users)
        doc = {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
               "last_id": page[-1]["id"] if page else None, "has_more": more}  # fmt: skip
        return 200, {}, json.dumps(doc).encode()

    def _cursor(self, *, body, **_):
        request = json.loads(body)
        day = datetime.fromtimestamp(request["startDate"] / 1000, UTC).date()
        events = self.data["cursor_events"].get(day, [])
        size, page = self.page_size, request["page"]
        pages = max(1, -(-len(events) // size))
        doc = {
            "totalUsageEventsCount": len(events),
            "pagination": {"numPages": pages, "currentPage": page, "pageSize": size, "hasNextPage": page < pages},
            "usageEvents": events[(page - 1) * size : page * size],
        }
        return 200, {}, json.dumps(doc).encode()

    def _copilot_report(self, *, query, **_):
        day = date.fromisoformat(query["day"][0])
        records = self.data["copilot_metrics"].get(day, [])
        # Two files a day when there are enough records: the connector joins them.
        halves = _files(records)
        links = [f"{self.base_url}/download/{day}/{i}.ndjson?sig=secret" for i in range(len(halves))]
        return 200, {}, json.dumps({"download_links": links, "report_day": day.isoformat()}).encode()

    def _copilot_download(self, path: str):
        _, _, day, name = path.split("/")
        records = self.data["copilot_metrics"].get(date.fromisoformat(day), [])
        halves = _files(records)
        part = halves[int(name.split(".")[0])]
        return 200, {"Content-Type": "application/x-ndjson"}, "".join(json.dumps(r) + "\n" for r in part).encode()


def _files(records: list) -> list[list]:
    """A day's report as download files: two when there are enough records, none when empty."""
    if len(records) > 1:
        return [records[: len(records) // 2], records[len(records) // 2 :]]
    return [records] if records else []
