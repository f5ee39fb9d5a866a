"""The board's rows are built in Python; they must read as the template partials they replaced."""

from datetime import date
from decimal import Decimal

import pytest
from django.template.defaultfilters import floatformat

from leaderboard.periods import Period
from leaderboard.selectors.board import BoardPage, BoardRow
from leaderboard.templatetags.board_html import _tool, board_rows, change, person

PERIOD = Period(date(2026, 10, 1), date(2026, 11, 1))


def row(position=1, **fields) -> BoardRow:
    defaults = {
        "engineer_id": None,
        "name": "Ada",
        "team": "Core",
        "tokens": 1_234_567,
        "cost_usd": Decimal("1234.565"),
        "tokens_per_usd": None,
        "change_pct": None,
        "tier": "gold",
        "percentile": 0.9,
        "top_model": "claude-sonnet-4-5",
        "top_tool": "anthropic/claude_code",
        "titles": (),
        "is_viewer": False,
    }
    return BoardRow(position=position, **(defaults | fields))


def page(rows, viewer_row=None) -> BoardPage:
    return BoardPage(
        period=PERIOD,
        metric="spend",
        names="names",
        peers_withheld=False,
        rows=rows,
        podium=rows[:3],
        viewer_row=viewer_row,
        titles=[],
        people=1000,
        total_tokens=0,
        total_cost_usd=Decimal(0),
        unmapped_tokens=0,
        unmapped_cost_usd=Decimal(0),
        page=1,
        pages=20,
    )


@pytest.mark.parametrize("value", [0.5, 1.5, 2.5, 12.4999, 12.5, 99.95, 1234.5, 1e16])
def test_the_change_badge_rounds_half_up_as_floatformat_did(value):
    assert change(value, 31) == f'<span class="lb-change up">▲ {floatformat(value, 0)}%</span>'
    assert change(-value, 31) == f'<span class="lb-change down">▼ {floatformat(value, 0)}%</span>'


def test_the_change_badge_says_new_or_flat():
    assert change(None, 31) == (
        '<span class="lb-change new" title="Nothing to compare with in the 31 days before">new</span>'
    )
    assert change(0.49, 31) == change(-0.49, 31) == '<span class="lb-change flat">±0%</span>'


def test_rows_escape_every_text_they_show():
    evil = "<script>x</script>&'\""
    tool = f"{evil}/{evil}"  # a vendor and a product named alike read once
    html = board_rows(page([row(name=evil, team=evil, top_model=evil, top_tool=tool, titles=(evil,))]), 31)
    assert "<script>" not in html
    assert html.count("&lt;script&gt;x&lt;/script&gt;&amp;&#x27;&quot;") == 5


def test_the_top_tool_reads_as_a_name():
    html = board_rows(
        page([row(top_tool="openai/api"), row(2, top_tool="cursor/cursor"), row(3, top_tool="codex")]), 31
    )
    # A snapshot built before top tools named their vendor holds the product alone: "codex".
    assert [cell.split("</td>")[0] for cell in html.split('<td class="lb-wide lb-tool">')[1:]] == [
        "OpenAI&nbsp;· API",  # a narrow column wraps it after the dot only
        "Cursor",
        "Codex",
    ]
    assert _tool("anthropic/claude_code") == "Anthropic&nbsp;· Claude&nbsp;Code"


def test_a_row_links_the_people_the_viewer_may_open_and_marks_the_viewer():
    html = board_rows(page([row(engineer_id=42, is_viewer=True, tokens_per_usd=1500, change_pct=-3.2)]), 31)
    assert '<tr class="tier-gold you">' in html
    assert '<a href="/engineers/42/">Ada</a> <span class="lb-chip you">you</span>' in html
    assert '<td class="num">1.2M</td>' in html
    assert '<td class="num">$1,234.57</td>' in html
    assert '<td class="num">1.5K</td>' in html
    assert '<span class="lb-change down">▼ 3%</span>' in html
    assert person(row(engineer_id=None, name="A & B")) == "A &amp; B"


def test_the_viewers_row_follows_a_gap_when_it_is_not_on_the_page():
    me = row(position=700, name="Me", is_viewer=True)
    assert 'class="lb-gap"' in board_rows(page([row()], viewer_row=me), 31)
    assert 'class="lb-gap"' not in board_rows(page([row(), me], viewer_row=me), 31)
