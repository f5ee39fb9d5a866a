from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leaderboard.models import PrivacySettings
from tests.factories import PASSWORD, DailyUsageFactory, EngineerFactory, TeamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PEOPLE = [  # name, team, dollars a day, model, tool
    ("Ada Lovelace", "Platform", "41.20", "claude-opus-4-1", "claude_code"),
    ("Grace Hopper", "Platform", "35.75", "claude-sonnet-4-5", "claude_code"),
    ("Alan Turing", "Payments", "28.10", "gpt-5", "codex"),
    ("Edsger Dijkstra", "Payments", "12.40", "gpt-5-mini", "api"),
    ("Barbara Liskov", "Infrastructure", "9.95", "claude-haiku-4-5", "cursor"),
    ("Donald Knuth", "Infrastructure", "3.30", "claude-sonnet-4-5", "api"),
]


def a_company() -> None:
    """Six people over the last 40 days, so both the period and the one before have usage."""
    PrivacySettings.objects.create(pk=1, min_team_size=2)
    engineering = TeamFactory(name="Engineering")
    teams = {
        "Platform": TeamFactory(name="Platform", parent=engineering),
        "Payments": TeamFactory(name="Payments", parent=engineering),
    }
    teams["Infrastructure"] = TeamFactory(name="Infrastructure", parent=teams["Platform"])
    today = timezone.now().date()
    for rank, (name, team_name, dollars, model, tool) in enumerate(PEOPLE):
        team = teams[team_name]
        engineer = EngineerFactory(name=name, email=f"{name.split()[0].lower()}@example.com", team=team)
        for days_ago in range(40):
            # Ada grows, Grace shrinks, the others hold steady: arrows both ways on the board.
            growth = Decimal(1 + {0: 0.5, 1: -0.4}.get(rank, 0.02 * rank) * (40 - days_ago) / 40)
            DailyUsageFactory(
                engineer=engineer,
                team=team,
                day=today - timedelta(days=days_ago),
                model=model,
                product=tool,
                vendor="openai" if model.startswith("gpt") else "anthropic",
                cost_usd=round(Decimal(dollars) * growth, 4),
                input_uncached_tokens=int(200_000 * float(dollars) * float(growth)),
                cache_read_tokens=1_500_000 * (6 - rank),
                output_tokens=40_000 * (rank + 1),
            )


def test_an_engineer_reads_the_board_changes_the_period_and_opens_the_teams_tab(page, login, screenshot):
    a_company()
    login("ada@example.com", PASSWORD)

    page.goto("/")
    assert page.locator("h1").inner_text() == "Leaderboard"
    first = page.locator(".lb-table tbody tr").first
    assert "Ada Lovelace" in first.inner_text()
    assert "$" in first.inner_text()
    assert page.locator(".lb-you").inner_text().startswith("You are #1 of 6")
    assert page.locator(".lb-podium li").count() == 3
    page.wait_for_selector("[data-chart='board-chart'] .main-svg")

    page.click(".lb-periods a:has-text('Last 7 days')")
    page.wait_for_url("**/?*period=7d*")
    # htmx may push the URL before it swaps the board in: wait on the content itself.
    expect(page.locator(".lb-periods a.active")).to_have_text("Last 7 days")
    expect(page.locator(".lb-head p")).to_contain_text("Last 7 days")
    # Sorting by spend re-renders the board (htmx); wait on the swapped header, not on the URL.
    # Each change re-renders, back and forth (the form is inside the swapped board).
    for metric, header in (
        ("tokens", "tokens"),
        ("spend", "usage spend"),
        ("tokens", "tokens"),
        ("spend", "usage spend"),
    ):
        page.select_option("select[name=sort]", metric)
        expect(page.locator(".lb-table th.sorted")).to_have_text(header, ignore_case=True)
    screenshot("leaderboard")

    page.click(".lb-tabs a:has-text('Teams')")
    page.wait_for_url("**tab=teams**")
    expect(page.locator(".lb-table tbody")).to_contain_text("Platform")
    screenshot("leaderboard-teams")

    page.set_viewport_size({"width": 390, "height": 844})
    page.click(".lb-tabs a:has-text('People')")
    page.wait_for_selector(".lb-podium")
    screenshot("leaderboard-phone")


def test_a_big_orgs_team_menu_loads_when_used_and_filters_the_board(page, login, settings, screenshot):
    settings.LEADERBOARD_TEAM_MENU_INLINE = 2  # this company's 4 teams count as a big org
    a_company()
    login("ada@example.com", PASSWORD)

    page.goto("/")
    team = page.locator("select[name=team]")
    expect(team.locator("option")).to_have_count(1)  # "All teams" only, until the menu is used
    team.hover()
    expect(team.locator("option")).to_have_count(5)
    team.select_option(team.locator("option", has_text="Payments").get_attribute("value"))
    expect(page.locator(".lb-table tbody")).to_contain_text("Alan Turing")
    expect(page.locator(".lb-table tbody")).not_to_contain_text("Ada Lovelace")
    # The board came back with the chosen team in its menu.
    expect(page.locator("select[name=team] option[selected]")).to_contain_text("Payments")
    screenshot("leaderboard-team-menu")
