"""The canonical shape every importer produces.

An importer is a pure module: ``parse(raw: bytes) -> ParsedExport``. It never touches the
database. It converts the vendor's units into ours (rule 2 of DESIGN.md) and turns every
row it cannot read into a ``Rejection`` instead of dropping it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Context, Decimal, InvalidOperation
from typing import Literal

import pandas as pd

Role = Literal["attribution", "billing", "impact"]

# Columns of a usage frame (role "attribution"), in COPY order. Token counts are int64,
# cost_usd is a Decimal-compatible string or None (None: price it from tokens).
USAGE_COLUMNS: tuple[str, ...] = (
    "dedup_key",  # natural key within the dataset, built by natural_key()
    "bucket_start",  # UTC ISO-8601 string, inclusive
    "bucket_width",  # "1m" | "1h" | "1d" | "event"
    "vendor",  # anthropic | openai | ...
    "product",  # api | claude_code | codex | cursor | copilot | chat
    "account",  # org / workspace / project, "" when the export has none
    "identity_kind",  # email | api_key_id | account_id | user_id | ...
    "identity_value",  # the vendor's id for the person (emails lower-cased)
    "model",  # the model name as the vendor wrote it
    "long_context",  # bool: the bucket says it was billed at the long-context tier
    "input_uncached_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",  # reasoning included
    "requests",
    "cost_usd",  # vendor-reported dollars as a decimal string, or None
    "location",  # where in the file the row came from, for people ("data[3].results[1]")
)
TOKEN_COLUMNS: tuple[str, ...] = (
    "input_uncached_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
)

# Columns of a billing frame (role "billing"): a vendor's billed totals, reconciliation only.
BILLING_COLUMNS: tuple[str, ...] = (
    "dedup_key",
    "day",  # YYYY-MM-DD (UTC)
    "vendor",
    "account",
    "model",
    "description",
    "cost_usd",  # decimal string, dollars
    "location",
)


# Columns of an impact frame (role "impact", or ParsedExport.impact beside a usage frame):
# outcome counts per person and day. Metric names are listed in docs/impact.md.
IMPACT_COLUMNS: tuple[str, ...] = (
    "dedup_key",  # natural key within the dataset; includes the metric and the day
    "day",  # YYYY-MM-DD (UTC)
    "window_start",  # YYYY-MM-DD or None: for a merged PR, the day it was opened
    "source",  # github | anthropic | generic: the vendor whose identity this is
    "identity_kind",  # github_login | email
    "identity_value",  # lower-cased
    "metric",
    "value",  # a whole non-negative count
    "location",
)
IMPACT_METRICS: dict[str, str] = {
    "prs_opened": "pull requests opened (GitHub export: counted on the day opened)",
    "prs_merged": "pull requests merged (counted on the day merged)",
    "pr_lines_added": "lines added by merged pull requests",
    "pr_lines_removed": "lines removed by merged pull requests",
    "commits": "commits, by any means",
    "ai_commits": "commits made by an AI tool (Claude Code commits_by_claude_code)",
    "ai_prs": "pull requests opened by an AI tool (Claude Code pull_requests_by_claude_code)",
    "ai_lines_added": "lines added by accepted AI edits (Claude Code lines_of_code.added)",
    "ai_lines_removed": "lines removed by accepted AI edits (Claude Code lines_of_code.removed)",
    "ai_edits_accepted": "AI edit proposals accepted (Claude Code tool_actions *.accepted)",
    "ai_edits_rejected": "AI edit proposals rejected (Claude Code tool_actions *.rejected)",
    "ai_sessions": "AI tool sessions (Claude Code num_sessions)",
    "ai_tabs_accepted": "AI tab completions accepted (Cursor totalTabsAccepted)",
    "ai_requests": "requests to an AI agent or chat (Cursor composer + chat + agent requests + Cmd-K uses)",
}


# The largest count read: no row holds a quadrillion tokens, and the bound keeps a row's token
# total and the sums of a day's rollup inside a bigint (2**63, about 9.2 * 10**18).
MAX_COUNT = 10**15 - 1
# Money columns are numeric(24, 10): below $10^14, and a day's rollup and a batch's total sum many
# rows. An amount of 10^12 or more (a trillion dollars, or ten billion in cents) is a corrupt cell.
MAX_AMOUNT = Decimal(10) ** 12
MONEY_PLACES = 20  # digits after the point an amount keeps (cents divided by 100 still exceed the 10 stored)
# Text the ledger keeps in varchar(n) columns. A longer value, or a NUL (no Postgres text holds
# one), would fail the whole file when stored: such a row is rejected instead (storable()).
TEXT_LIMITS: dict[str, int] = {
    "vendor": 40,
    "product": 40,
    "account": 255,
    "identity_kind": 40,
    "identity_value": 255,
    "model": 200,
    "description": 255,
    "source": 40,
    "metric": 40,
}


class ParseError(Exception):
    """The file cannot be read at all. The message names what is wrong, for a person."""


@dataclass(frozen=True)
class Rejection:
    location: str  # "line 12" or "data[3].results[1]"
    reason: str
    raw: str = ""


@dataclass
class ParsedExport:
    format: str  # the importer's FORMAT name
    dataset: str  # namespace of dedup keys: rows of one dataset replace each other
    role: Role
    frame: pd.DataFrame  # USAGE_COLUMNS, BILLING_COLUMNS, or IMPACT_COLUMNS for role "impact"
    rejections: list[Rejection] = field(default_factory=list)
    # Outcome counts an attribution export carries beside its usage (Claude Code core_metrics).
    impact: pd.DataFrame | None = None


def natural_key(*parts: object) -> str:
    """A short stable hash of the fields that identify a row within its dataset."""
    text = json.dumps([None if p is None else str(p) for p in parts], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def usage_frame(rows: list[dict]) -> pd.DataFrame:
    """Build a usage frame with the canonical columns and dtypes from row dicts."""
    return usage_frame_types(pd.DataFrame(rows, columns=list(USAGE_COLUMNS)))


def usage_frame_types(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical dtypes on a frame of USAGE_COLUMNS."""
    for col in (*TOKEN_COLUMNS, "requests"):
        frame[col] = frame[col].fillna(0).astype("int64")
    frame["long_context"] = frame["long_context"].fillna(False).astype(bool)
    frame["cost_usd"] = frame["cost_usd"].astype(object).where(frame["cost_usd"].notna(), None)
    for col in ("account", "model", "identity_value", "identity_kind"):
        frame[col] = frame[col].fillna("").astype(str)
    return frame


def billing_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(BILLING_COLUMNS))
    for col in ("account", "model", "description"):
        frame[col] = frame[col].fillna("").astype(str)
    return frame


def impact_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(IMPACT_COLUMNS))
    frame["value"] = frame["value"].fillna(0).astype("int64")
    frame["window_start"] = frame["window_start"].astype(object).where(frame["window_start"].notna(), None)
    return frame


def load_json(raw: bytes, *, what: str) -> object:
    """Decode JSON with a message that says why it failed (truncated, wrong encoding)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x}); export the {what} again as UTF-8 JSON"
        ) from exc
    if not text.strip():
        raise ParseError("the file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        stripped = text.rstrip()
        truncated = not stripped.endswith(("}", "]")) or exc.pos >= len(stripped) - 1
        hint = " (the file looks truncated: it stops mid-document)" if truncated else ""
        message = exc.msg.removesuffix(" at")  # "Unterminated string starting at" + " at line": one "at"
        raise ParseError(f"not valid JSON: {message} at line {exc.lineno} column {exc.colno}{hint}") from exc


def non_negative_int(value: object, name: str) -> int:
    """Parse a token count; raise ValueError with the field name for a rejection reason."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name} is not a number: {value!r}")
    try:
        number = int(value) if not isinstance(value, float) else value
    except ValueError:
        raise ValueError(f"{name} is not a whole number: {value!r}") from None
    if isinstance(number, float):
        if not number.is_integer():
            raise ValueError(f"{name} is not a whole number: {value!r}")
        number = int(number)
    if number < 0:
        raise ValueError(f"{name} is negative: {value!r}")
    if number > MAX_COUNT:
        # int64 frames wrap silently past 2**63 (2**64 + 5 becomes 5); sums past it fail the whole file.
        raise ValueError(f"{name} is too large: {value!r}")
    return number


def non_negative_decimal(value: object, name: str) -> Decimal:
    """Parse an amount of money exactly; raise ValueError with the field name for a rejection reason.

    A JSON number arrives as a Python float: ``str()`` gives back the digits written in the file
    (shortest repr), so no binary rounding error reaches the Decimal.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{name} is missing")
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError(f"{name} is not a number: {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{name} is not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{name} is not a number: {value!r}")
    if number < 0:
        raise ValueError(f"{name} is negative: {value!r}")
    if number >= MAX_AMOUNT:
        raise ValueError(f"{name} is too large: {value!r}")
    if number.as_tuple().exponent < -MONEY_PLACES:  # type: ignore[operator]
        # The columns keep 10 places; Postgres cannot even read a fraction of 16,384 digits.
        number = number.quantize(Decimal(1).scaleb(-MONEY_PLACES), context=Context(prec=60))
    return number


def storable(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Rejection]]:
    """The rows of a parsed frame the database can store, and a rejection naming the field of
    each other one (TEXT_LIMITS). A column is looked at row by row only when it holds a culprit."""
    reasons = pd.Series("", index=frame.index)
    for name, limit in TEXT_LIMITS.items():
        if name not in frame.columns or frame.empty:
            continue
        texts = frame[name].astype(str)
        if "\x00" not in "".join(texts) and texts.str.len().max() <= limit:
            continue
        lengths = texts.str.len()
        reasons = reasons.mask(
            (reasons == "") & (lengths > limit), f"{name} is " + lengths.astype(str) + f" characters long; {limit} fit"
        )
        nul = texts.str.contains("\x00", regex=False)
        reasons = reasons.mask((reasons == "") & nul, f"{name} holds a NUL character (\\u0000)")
    bad = reasons != ""
    if not bad.any():
        return frame, []
    rejections = [
        Rejection(location, reason) for location, reason in zip(frame.loc[bad, "location"], reasons[bad], strict=True)
    ]
    return frame.loc[~bad], rejections


def usd_text(amount: Decimal) -> str:
    """Dollars as a plain decimal string for cost_usd ("0.000123", never "1.23E-4")."""
    return format(amount, "f")


def utc_iso(moment: datetime) -> str:
    """A UTC ISO-8601 string ending in Z, the form bucket_start uses; naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def first_result(doc: object) -> dict | None:
    """The first result row of a ``{"data": [{"results": [...]}, ...]}`` envelope, for detect()."""
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        return None
    for bucket in doc["data"]:
        if isinstance(bucket, dict) and isinstance(bucket.get("results"), list):
            for result in bucket["results"]:
                if isinstance(result, dict):
                    return result
    return None


def raw_text(item: object, limit: int = 500) -> str:
    """The offending item as compact JSON for Rejection.raw, cut to a readable length."""
    return json.dumps(item, default=str, separators=(",", ":"))[:limit]
