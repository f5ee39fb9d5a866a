"""AWS Bedrock model invocation logs (`schemaType: ModelInvocationLog`), as delivered to S3 or
exported from CloudWatch: one JSON object a line (gzipped or not), or a JSON array.

Attribution source, one row per invocation (`requestId`); the logs carry no cost, so it is
computed from the `modelId` (Bedrock ids and their regional prices, via genai-prices' AWS
provider; an application-inference-profile ARN needs a price override). Quirks:
- `input.inputTokenCount` excludes cache: `cacheReadInputTokenCount` and
  `cacheWriteInputTokenCount` come separately; writes count as 5-minute writes unless an
  Anthropic response body gives the 5m / 1h split (`usage.cache_creation`);
- identity is the caller's IAM principal, `identity.arn` (`iam_arn`, mapped in VendorIdentity);
  an assumed-role session named with an email address (`…/role-name/alice@corp.com`, as SSO
  sign-ins produce) is that person's email;
- a prompt (input + cache) over 200k tokens is priced at the long-context tier.
"""

from __future__ import annotations

import re

from .base import ParsedExport, ParseError, Rejection, natural_key, non_negative_int, raw_text, usage_frame
from .readers import as_object, iso_time, read_records

FORMAT = "bedrock_invocations"
DATASET = "bedrock_invocations"
KIND = "jsonl"
LONG_CONTEXT_PROMPT_TOKENS = 200_000
EMAIL = re.compile(r"[^@\s/]+@[^@\s/]+\.[^@\s/]+")


def detect_records(records: list[dict]) -> bool:
    return any(r.get("schemaType") == "ModelInvocationLog" or ("modelId" in r and "identity" in r) for r in records)


def detect(doc: object) -> bool:
    items = [r for r in (doc if isinstance(doc, list) else [doc])[:3] if isinstance(r, dict)]
    return bool(items) and detect_records(items)


def parse(raw: bytes) -> ParsedExport:
    records, rejections = read_records(raw, what="Bedrock invocation log")
    if not records:
        raise ParseError("the log holds no invocation records")
    rows = []
    for location, record in records:
        try:
            rows.append(_row(as_object(record), location))
        except (ValueError, TypeError, AttributeError) as exc:
            rejections.append(Rejection(location, str(exc), raw_text(record)))
    return ParsedExport(FORMAT, DATASET, "attribution", usage_frame(rows), rejections)


def _row(record: dict, location: str) -> dict:
    request_id = str(record.get("requestId") or "")
    model = str(record.get("modelId") or "")
    if not request_id or not model:
        raise ValueError("requestId or modelId is missing")
    start = iso_time(record.get("timestamp"), "timestamp")
    given = as_object(record.get("input") or {}, "input")
    output = as_object(record.get("output") or {}, "output")
    writes = non_negative_int(given.get("cacheWriteInputTokenCount"), "input.cacheWriteInputTokenCount")
    write_1h = _one_hour_writes(output, writes)
    tokens = {
        "input_uncached_tokens": non_negative_int(given.get("inputTokenCount"), "input.inputTokenCount"),
        "cache_read_tokens": non_negative_int(given.get("cacheReadInputTokenCount"), "input.cacheReadInputTokenCount"),
        "cache_write_5m_tokens": writes - write_1h,
        "cache_write_1h_tokens": write_1h,
        "output_tokens": non_negative_int(output.get("outputTokenCount"), "output.outputTokenCount"),
    }
    kind, value = _identity(record)
    prompt = sum(tokens.values()) - tokens["output_tokens"]
    return {
        "dedup_key": natural_key(request_id),
        "bucket_start": start,
        "bucket_width": "event",
        "vendor": "bedrock",
        "product": "api",
        "account": str(record.get("accountId") or ""),
        "identity_kind": kind,
        "identity_value": value,
        "model": model,
        "long_context": prompt > LONG_CONTEXT_PROMPT_TOKENS,
        **tokens,
        "requests": 1,
        "cost_usd": None,
        "location": location,
    }


def _one_hour_writes(output: dict, writes: int) -> int:
    """The 1h part of the cache writes, when an Anthropic response body states it."""
    body = output.get("outputBodyJson")
    usage = body.get("usage") if isinstance(body, dict) else None
    split = usage.get("cache_creation") if isinstance(usage, dict) else None
    if not isinstance(split, dict):
        return 0
    return min(writes, non_negative_int(split.get("ephemeral_1h_input_tokens"), "usage.cache_creation.ephemeral_1h"))


def _identity(record: dict) -> tuple[str, str]:
    arn = str((record.get("identity") or {}).get("arn") or "").strip()
    if not arn:
        raise ValueError("identity.arn is missing: no one to attribute the invocation to")
    session = arn.rsplit("/", 1)[-1]
    if ":assumed-role/" in arn and EMAIL.fullmatch(session):
        return "email", session.lower()
    return "iam_arn", arn
