"""The sources page in a real browser: a failed source, run now, and the primary-source settings."""

import importlib
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import PASSWORD, UserFactory
from usage.models import SourcePriority, UsageSource

# A transactional test before this one may have flushed the rows migration 0004 seeds.
DEFAULTS = importlib.import_module("usage.migrations.0005_sources").DEFAULT_PRIORITIES


class HeldTask:
    """Stands in for the source task: the run stays queued, as while a worker is busy."""

    queued: list[dict] = []

    @classmethod
    def delay_on_commit(cls, **kwargs) -> None:
        cls.queued.append(kwargs)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_admin_sees_each_source_and_runs_one_now(page, login, screenshot, monkeypatch):
    monkeypatch.setattr("usage.tasks.usage_source_run_task", HeldTask)
    admin = UserFactory(username="admin@example.com", is_staff=True)
    for name, primary, other in DEFAULTS:
        SourcePriority.objects.get_or_create(
            first_dataset=primary, second_dataset=other, defaults={"name": name, "primary_dataset": primary}
        )
    now = datetime.now(UTC)
    UsageSource.objects.create(
        name="anthropic-prod", kind="anthropic_usage", credential_env="TOKENBOARD_SOURCE_ANTHROPIC_KEY", last_status="ok",
        last_rows=18234, last_batches=4, last_finished_at=now - timedelta(minutes=12),
        next_run_at=now + timedelta(minutes=48), watermark_at=now.replace(hour=0, minute=0, second=0, microsecond=0),
    )  # fmt: skip
    UsageSource.objects.create(
        name="copilot-acme", kind="copilot_metrics", account="acme", credential_env="TOKENBOARD_SOURCE_GITHUB_TOKEN",
        last_status="failed", failures=3, last_finished_at=now - timedelta(minutes=3),
        last_error="GET https://api.github.com/orgs/acme/copilot/metrics/reports/users-1-day: HTTP 403 Forbidden: "
        '{"message": "Copilot metrics API access is disabled for this organization."}',
    )  # fmt: skip
    login(admin.username, PASSWORD)

    page.goto("/")
    page.click("nav >> text=Sources")
    page.wait_for_url("**/sources/")
    rows = page.locator("#sources tbody tr")
    assert rows.count() == 2
    assert "HTTP 403" in rows.nth(1).inner_text() and "3 failures in a row" in rows.nth(1).inner_text()
    assert page.locator("#priorities tbody tr").count() == 4
    screenshot("sources")

    HeldTask.queued.clear()
    rows.nth(0).locator("button", has_text="Run now").click()
    page.wait_for_selector("#source-anthropic-prod >> text=queued")
    assert HeldTask.queued == [{"source_id": UsageSource.objects.get(name="anthropic-prod").pk, "force": True}]
    assert page.locator("#sources[hx-trigger]").count() == 1  # polling for the run's outcome
    screenshot("sources-queued")

    # The worker runs it while the page is open: the row shows the outcome and polling stops.
    UsageSource.objects.filter(name="anthropic-prod").update(last_finished_at=datetime.now(UTC), last_rows=99)
    page.wait_for_selector("#source-anthropic-prod >> text=99")
    assert page.locator("#sources[hx-trigger]").count() == 0

    page.locator("#priorities tr", has_text="LiteLLM").locator("button").click()
    page.wait_for_url("**/sources/#priorities")
    assert "litellm_spend" in page.locator("#priorities tr", has_text="LiteLLM").locator("td").nth(1).inner_text()
    screenshot("sources-priority-changed")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/sources/")
    screenshot("sources-phone")
