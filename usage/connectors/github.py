"""GitHub Copilot usage metrics: `users-1-day` reports, NDJSON behind signed download links.

The report endpoint answers `{download_links: [...], report_day}`; each link is a time-limited
signed URL on another host. The token is sent to the API only, never to the download host.
The source's account is the org (`acme`) or `enterprise:SLUG`.
"""

from __future__ import annotations

from datetime import date

from .base import Connector, Pull
from .client import ConnectorError, HttpClient

BASE_URL = "https://api.github.com"


def headers(secret: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {secret}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }


def _report_path(account: str) -> str:
    if not account:
        raise ConnectorError("a Copilot source needs its account: the org name, or enterprise:SLUG")
    scope, _, slug = account.rpartition(":")
    owner = f"enterprises/{slug}" if scope == "enterprise" else f"orgs/{slug}"
    return f"/{owner}/copilot/metrics/reports/users-1-day"


def pull_metrics(client: HttpClient, account: str, day: date) -> Pull:
    doc = client.get_json(_report_path(account), [("day", day.isoformat())])
    links = doc.get("download_links")
    if not isinstance(links, list):
        raise ConnectorError(f"the Copilot report for {day} has no download_links")
    lines: list[bytes] = []
    for link in links:
        body = client.get_bytes(str(link), auth=False)
        lines += [line for line in body.splitlines() if line.strip()]
    return Pull("copilot_metrics", b"\n".join(lines) + b"\n" if lines else b"", len(lines))


# users-1-day reports are made after the day ends: today is never asked for.
CONNECTORS = [Connector("copilot_metrics", BASE_URL, headers, pull_metrics, lag_days=1)]
