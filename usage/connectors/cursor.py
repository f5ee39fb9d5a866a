"""Cursor Admin API: `POST /teams/filtered-usage-events`, paged by page number (1-based).

Auth is HTTP Basic with the API key as the user name and no password. Times are epoch ms.
"""

from __future__ import annotations

import base64
import json
from datetime import date

from .base import Connector, Pull, day_bounds
from .client import ConnectorError, HttpClient

BASE_URL = "https://api.cursor.com"
PAGE_SIZE = 500
MAX_PAGES = 2000


def headers(secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{secret}:".encode()).decode()}


def pull_events(client: HttpClient, account: str, day: date) -> Pull:
    start, end = day_bounds(day)
    body = {"startDate": int(start.timestamp() * 1000), "endDate": int(end.timestamp() * 1000), "pageSize": PAGE_SIZE}
    events: list = []
    for page in range(1, MAX_PAGES + 1):
        doc = client.post_json("/teams/filtered-usage-events", {**body, "page": page})
        if not isinstance(doc.get("usageEvents"), list):
            raise ConnectorError("POST /teams/filtered-usage-events: the answer has no usageEvents list")
        events += doc["usageEvents"]
        pagination = doc.get("pagination") or {}
        more = pagination.get("hasNextPage")
        if more is None:  # older answers: only numPages
            more = page < int(pagination.get("numPages") or 0)
        if not more or not doc["usageEvents"]:
            raw = json.dumps({"totalUsageEventsCount": len(events), "usageEvents": events}).encode()
            return Pull("cursor_events", raw, len(events))
    raise ConnectorError(f"POST /teams/filtered-usage-events: still more pages after {MAX_PAGES}; stopped")


CONNECTORS = [Connector("cursor_events", BASE_URL, headers, pull_events)]
