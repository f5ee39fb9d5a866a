"""Numbers and names for people: 1.2B tokens, $12,345.67, "Anthropic · Claude Code"."""

from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.utils.safestring import mark_safe

from usage import display

register = template.Library()
UNITS = ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K"))


@register.filter
def compact(value) -> str:
    """1234 -> 1.2K, 1_230_000_000 -> 1.2B; below 1,000 the plain number."""
    if value is None:
        return "0"
    number = int(value)
    for size, suffix in UNITS:
        if abs(number) >= size:
            text = f"{number / size:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return str(number)


@register.filter
def usd(value) -> str:
    """Dollars with cents and thousands separators: $12,345.67."""
    amount = Decimal(value or 0).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


@register.filter
def share(value) -> str:
    """A fraction as a whole percent; a small share that is not nothing reads "<1%", not "0%"."""
    if value is None:
        return "—"
    fraction = float(value)
    if 0 < fraction < 0.01:
        return "<1%"
    return f"{round(fraction * 100)}%"


@register.filter
def vendor_label(vendor: str) -> str:
    """{{ "openai"|vendor_label }} -> OpenAI."""
    return display.vendor_label(vendor)


@register.filter
def product_label(product: str) -> str:
    """{{ "claude_code"|product_label }} -> Claude Code."""
    return display.product_label(product)


@register.filter
def tool_label(vendor: str, product: str | None = None) -> str:
    """{{ vendor|tool_label:product }} -> Anthropic · Claude Code; without an argument the value
    is a "vendor/product" key ({{ "cursor/cursor"|tool_label }} -> Cursor)."""
    if product is None:
        return display.tool_key_label(vendor)
    return display.tool_label(vendor, product)


@register.simple_tag
def team_options(menu, selected) -> str:
    """The team filter's `<option>`s (rendered once per team-table change, see
    leaderboard.selectors.board.board_team_menu) with the `selected` team marked; of a menu too
    big to inline, only the selected one (the rest comes with the team_menu view)."""
    return mark_safe(menu.options(selected, everything=menu.inline))  # noqa: S308 - escaped when built
