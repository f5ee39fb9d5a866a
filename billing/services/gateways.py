"""Effective caps compiled for the gateways that enforce them: LiteLLM and Cursor.

LiteLLM takes a per-user `max_budget` (USD) with a `budget_duration`; Cursor a per-user spend
limit in whole dollars (rounded down, so the gateway never allows more than the cap). Both
are written as files and pushed to the admin APIs, one request per user, with a short retry
on 429 and 5xx. LiteLLM's durations run from its own reset time, not the calendar, so push
again when a period starts (and after caps change).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from billing.selectors import Person, cap_resolve, cap_rules_load
from leaderboard.access import audit
from usage.models import Engineer, TeamMembership

logger = logging.getLogger(__name__)
GATEWAYS = ("litellm", "cursor")
DEFAULT_TOOL = {"litellm": ("litellm", ""), "cursor": ("cursor", "")}
LITELLM_DURATION = {"month": "1mo", "quarter": "3mo", "year": "12mo"}
ATTEMPTS = 3


@dataclass(frozen=True)
class GatewayCap:
    email: str
    cap_usd: Decimal
    period: str
    period_start: date
    period_end: date
    policy: str


def gateway_caps(*, vendor: str, product: str = "", today: date) -> list[GatewayCap]:
    """Everyone employed today who has an effective cap for the tool. Five queries."""
    rules = cap_rules_load(today=today)
    teams = dict(TeamMembership.objects.on(today).values_list("engineer_id", "team_id"))
    caps = []
    for pk, email, start, end in Engineer.objects.active_on(today).values_list("pk", "email", "start_date", "end_date"):
        person = Person(id=pk, team_id=teams.get(pk), start_date=start, end_date=end)
        cap = cap_resolve(rules, person, vendor=vendor, product=product)
        if cap is not None:
            caps.append(GatewayCap(email, cap.cap_usd, cap.period, cap.period_start, cap.period_end, cap.policy))
    return sorted(caps, key=lambda c: c.email)


def litellm_users(caps: list[GatewayCap]) -> list[dict]:
    """The bodies of LiteLLM's `POST /user/update`, keyed by email as the user id."""
    return [
        {
            "user_id": c.email,
            "user_email": c.email,
            "max_budget": float(c.cap_usd),
            "budget_duration": LITELLM_DURATION[c.period],
        }
        for c in caps
    ]


def cursor_limits(caps: list[GatewayCap]) -> list[dict]:
    """The bodies of Cursor's `POST /teams/user-spend-limit`: whole dollars, rounded down."""
    return [
        {"userEmail": c.email, "spendLimitDollars": int(c.cap_usd.to_integral_value(rounding=ROUND_FLOOR))}
        for c in caps
    ]


def gateway_rows(*, gateway: str, caps: list[GatewayCap]) -> list[dict]:
    return litellm_users(caps) if gateway == "litellm" else cursor_limits(caps)


def gateway_file(*, gateway: str, rows: list[dict]) -> str:
    """LiteLLM: a JSON list of user updates. Cursor: CSV `email,spend_limit_dollars`."""
    if gateway == "litellm":
        return json.dumps(rows, indent=2) + "\n"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "spend_limit_dollars"])
    writer.writerows([row["userEmail"], row["spendLimitDollars"]] for row in rows)
    return out.getvalue()


@dataclass
class PushResult:
    sent: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (email, error)


def gateway_push(
    *, gateway: str, rows: list[dict], base_url: str, api_key: str, timeout: float = 10.0, backoff: float = 1.0
) -> PushResult:
    """Send each user's cap to the gateway's admin API. Audited. A user whose request still
    fails after the retries is listed in the result; the others are sent regardless."""
    if gateway == "litellm":
        url, auth = f"{base_url.rstrip('/')}/user/update", f"Bearer {api_key}"
    else:
        # Cursor: HTTP Basic with the API key as the user name and no password.
        url, auth = (
            f"{base_url.rstrip('/')}/teams/user-spend-limit",
            "Basic " + base64.b64encode(f"{api_key}:".encode()).decode(),
        )
    result = PushResult()
    for row in rows:
        email = str(row.get("user_id") or row.get("userEmail"))
        error = _post_with_retries(url, auth, row, timeout=timeout, backoff=backoff)
        if error:
            result.failed.append((email, error))
        else:
            result.sent += 1
    audit(None, "caps_push", gateway, url=url, sent=result.sent, failed=len(result.failed))
    return result


def _post_with_retries(url: str, auth: str, body: dict, *, timeout: float, backoff: float) -> str:
    """ "" when the gateway accepted it, else the last error."""
    if not url.startswith(("http://", "https://")):
        return f"not an http(s) URL: {url}"
    error = ""
    for attempt in range(ATTEMPTS):
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": auth},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                response.read()
            return ""
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
            if exc.code != 429 and exc.code < 500:
                return error  # refused: a retry would be refused too
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            error = str(exc)
        time.sleep(backoff * (attempt + 1))
    return error
