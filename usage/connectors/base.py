"""What a connector is: for one source kind, how to authenticate and how to pull one UTC day.

A pull returns the payload in the vendor's own export format (pages merged into one document),
so it goes through the same importer and ingest pipeline as an uploaded file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from .client import HttpClient


@dataclass(frozen=True)
class Pull:
    format: str  # the importer that reads `raw` (or "openai_users": identities, not usage)
    raw: bytes
    records: int  # items in the payload; 0: nothing to import for this window


@dataclass(frozen=True)
class Connector:
    kind: str
    base_url: str  # the vendor's public API; a source's base_url overrides it
    headers: Callable[[str], dict[str, str]]  # secret -> request headers
    pull: Callable[[HttpClient, str, date], Pull]  # (client, source account, day) -> the day's payload
    windowed: bool = True  # False: one pull per run (a directory, not a time series)
    lag_days: int = 0  # 1: a day's report exists only once the day is over (asking earlier is a 404)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
