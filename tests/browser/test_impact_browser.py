"""The impact page in a real browser: the scatter drawn with its medians and quadrants, flags listed."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.browser.test_people_browser import seed_usage
from tests.factories import PASSWORD, EngineerFactory, TeamFactory
from usage.models import DailyUsage, ImpactRecord, ImportBatch


def seed_prs(people, *, idle) -> None:
    """Merged PRs over the last 30 days: more for some, none for `idle`."""
    rng = random.Random(5)
    batch = ImportBatch.objects.create(filename="prs.csv", size_bytes=0, sha256="0" * 64, raw_file="prs.csv")
    today = timezone.now().date()
    rows = []
    for n, person in enumerate(people):
        if person == idle:
            continue
        for back in range(30):
            if rng.random() < 0.08 * (n % 5 + 1):
                day = today - timedelta(days=back)
                rows.append(
                    ImpactRecord(
                        batch=batch,
                        dataset="demo",
                        dedup_key=f"{person.pk}-{back}",
                        day=day,
                        window_start=day - timedelta(days=2),
                        source="github",
                        identity_kind="github_login",
                        identity_value=person.github_login,
                        engineer=person,
                        metric="prs_merged",
                        value=1,
                    )
                )
    ImpactRecord.objects.bulk_create(rows)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_manager_reads_the_impact_page(page, login, screenshot):
    platform = TeamFactory(name="Platform")
    infra = TeamFactory(name="Infrastructure", parent=platform)
    payments = TeamFactory(name="Payments")
    lead = EngineerFactory(name="Grace Hopper", title="Engineering Manager", team=platform)
    people = [lead]
    teams = [platform]
    for n in range(9):
        team = infra if n % 2 else platform
        people.append(EngineerFactory(name=f"Engineer {n}", manager=lead, team=team))
        teams.append(team)
    outsider = EngineerFactory(name="Someone Else", team=payments)
    seed_usage([*people, outsider], [*teams, payments], days=40)
    idle = people[3]
    # An agent left running: a large bill in the last days, and no PR all month.
    DailyUsage.objects.filter(engineer=idle).update(cost_usd=Decimal("40"))
    seed_prs([*people, outsider], idle=idle)

    login(lead.user.username, PASSWORD)
    page.goto("/impact/")
    page.wait_for_selector("[data-chart=chart-impact] .main-svg")
    assert page.locator("h1").inner_text() == "Impact vs. spend"
    assert page.locator("[data-chart=chart-impact] .scatterlayer .point").count() == len(people) + 1
    assert page.locator("[data-chart=chart-impact] .annotation-text").count() == 4
    assert "Spend with no output" in page.locator("#flags").inner_text()
    assert idle.name in page.locator("#flags").inner_text()
    screenshot("impact")

    page.select_option("select[name=period]", "7d")
    page.wait_for_url("**period=7d**")
    page.wait_for_selector("[data-chart=chart-impact] .main-svg")

    # A team's row narrows the page to its members; a new period keeps the team.
    page.locator(".usage-table a", has_text="Infrastructure").first.click()
    page.wait_for_url(f"**team={infra.pk}**")
    assert "Infrastructure: the team's members" in page.locator("header.usage-head").inner_text()
    page.wait_for_selector("[data-chart=chart-impact] .main-svg")
    page.select_option("select[name=period]", "30d")
    page.wait_for_url(f"**team={infra.pk}**period=30d**")
    assert "Infrastructure: the team's members" in page.locator("header.usage-head").inner_text()
    screenshot("impact-team")
    page.click("text=Show everyone you may see")
    page.wait_for_url("**/impact/?period=30d")

    page.goto("/")
    page.click("text=Efficiency")
    page.wait_for_url("**/efficiency/**")
    assert page.locator(".lb-table tbody tr").count() >= 2
    screenshot("efficiency")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/impact/")
    page.wait_for_selector("[data-chart=chart-impact] .main-svg")
    screenshot("impact-phone")
