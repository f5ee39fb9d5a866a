"""Seats and spend anomalies in a real browser: a manager opens the anomalies page from the
nav; finance uploads a seats file on /finance/ and sees seats beside metered spend."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import expect

from billing.services.anomalies import spend_anomalies_detect
from tests.factories import PASSWORD, DailyUsageFactory, EngineerFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def spiky_team():
    """A manager over two engineers with 30 steady days each and one spike for one of them."""
    today = timezone.localdate()
    storage = TeamFactory(name="Storage")
    lead = EngineerFactory(name="Grace Hopper", email="grace@example.com", title="Engineering Manager", team=storage)
    alan = EngineerFactory(name="Alan Turing", email="alan@example.com", manager=lead, team=storage)
    edsger = EngineerFactory(name="Edsger Dijkstra", email="edsger@example.com", manager=lead, team=storage)
    for n in range(1, 31):
        for person, base in ((alan, 11), (edsger, 7)):
            DailyUsageFactory(
                engineer=person, team=storage, day=today - timedelta(days=n), cost_usd=Decimal(base + n % 4)
            )
    DailyUsageFactory(
        engineer=alan, team=storage, day=today - timedelta(days=2), product="claude_code", cost_usd=Decimal("412.80")
    )
    DailyUsageFactory(
        engineer=edsger, team=storage, day=today - timedelta(days=5), product="claude_code", cost_usd=Decimal("38.50")
    )
    spend_anomalies_detect(today=today)
    return lead


def test_a_manager_sees_the_anomalies_of_their_reports(page, login, screenshot):
    lead = spiky_team()
    login(lead.user.username, PASSWORD)
    page.click("nav >> text=Anomalies")
    expect(page.locator("h1")).to_contain_text("Spend anomalies")
    rows = page.locator("table.anomaly-table tbody tr")
    expect(rows.first).to_contain_text("Alan Turing")
    expect(rows.first).to_contain_text("$425.80")  # the spike and that day's steady use
    expect(page.locator("table.anomaly-table")).to_contain_text("Edsger Dijkstra")
    screenshot("anomalies")


def test_finance_uploads_seats_and_sees_them_beside_metered_spend(page, login, screenshot, tmp_path):
    spiky_team()
    user = UserFactory(username="fiona@example.com")
    user.groups.add(Group.objects.get_or_create(name="finance")[0])
    month_start = timezone.localdate().replace(day=1)
    seats = tmp_path / "seats.csv"
    seats.write_text(
        "email,vendor,product,monthly_price_usd,start,end\n"
        f"alan@example.com,cursor,cursor,40,{month_start - timedelta(days=40)},\n"
        f"edsger@example.com,github,copilot,19,{month_start},\n"
        f"grace@example.com,github,copilot,19,{month_start - timedelta(days=90)},{month_start + timedelta(days=9)}\n"
    )
    login("fiona@example.com", PASSWORD)
    page.goto("/finance/")
    page.set_input_files("#seats input[type=file]", str(seats))
    page.click("#seats button")
    expect(page.locator("#seats .messages")).to_contain_text("3 seats (3 new")
    expect(page.locator(".usage-stats")).to_contain_text("+ seats $")
    vendors = page.locator("section:has(h2:text-is('By vendor')) tbody")
    expect(vendors).to_contain_text("GitHub")
    page.wait_for_selector("[data-chart='chart-fin-vendors'] .main-svg")
    screenshot("finance-seats")
