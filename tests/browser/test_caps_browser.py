"""The caps page in a real browser: a manager sets a cap, the engineer sees the bar on /me/."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import ToolPolicy
from tests.browser.test_people_browser import seed_usage
from tests.factories import PASSWORD, CapPolicyFactory, EngineerFactory, TeamFactory


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_manager_sets_a_cap_and_the_engineer_sees_it_on_their_page(page, login, screenshot):
    platform = TeamFactory(name="Platform")
    storage = TeamFactory(name="Storage", parent=platform)
    lead = EngineerFactory(name="Grace Hopper", title="Engineering Manager", team=platform)
    alan = EngineerFactory(name="Alan Turing", email="alan@example.com", manager=lead, team=storage)
    # Alan first: seed_usage gives him all three tools, Codex included (a tool-policy violation).
    people = [alan, lead, EngineerFactory(name="Edsger Dijkstra", manager=lead, team=storage)]
    seed_usage(people, [storage, platform, storage], days=40)
    CapPolicyFactory(amount_usd=Decimal("2000"), reason="Company default")
    ToolPolicy.objects.create(
        team=storage,
        vendor="openai",
        product="codex",
        starts_on=timezone.localdate() - timedelta(days=10),
        reason="One coding agent per team",
    )

    login(lead.user.username, PASSWORD)
    page.click("nav >> text=Caps")
    page.click("text=Add a cap or override")
    page.select_option("select[name=policy-scope]", "engineer")
    page.fill("input[name=policy-engineer_email]", alan.email)
    page.fill("input[name=policy-vendor]", "anthropic")
    page.fill("input[name=policy-product]", "claude_code")
    page.fill("input[name=policy-amount_usd]", "-10")
    page.click("#policies button[type=submit]")
    assert "Amount must be at least $0, not -10." in page.locator(".cap-errors").inner_text()
    screenshot("caps-form")
    page.fill("input[name=policy-amount_usd]", "150")
    page.fill("input[name=policy-valid_until]", "2099-12-31")
    page.fill("textarea[name=policy-reason]", "Pilot of the Uber-style cap")
    page.click("#policies button[type=submit]")
    page.wait_for_selector("ul.messages li")
    assert (
        "Cap set: engineer alan@example.com, anthropic/claude_code: $150.00 per month until 2099-12-31"
        in page.locator("ul.messages").inner_text()
    )

    page.click("text=Set a team budget")
    page.fill("input[name=budget-team_name]", "Storage")
    page.fill("input[name=budget-amount_usd]", "5000")
    page.click("#budgets button[type=submit]")
    page.wait_for_selector("text=Budget set: Storage")
    assert page.locator("#policies tbody tr").count() == 2
    assert "Alan Turing" in page.locator("#violations").inner_text()  # Codex, evaluated as the cap was set
    screenshot("caps")
    page.goto(f"/teams/{storage.pk}/")
    assert "of $5,000.00" in page.locator(".cap-bars").inner_text()
    screenshot("team-budget")

    page.context.clear_cookies()
    login(alan.user.username, PASSWORD)
    page.goto("/me/")
    bar = page.locator(".cap-line", has_text="Anthropic · Claude Code")
    assert "of $150.00" in bar.inner_text()
    page.wait_for_selector("[data-chart=chart-daily] .main-svg")
    screenshot("me-cap")
