"""Which importer reads which file: detection from the content, never from the file name."""

from __future__ import annotations

from types import ModuleType

from . import anthropic_cost, anthropic_usage, claude_code_analytics, generic_csv, openai_costs, openai_usage
from .base import ParsedExport, ParseError, load_json

# Order matters only where two detectors could both match; each checks a distinctive field.
IMPORTERS: dict[str, ModuleType] = {
    m.FORMAT: m
    for m in (anthropic_usage, anthropic_cost, claude_code_analytics, openai_usage, openai_costs, generic_csv)
}
JSON_FORMATS = [name for name, m in IMPORTERS.items() if getattr(m, "KIND", "json") == "json"]


def detect_format(raw: bytes) -> str:
    """Name the format of an export, or raise ParseError saying why it is not recognised."""
    if not raw.strip():
        raise ParseError("the file is empty")
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:64]:
        raise ParseError("the file is UTF-16 (or binary), not UTF-8 text; export it again as UTF-8")
    head = raw[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        doc = load_json(raw, what="export")
        for name in JSON_FORMATS:
            if IMPORTERS[name].detect(doc):
                return name
        raise ParseError(
            "JSON, but not a usage or cost export this version reads (or it holds no rows); "
            f"give --format, one of: {', '.join(sorted(IMPORTERS))}"
        )
    for name, module in IMPORTERS.items():
        if getattr(module, "KIND", "json") != "json" and module.detect_bytes(head):
            return name
    raise ParseError(f"not a known export format; give --format, one of: {', '.join(sorted(IMPORTERS))}")


def parse(raw: bytes, *, format: str | None = None) -> ParsedExport:
    name = format or detect_format(raw)
    if name not in IMPORTERS:
        raise ParseError(f"unknown format {name!r}; known: {', '.join(sorted(IMPORTERS))}")
    return IMPORTERS[name].parse(raw)
