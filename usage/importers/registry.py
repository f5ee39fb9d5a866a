"""Which importer reads which file: detection from the content, never from the file name."""

from __future__ import annotations

import zipfile
from types import ModuleType

from . import (
    anthropic_cost,
    anthropic_usage,
    bedrock_invocations,
    claude_code_analytics,
    claude_code_logs,
    codex_logs,
    copilot_metered,
    copilot_metrics,
    copilot_premium,
    cursor_csv,
    cursor_daily,
    cursor_events,
    gcp_billing,
    generic_csv,
    generic_impact,
    github_prs,
    litellm_spend,
    openai_costs,
    openai_usage,
)
from .base import ParsedExport, ParseError, load_json, storable
from .readers import GZIP_MAGIC, first_records, gunzip, header_names, is_zip, open_zip

# Order matters only where two detectors could both match; each checks a distinctive field.
IMPORTERS: dict[str, ModuleType] = {
    m.FORMAT: m
    for m in (
        anthropic_usage,
        anthropic_cost,
        claude_code_analytics,
        openai_usage,
        openai_costs,
        generic_csv,
        github_prs,
        generic_impact,
        cursor_events,
        cursor_daily,
        cursor_csv,
        copilot_metrics,
        copilot_metered,
        copilot_premium,
        claude_code_logs,
        codex_logs,
        litellm_spend,
        bedrock_invocations,
        gcp_billing,
    )
}
# A JSON document: detect(doc). One JSON object a line: detect_records(first objects).
# A zip archive: detect_zip(archive). Anything else (CSV): detect_bytes(head).
JSON_FORMATS = [name for name, m in IMPORTERS.items() if hasattr(m, "detect")]
LINE_FORMATS = [name for name, m in IMPORTERS.items() if hasattr(m, "detect_records")]
ZIP_FORMATS = [name for name, m in IMPORTERS.items() if hasattr(m, "detect_zip")]
TEXT_FORMATS = [name for name, m in IMPORTERS.items() if hasattr(m, "detect_bytes")]


def detect_format(raw: bytes) -> str:
    """Name the format of an export, or raise ParseError saying why it is not recognised."""
    raw = unpacked(raw)
    if not raw.strip():
        raise ParseError("the file is empty")
    if is_zip(raw):
        return _detect_zip(raw)
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:64]:
        raise ParseError("the file is UTF-16 (or binary), not UTF-8 text; export it again as UTF-8")
    head = raw[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    body = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] == b"{":
        name = _line_format(first_records(body))
        if name:
            return name
    if head[:1] in (b"{", b"["):
        try:
            doc = load_json(raw, what="export")
        except ParseError:
            # Not one document: NDJSON with a broken line among its first is still recognised
            # from the lines that parse, and its importer rejects the broken one.
            name = _line_format(first_records(body, skip_broken=True)) if head[:1] == b"{" else None
            if not name:
                raise
            return name
        for name in JSON_FORMATS:
            if IMPORTERS[name].detect(doc):
                return name
        _refuse_incomplete(_first_row_keys(doc), JSON_FORMATS)
        raise ParseError(
            f"JSON, but not a usage or cost export this version reads (or it holds no rows); {_choose_format()}"
        )
    for name in TEXT_FORMATS:
        if IMPORTERS[name].detect_bytes(head):
            return name
    _refuse_incomplete(header_names(head, lower=False), TEXT_FORMATS)
    raise ParseError(f"not a known export format; {_choose_format()}")


def _refuse_incomplete(names: set[str], formats: list[str]) -> None:
    """A file with most of a format's identifying columns (DETECT_COLUMNS) is most likely that
    format with some missing: naming them helps more than "not a known export format"."""
    folded = {name.lower() for name in names}
    best: tuple[float, str, list[str]] | None = None
    for name in formats:
        expected = getattr(IMPORTERS[name], "DETECT_COLUMNS", ())
        missing = [column for column in expected if column.lower() not in folded]
        share = 1 - len(missing) / len(expected) if expected else 0
        if missing and share > 0.5 and (best is None or share > best[0]):
            best = (share, name, missing)
    if best is not None:
        _, name, missing = best
        module = IMPORTERS[name]
        raise ParseError(
            f"looks like {module.WHAT} ({name}) but has no {', '.join(missing)} "
            f"column{'s' if len(missing) > 1 else ''} (expected {', '.join(module.DETECT_COLUMNS)})"
        )


def _first_row_keys(doc: object) -> set[str]:
    """The keys of a JSON export's first row: of a list of rows, of a {"data": [...]} or
    {"usageEvents": [...]} page, or of the first bucket's first result (the vendors' reports)."""
    page = doc[0] if isinstance(doc, list) and doc and isinstance(doc[0], dict) and "data" in doc[0] else doc
    rows = (page.get("data") or page.get("usageEvents")) if isinstance(page, dict) else page
    first = rows[0] if isinstance(rows, list) and rows else None
    if isinstance(first, dict) and isinstance(first.get("results"), list) and first["results"]:
        first = first["results"][0]
    return set(first) if isinstance(first, dict) else set()


def _line_format(records: list[dict] | None) -> str | None:
    for name in LINE_FORMATS if records is not None else ():
        if IMPORTERS[name].detect_records(records):
            return name
    return None


def _choose_format() -> str:
    # The same words for the page and the command line: each names how it picks a format.
    return (
        "choose its format (Format on the Imports page, --format on the command line), "
        f"one of: {', '.join(sorted(IMPORTERS))}"
    )


HEAD_BYTES = 64 * 1024  # enough to recognise a text export from its header


def streaming_format(head: bytes, *, format: str = "") -> str | None:
    """The format of a file that can be read a chunk at a time (its importer has parse_chunks),
    from its first bytes or the format given; None when it must be read whole (JSON documents,
    archives, compressed files, formats that do not stream)."""
    if head[:2] == GZIP_MAGIC or is_zip(head):
        return None
    name = format
    if not name:
        start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        if start in (b"{", b"[", b""):
            return None
        name = next((n for n in TEXT_FORMATS if IMPORTERS[n].detect_bytes(head[:4096])), "")
    return name if hasattr(IMPORTERS.get(name), "parse_chunks") else None


def parse(raw: bytes, *, format: str | None = None) -> ParsedExport:
    raw = unpacked(raw)
    name = format or detect_format(raw)
    if name not in IMPORTERS:
        raise ParseError(f"unknown format {name!r}; known: {', '.join(sorted(IMPORTERS))}")
    parsed = IMPORTERS[name].parse(raw)
    parsed.frame, rejected = storable(parsed.frame)
    if parsed.impact is not None:
        parsed.impact, rejected_impact = storable(parsed.impact)
        rejected += rejected_impact
    parsed.rejections.extend(rejected)
    return parsed


def unpacked(raw: bytes) -> bytes:
    """A gzipped export (S3 delivers Bedrock logs so) is read as its content."""
    return gunzip(raw) if raw[:2] == GZIP_MAGIC else raw


def _detect_zip(raw: bytes) -> str:
    archive = open_zip(raw)
    for name in ZIP_FORMATS:
        try:
            if IMPORTERS[name].detect_zip(archive):
                return name
        except zipfile.BadZipFile as exc:
            raise ParseError(f"the zip archive is damaged ({exc}); zip the folder again") from exc
    raise ParseError(
        "a zip archive, but not of Claude Code logs (~/.claude/projects/**/*.jsonl) or Codex logs "
        "(~/.codex/sessions/**/rollout-*.jsonl): no .jsonl member looks like either"
    )
