"""The board's rows as HTML, built in Python: fifty rows of template partials, `{% url %}`s and
filters were most of the leaderboard's time. The output is what those partials rendered."""

from decimal import ROUND_HALF_UP, Decimal
from html import escape

from django import template
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from leaderboard.selectors.board import BoardPage, BoardRow
from usage.display import tool_key_label
from usage.templatetags.usage_format import compact, usd

register = template.Library()
ROW = """
<tr class="tier-{tier}{you}">
  <td class="num lb-rank">{position}</td>
  <td class="lb-who">{person}{you_chip} <span class="lb-tier tier-{tier}">{tier}</span>{titles}</td>
  <td class="lb-team">{team}</td>
  <td class="num">{tokens}</td>
  <td class="num">{cost}</td>
  <td class="num">{tokens_per_usd}</td>
  <td class="num">{change}</td>
  <td class="lb-wide"><code>{top_model}</code></td>
  <td class="lb-wide lb-tool">{top_tool}</td>
</tr>
"""
GAP_ROW = '\n<tr class="lb-gap"><td colspan="9">⋯</td></tr>\n'
YOU_CHIP = ' <span class="lb-chip you">you</span>'


@register.simple_tag
def board_rows(board: BoardPage, days: int) -> SafeString:
    """The table's rows, then the viewer's own row after a gap when it is not on this page."""
    href = engineer_href()
    rows = [_row(row, days, href) for row in board.rows]
    if board.viewer_row and board.viewer_row not in board.rows:
        rows += [GAP_ROW, _row(board.viewer_row, days, href)]
    return mark_safe("".join(rows))  # noqa: S308 - _row escapes every string that comes from data


@register.filter
def person(row: BoardRow) -> SafeString:
    """The name, linked to the person's page when the viewer may open it."""
    return mark_safe(_person(row, engineer_href()))  # noqa: S308 - _person escapes the name


@register.filter
def change(value: float | None, days: int) -> SafeString:
    """The change badge: ▲ 12%, ▼ 3%, ±0%, or "new" with nothing to compare with."""
    return mark_safe(_change(value, days))  # noqa: S308 - numbers only


def engineer_href() -> str:
    """The engineer page's URL with `{}` for the id: reversed once, not once per row."""
    return reverse("leaderboard:engineer", args=[987654321]).replace("987654321", "{}")


# The helpers below return plain str, escaped with the standard library's html.escape (what
# Django's escape calls): format_html's per-argument checks cost more than the row itself.


def _row(row: BoardRow, days: int, href: str) -> str:
    return ROW.format(
        tier=row.tier,
        you=" you" if row.is_viewer else "",
        position=row.position,
        person=_person(row, href),
        you_chip=YOU_CHIP if row.is_viewer else "",
        titles="".join(f' <span class="lb-chip">{escape(title)}</span>' for title in row.titles),
        team=escape(row.team),
        tokens=compact(row.tokens),
        cost=usd(row.cost_usd),
        tokens_per_usd="—" if row.tokens_per_usd is None else compact(row.tokens_per_usd),
        change=_change(row.change_pct, days),
        top_model=escape(row.top_model),
        top_tool=_tool(row.top_tool),
    )


def _tool(key: str) -> str:
    # A narrow column may wrap "Anthropic · Claude Code" after the dot only, never inside a name.
    return escape(tool_key_label(key)).replace(" ", "&nbsp;").replace("&nbsp;·&nbsp;", "&nbsp;· ")


def _person(row: BoardRow, href: str) -> str:
    if row.engineer_id:
        return f'<a href="{href.format(row.engineer_id)}">{escape(row.name)}</a>'
    return escape(row.name)


def _change(value: float | None, days: int) -> str:
    if value is None:
        return f'<span class="lb-change new" title="Nothing to compare with in the {days} days before">new</span>'
    if value >= 0.5:
        return f'<span class="lb-change up">▲ {_whole_percent(value)}%</span>'
    if value <= -0.5:
        return f'<span class="lb-change down">▼ {_whole_percent(-value)}%</span>'
    return '<span class="lb-change flat">±0%</span>'


def _whole_percent(value: float) -> int:
    """Rounded half up, as the floatformat filter does."""
    return int(Decimal(str(value)).to_integral_value(ROUND_HALF_UP))
