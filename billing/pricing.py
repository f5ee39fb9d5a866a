"""Unit prices per million tokens, by vendor, model, day and tier. Pure: no database.

List prices come from the `genai-prices` package (offline snapshot, dated prices);
negotiated overrides are passed in. We take *unit* prices and multiply in SQL: a daily
bucket's summed tokens must never be handed to a per-request calculator, which would
switch to the long-context tier by the bucket's size (DESIGN.md, pricing notes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

# genai-prices' provider ids for our vendor names; others are matched on the model alone.
# Bedrock model ids (us.anthropic.claude-…-v1:0) and their regional prices are genai-prices' "aws".
PROVIDER_IDS = {"anthropic": "anthropic", "openai": "openai", "google": "google", "vertex": "google", "bedrock": "aws"}
# Anthropic's documented multipliers, used when a price list omits a cache price.
CACHE_READ_FACTOR = Decimal("0.1")
CACHE_WRITE_5M_FACTOR = Decimal("1.25")
CACHE_WRITE_1H_FACTOR = Decimal("2")


@dataclass(frozen=True)
class UnitPrices:
    """USD per million tokens for each token kind, plus the model name they belong to."""

    model_canonical: str
    input: Decimal
    cache_read: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    output: Decimal
    source: str  # "list" | "override"


class Override(Protocol):
    vendor: str
    model: str
    valid_from: date
    valid_to: date | None
    input_per_mtok_usd: Decimal
    output_per_mtok_usd: Decimal
    cache_read_per_mtok_usd: Decimal | None
    cache_write_5m_per_mtok_usd: Decimal | None
    cache_write_1h_per_mtok_usd: Decimal | None


def canonical_model(vendor: str, model: str) -> str:
    """The alias-resolved model name (claude-sonnet-4-5-20250929 -> claude-sonnet-4-5)."""
    found = _find_model(vendor, model)
    return found[1].id if found else model


def unit_prices(
    *, vendor: str, model: str, day: date, long_context: bool, overrides: Iterable[Override] = ()
) -> UnitPrices | None:
    """Prices in force on `day`, or None when the model has no known price (unpriced)."""
    canonical = canonical_model(vendor, model)
    override = _override_for(overrides, vendor=vendor, models={model, canonical}, day=day)
    if override is not None:
        base_in = override.input_per_mtok_usd
        return UnitPrices(
            model_canonical=canonical,
            input=base_in,
            cache_read=_or(override.cache_read_per_mtok_usd, base_in * CACHE_READ_FACTOR),
            cache_write_5m=_or(override.cache_write_5m_per_mtok_usd, base_in * CACHE_WRITE_5M_FACTOR),
            cache_write_1h=_or(override.cache_write_1h_per_mtok_usd, base_in * CACHE_WRITE_1H_FACTOR),
            output=override.output_per_mtok_usd,
            source="override",
        )
    return _list_prices(vendor, model, day, long_context)


@lru_cache(maxsize=4096)
def _list_prices(vendor: str, model: str, day: date, long_context: bool) -> UnitPrices | None:
    found = _find_model(vendor, model)
    if found is None:
        return None
    _, info = found
    prices = info.get_prices(datetime.combine(day, time(12), tzinfo=UTC))

    def pick(value: Any) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            return value
        # TieredPrices: base, or the top tier when the bucket says it was long-context.
        if long_context and value.tiers:
            return Decimal(value.tiers[-1].price)
        return Decimal(value.base)

    base_in = pick(prices.input_mtok)
    output = pick(prices.output_mtok)
    if base_in is None or output is None:
        return None
    write_5m = pick(prices.cache_write_mtok)
    if write_5m is None:
        # OpenAI lists no cache-write price: its writes are billed as ordinary input.
        write_5m = base_in if vendor == "openai" else base_in * CACHE_WRITE_5M_FACTOR
    return UnitPrices(
        model_canonical=info.id,
        input=base_in,
        cache_read=_or(pick(prices.cache_read_mtok), base_in * CACHE_READ_FACTOR),
        cache_write_5m=write_5m,
        cache_write_1h=_or(pick(prices.cache_write_1h_mtok), base_in * CACHE_WRITE_1H_FACTOR),
        output=output,
        source="list",
    )


@lru_cache(maxsize=4096)
def _find_model(vendor: str, model: str) -> tuple[Any, Any] | None:
    from genai_prices import data_snapshot

    if not model:
        return None
    snapshot = data_snapshot.get_snapshot()
    try:
        return snapshot.find_provider_model(model, None, PROVIDER_IDS.get(vendor), None)
    except LookupError:
        if vendor in PROVIDER_IDS:
            return None
        try:  # a gateway or IDE vendor reselling a known model: match on the model alone
            return snapshot.find_provider_model(model, None, None, None)
        except LookupError:
            return None


def _override_for(overrides: Iterable[Override], *, vendor: str, models: set[str], day: date) -> Override | None:
    matching = [
        o
        for o in overrides
        if o.vendor == vendor and o.model in models and o.valid_from <= day and (o.valid_to is None or day < o.valid_to)
    ]
    return max(matching, key=lambda o: o.valid_from, default=None)


def _or(value: Decimal | None, fallback: Decimal) -> Decimal:
    return fallback if value is None else value
