"""Numbers for people: 1.2B tokens, $12,345.67."""

from decimal import ROUND_HALF_UP, Decimal
from html import escape

from django import template
from django.utils.safestring import mark_safe

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


@register.simple_tag
def options(choices, selected) -> str:
    """`<option>`s for (value, label) pairs, the `selected` value marked. One join instead of a
    template loop: the team filter of a large org lists thousands of teams on every board view."""
    return mark_safe(  # noqa: S308 - every value and label is escaped here
        "".join(
            f'<option value="{escape(str(value))}"{" selected" if value == selected else ""}>{escape(str(label))}</option>'
            for value, label in choices
        )
    )
