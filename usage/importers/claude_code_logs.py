"""Claude Code local session logs: a zip of `~/.claude/projects` (or one `.jsonl` log).

Attribution source for people the vendor APIs miss (subscription users); cost is computed.
The logs carry no identity: the owner is given at import (`import_usage --engineer EMAIL`),
so rows leave here with identity_kind "". One row per API message (bucket_width "event").
Quirks (as ccusage reads them):
- Claude Code writes one record per content block, repeating `message.id` and its usage while
  output grows: records are deduplicated on (`message.id`, `requestId`), keeping the one with
  the most tokens (on a tie, the one that has `speed`); the row is dated by the message's
  earliest record, so a later, fuller copy of a log replaces the row instead of adding one;
- a sidechain (`isSidechain: true`, e.g. `subagents/*.jsonl`) can replay a parent message with
  the same `message.id` and another `requestId`: that copy is dropped; sidechain messages of
  their own still count;
- `input_tokens` excludes cache; `usage.cache_creation.ephemeral_5m/1h_input_tokens`, when
  present, replace `cache_creation_input_tokens` (which is otherwise counted as 5m writes);
- a request whose prompt (input + cache) passes 200k tokens is priced at the long-context tier;
- stray files in the archive (notes, settings), user and system lines, and `<synthetic>`
  messages hold no API usage and are skipped; `speed: fast` is priced at the standard rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .base import ParsedExport, Rejection, natural_key, non_negative_int, usage_frame
from .readers import iso_time, json_lines, log_files, peek_member, zip_members

FORMAT = "claude_code_logs"
DATASET = "claude_code_logs"
KIND = "jsonl"
LONG_CONTEXT_PROMPT_TOKENS = 200_000
LINE_TYPES = {"user", "assistant", "system", "summary"}


@dataclass
class Message:
    message_id: str
    request_id: str
    sidechain: bool
    timestamp: str
    model: str
    tokens: dict
    has_speed: bool
    location: str

    @property
    def total(self) -> int:
        return sum(self.tokens.values())


def detect_records(records: list[dict]) -> bool:
    return any(("sessionId" in r and r.get("type") in LINE_TYPES) or "leafUuid" in r for r in records)


def detect_zip(archive) -> bool:
    names = zip_members(archive, ".jsonl")
    return any(detect_records(peek_member(archive, name)) for name in names[:5])


def parse(raw: bytes) -> ParsedExport:
    messages, rejections = [], []
    for name, text in log_files(raw, suffix=".jsonl", what="Claude Code logs (~/.claude/projects)"):
        for location, record, problem in json_lines(name, text):
            if record is None:
                rejections.append(Rejection(location, problem))
                continue
            try:
                message = _message(record, location)
            except (ValueError, TypeError, AttributeError) as exc:
                rejections.append(Rejection(location, str(exc), str(record)[:500]))
                continue
            if message is not None:
                messages.append(message)
    rows = [_row(group) for group in _deduplicated(messages)]
    return ParsedExport(FORMAT, DATASET, "attribution", usage_frame(rows), rejections)


def _message(record: dict, location: str) -> Message | None:
    message = record.get("message")
    if record.get("type") != "assistant" or not isinstance(message, dict) or not isinstance(message.get("usage"), dict):
        return None  # user, system and summary lines carry no API usage
    model = str(message.get("model") or "")
    if model == "<synthetic>":
        return None  # written by Claude Code itself (errors, interruptions), not an API call
    if not model:
        raise ValueError("message.model is missing")
    usage = message["usage"]
    split = usage.get("cache_creation")
    if isinstance(split, dict):
        write_5m = non_negative_int(split.get("ephemeral_5m_input_tokens"), "cache_creation.ephemeral_5m_input_tokens")
        write_1h = non_negative_int(split.get("ephemeral_1h_input_tokens"), "cache_creation.ephemeral_1h_input_tokens")
    else:
        write_5m = non_negative_int(usage.get("cache_creation_input_tokens"), "usage.cache_creation_input_tokens")
        write_1h = 0
    tokens = {
        "input_uncached_tokens": non_negative_int(usage.get("input_tokens"), "usage.input_tokens"),
        "cache_read_tokens": non_negative_int(usage.get("cache_read_input_tokens"), "usage.cache_read_input_tokens"),
        "cache_write_5m_tokens": write_5m,
        "cache_write_1h_tokens": write_1h,
        "output_tokens": non_negative_int(usage.get("output_tokens"), "usage.output_tokens"),
    }
    return Message(
        message_id=str(message.get("id") or ""),
        request_id=str(record.get("requestId") or ""),
        sidechain=record.get("isSidechain") is True,
        timestamp=iso_time(record.get("timestamp"), "timestamp"),
        model=model,
        tokens=tokens,
        has_speed=bool(usage.get("speed")),
        location=location,
    )


def _deduplicated(messages: list[Message]) -> list[list[Message]]:
    """Groups of records of one API message, sidechain replays left out; the best record first."""
    in_main_thread = {m.message_id for m in messages if m.message_id and not m.sidechain}
    groups: dict[tuple, list[Message]] = {}
    for m in messages:
        if m.sidechain and m.message_id in in_main_thread:
            continue  # a replay of a parent message: the parent counts
        # A record without message.id is never deduplicated (ccusage): its location keys it.
        key = (m.message_id, m.request_id) if m.message_id else (m.location,)
        groups.setdefault(key, []).append(m)
    best_first = []
    for group in groups.values():
        best = max(group, key=lambda m: (m.total, m.has_speed))  # max keeps the first of equals
        best_first.append([best, *(m for m in group if m is not best)])
    return best_first


def _row(group: list[Message]) -> dict:
    best = group[0]
    prompt = best.total - best.tokens["output_tokens"]
    key = ("msg", best.message_id, best.request_id) if best.message_id else ("line", best.location)
    return {
        "dedup_key": natural_key(*key),
        "bucket_start": min((m.timestamp for m in group), key=datetime.fromisoformat),
        "bucket_width": "event",
        "vendor": "anthropic",
        "product": "claude_code",
        "account": "",
        "identity_kind": "",
        "identity_value": "",
        "model": best.model,
        "long_context": prompt > LONG_CONTEXT_PROMPT_TOKENS,
        **best.tokens,
        "requests": 1,
        "cost_usd": None,
        "location": best.location,
    }
