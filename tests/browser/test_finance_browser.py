from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from tests.billing.test_finance import import_samples
from tests.factories import PASSWORD, TeamBudgetFactory, UserFactory
from usage.models import Team

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_finance_reviews_a_month_with_its_reconciliation_and_exports(page, login, screenshot, samples):
    import_samples(samples)
    TeamBudgetFactory(team=Team.objects.get(name="Engineering"), period="month", amount_usd=Decimal("1200.00"))
    TeamBudgetFactory(team=Team.objects.get(name="Platform"), period="month", amount_usd=Decimal("400.00"))
    user = UserFactory(username="fiona@example.com")
    user.groups.add(Group.objects.get_or_create(name="finance")[0])
    login("fiona@example.com", PASSWORD)

    page.goto("/finance/?month=2026-10")
    expect(page.locator("h1")).to_contain_text("October 2026")
    expect(page.locator(".main-nav")).to_contain_text("Finance")
    reconciliation = page.locator("section:has(h2:has-text('Reconciliation')) tbody tr").first
    expect(reconciliation).to_contain_text("$1,092.92")
    expect(reconciliation).to_contain_text("$991.16")
    expect(reconciliation).to_contain_text("$101.77")
    page.wait_for_selector("[data-chart='chart-fin-vendors'] .main-svg")

    with page.expect_download() as download:
        page.click("text=FOCUS 1.2 CSV")
    assert download.value.suggested_filename == "tokenboard-focus-2026-10.csv"
    screenshot("finance")
