from datetime import date
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from billing.models import ToolViolation
from billing.services.evaluation import caps_evaluate
from billing.services.tools import tool_policy_set, tool_violations_evaluate
from leaderboard.models import AuditEntry
from tests.billing.conftest import TODAY
from tests.factories import DailyUsageFactory

pytestmark = pytest.mark.django_db


def used(engineer, team, day, product="claude_code", cost="2.50", vendor="anthropic"):
    DailyUsageFactory(engineer=engineer, team=team, day=day, vendor=vendor, product=product, cost_usd=Decimal(cost))


def test_usage_against_a_tool_policy_is_listed_per_engineer_with_days_and_spend(org):
    tool_policy_set(
        actor=None,
        team_name="Applied AI",
        vendor="anthropic",
        product="claude_code",
        starts_on="2026-11-01",
        reason="use the in-house agent",
        today=TODAY,
    )
    used(org.carol, org.applied, date(2026, 10, 31))  # before the policy
    used(org.carol, org.applied, date(2026, 11, 2))
    used(org.carol, org.applied, date(2026, 11, 5), cost="1.00")
    used(org.carol, org.applied, date(2026, 11, 5), product="api")  # another product: allowed
    used(org.alice, org.storage, date(2026, 11, 5))  # another team: allowed
    tool_violations_evaluate(today=TODAY)
    tool_violations_evaluate(today=TODAY)
    violation = ToolViolation.objects.get()
    assert (violation.engineer, violation.vendor, violation.product) == (org.carol, "anthropic", "claude_code")
    assert (violation.first_day, violation.last_day, violation.days, violation.cost_usd) == (
        date(2026, 11, 2),
        date(2026, 11, 5),
        2,
        Decimal("3.5"),
    )


def test_a_vendor_wide_policy_covers_every_product_of_the_team_subtree(org):
    tool_policy_set(
        actor=None,
        team_name="Engineering",
        vendor="openai",
        starts_on=date(2026, 1, 1),
        reason="one vendor",
        today=TODAY,
    )
    used(org.alice, org.storage, date(2026, 11, 3), vendor="openai", product="codex")
    used(org.carol, org.applied, date(2026, 11, 3), vendor="openai", product="api")
    tool_violations_evaluate(today=TODAY)
    assert ToolViolation.objects.count() == 2


def test_the_manager_is_told_once_about_a_violation(org, django_capture_on_commit_callbacks):
    tool_policy_set(
        actor=None, team_name="Storage", vendor="anthropic", starts_on="2026-11-01", reason="budget", today=TODAY
    )
    used(org.alice, org.storage, date(2026, 11, 3))
    with django_capture_on_commit_callbacks(execute=True):
        caps_evaluate(engineer_ids=[], today=TODAY)
    with django_capture_on_commit_callbacks(execute=True):
        caps_evaluate(engineer_ids=[], today=TODAY)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["boss@example.com"]
    assert "Alice Liddell used Anthropic · Claude Code on 1 day(s)" in mail.outbox[0].body


def test_a_tool_policy_needs_a_vendor_a_reason_and_a_known_team_and_is_audited(org):
    with pytest.raises(ValidationError, match="Name the vendor"):
        tool_policy_set(actor=None, team_name="Storage", vendor=" ", starts_on="2026-11-01", reason="x")
    with pytest.raises(ValidationError, match="Say why"):
        tool_policy_set(actor=None, team_name="Storage", vendor="openai", starts_on="2026-11-01", reason="")
    with pytest.raises(ValidationError, match="There is no team named 'Nope'"):
        tool_policy_set(actor=None, team_name="Nope", vendor="openai", starts_on="2026-11-01", reason="x")
    with pytest.raises(ValidationError, match="must be a date"):
        tool_policy_set(actor=None, team_name="Storage", vendor="openai", starts_on="someday", reason="x")
    tool_policy_set(actor=None, team_name="Storage", vendor="openai", starts_on="2026-11-01", reason="x")
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["tool_policy_create"]
