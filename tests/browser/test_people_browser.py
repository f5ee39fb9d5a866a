"""The people and team pages in a real browser: charts drawn, the period switched by htmx."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import PASSWORD, EngineerFactory, TeamFactory
from usage.models import DailyUsage

MODELS = [
    ("anthropic", "claude_code", "claude-sonnet-4-5"),
    ("anthropic", "api", "claude-haiku-4-5"),
    ("openai", "codex", "gpt-5"),
]


def seed_usage(people, teams, days: int = 90) -> None:
    """About three months of varied usage for each person, in their team, up to today."""
    rng = random.Random(3)
    today = timezone.now().date()
    rows = []
    for n, person in enumerate(people):
        for back in range(days):
            if rng.random() < 0.3:
                continue  # weekends, days off
            for vendor, product, model in MODELS[: 3 - n % 3]:
                tokens = rng.randint(200_000, 4_000_000)
                rows.append(
                    DailyUsage(
                        day=today - timedelta(days=back),
                        engineer=person,
                        team=teams[n],
                        vendor=vendor,
                        product=product,
                        model=model,
                        input_uncached_tokens=tokens // 10,
                        cache_read_tokens=tokens * 7 // 10,
                        cache_write_tokens=tokens // 20,
                        output_tokens=tokens * 3 // 20,
                        tokens=tokens,
                        requests=tokens // 20_000,
                        cost_usd=Decimal(tokens) * Decimal(rng.choice([2, 3, 6])) / 1_000_000,
                    )
                )
    DailyUsage.objects.bulk_create(rows)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_manager_opens_their_usage_and_their_team(page, login, screenshot):
    platform = TeamFactory(name="Platform")
    infra = TeamFactory(name="Infrastructure", parent=platform)
    devex = TeamFactory(name="Developer Experience", parent=platform)
    lead = EngineerFactory(name="Grace Hopper", title="Engineering Manager", team=platform)
    people = [lead]
    for n, team in enumerate([infra, infra, devex, devex, devex, platform]):
        people.append(EngineerFactory(name=f"Engineer {n}", manager=lead, team=team))
    seed_usage(people, [platform, infra, infra, devex, devex, devex, platform])

    login(lead.user.username, PASSWORD)
    page.goto("/me/")
    page.wait_for_selector("[data-chart=chart-daily] .main-svg")
    page.wait_for_selector("[data-chart=chart-rank] .main-svg")
    assert page.locator("h1").inner_text() == "My usage"
    screenshot("me")

    page.select_option("select[name=period]", "last_month")
    page.wait_for_url("**period=last_month**")
    page.wait_for_selector("[data-chart=chart-daily] .main-svg")
    assert page.locator("select[name=period]").input_value() == "last_month"

    page.goto(f"/teams/{platform.pk}/")
    page.wait_for_selector("[data-chart=chart-team-daily] .main-svg")
    assert page.locator(".usage-spark").count() == len(people)
    screenshot("team")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/me/")
    page.wait_for_selector("[data-chart=chart-daily] .main-svg")
    screenshot("me-phone")
