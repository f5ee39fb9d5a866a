"""OpenAI Codex CLI local rollout logs: a zip of `~/.codex/sessions` (or one rollout `.jsonl`).

Attribution source for people the vendor APIs miss; cost is computed. The logs carry no
identity: the owner is given at import (`import_usage --engineer EMAIL`). One row per
`token_count` event (bucket_width "event"). Quirks:
- `input_tokens` INCLUDES `cached_input_tokens` (uncached = input - cached) and `output_tokens`
  INCLUDES `reasoning_output_tokens`;
- each event has `last_token_usage` (this turn) and `total_token_usage` (the session so far,
  cumulative): the turn is counted, never the running total. An event that repeats the
  previous total adds nothing and is skipped; one with only totals counts the difference;
- the model comes from the latest `turn_context` (or the event's own `info.model`); an event
  before any is kept with no model, unpriced, for an admin to see;
- a session in both `sessions/` and `archived_sessions/` is read once, from `sessions/`;
- a prompt over 272k tokens is priced at the long-context tier where the model has one.
"""

from __future__ import annotations

import re

from .base import ParsedExport, Rejection, natural_key, non_negative_int, usage_frame
from .readers import iso_time, json_lines, log_files, peek_member, zip_members

FORMAT = "codex_logs"
DATASET = "codex_logs"
KIND = "jsonl"
LINE_TYPES = {"session_meta", "turn_context", "event_msg", "response_item", "compacted"}
FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens", "total_tokens")
LONG_CONTEXT_PROMPT_TOKENS = 272_000
ARCHIVED = re.compile(r"(^|/)archived_sessions/")


def detect_records(records: list[dict]) -> bool:
    return any(r.get("type") in LINE_TYPES and isinstance(r.get("payload"), dict) for r in records)


def detect_zip(archive) -> bool:
    names = zip_members(archive, ".jsonl")
    return any(detect_records(peek_member(archive, name)) for name in names[:5])


def parse(raw: bytes) -> ParsedExport:
    rows, rejections = [], []
    files = dict(log_files(raw, suffix=".jsonl", what="Codex logs (~/.codex/sessions)"))
    for name, text in files.items():
        if ARCHIVED.search(name) and ARCHIVED.sub(r"\1sessions/", name) in files:
            continue  # the same session is in sessions/: that copy wins
        session_rows, problems = _session(name, text)
        rows.extend(session_rows)
        rejections.extend(problems)
    return ParsedExport(FORMAT, DATASET, "attribution", usage_frame(rows), rejections)


def _session(name: str, text: str) -> tuple[list[dict], list[Rejection]]:
    rows, rejections = [], []
    session, model, previous = name.rsplit("/", 1)[-1], "", None
    for location, record, problem in json_lines(name, text):
        if record is None:
            rejections.append(Rejection(location, problem))
            continue
        payload = record.get("payload")
        if not isinstance(payload, dict):
            continue
        if record.get("type") == "session_meta" and payload.get("id"):
            session = str(payload["id"])
        elif record.get("type") == "turn_context" and payload.get("model"):
            model = str(payload["model"])
        elif record.get("type") == "event_msg" and payload.get("type") == "token_count":
            info = payload.get("info")
            if not isinstance(info, dict):
                continue  # a rate-limit update without token counts
            try:
                turn, total = _turn(info, previous)
                if turn is not None:
                    rows.append(_row(record, info, turn, total, session, model, location))
            except (ValueError, TypeError, AttributeError) as exc:
                rejections.append(Rejection(location, str(exc), str(record)[:500]))
                continue
            previous = total if total is not None else previous
    return rows, rejections


def _turn(info: dict, previous: dict | None) -> tuple[dict | None, dict | None]:
    """(this turn's counts or None when the event adds nothing, the session total)."""
    total = _counts(info.get("total_token_usage"), "total_token_usage")
    last = _counts(info.get("last_token_usage"), "last_token_usage")
    if total is not None and total == previous:
        return None, total  # Codex repeats a token_count event without new usage
    if last is None:
        if total is None:
            raise ValueError("token_count without last_token_usage or total_token_usage")
        last = {f: total[f] - (previous or {}).get(f, 0) for f in FIELDS}
        if any(v < 0 for v in last.values()):
            raise ValueError("total_token_usage went down: the session total cannot be diffed")
    if last["cached_input_tokens"] > last["input_tokens"]:
        raise ValueError("cached_input_tokens is larger than input_tokens, which includes them")
    return last, total


def _counts(usage: object, name: str) -> dict | None:
    if usage is None:
        return None
    if not isinstance(usage, dict):
        raise ValueError(f"{name} is not an object")
    return {f: non_negative_int(usage.get(f), f"{name}.{f}") for f in FIELDS}


def _row(record: dict, info: dict, turn: dict, total: dict | None, session: str, model: str, location: str) -> dict:
    start = iso_time(record.get("timestamp"), "timestamp")
    model = str(info.get("model") or model)
    # The session's running total tells events apart within a second; old logs have none.
    marker = total["total_tokens"] if total is not None else location
    return {
        "dedup_key": natural_key(session, start, marker),
        "bucket_start": start,
        "bucket_width": "event",
        "vendor": "openai",
        "product": "codex",
        "account": "",
        "identity_kind": "",
        "identity_value": "",
        "model": model,
        "long_context": turn["input_tokens"] > LONG_CONTEXT_PROMPT_TOKENS,
        "input_uncached_tokens": turn["input_tokens"] - turn["cached_input_tokens"],
        "cache_read_tokens": turn["cached_input_tokens"],
        "cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 0,
        "output_tokens": turn["output_tokens"],
        "requests": 1,
        "cost_usd": None,
        "location": location,
    }
