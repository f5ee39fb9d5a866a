from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from billing.models import CapException, CapPolicy, TeamBudget, TeamWebhook
from billing.selectors import cap_effective
from billing.services.caps import (
    cap_policy_delete,
    cap_policy_set,
    cap_policy_update,
    team_budget_set,
    team_webhook_set,
)
from billing.services.exceptions import cap_exception_decide, cap_exception_request
from leaderboard.models import AuditEntry
from tests.billing.conftest import TODAY
from tests.factories import CapPolicyFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin():
    return UserFactory(username="admin@example.com", is_staff=True)


def set_policy(actor, **kwargs):
    values = {"scope": "org", "amount_usd": "1500", "today": TODAY}
    values.update(kwargs)
    return cap_policy_set(actor=actor, **values)


def test_setting_a_policy_saves_it_and_audits_the_new_value_and_reason(org, admin):
    policy, created = set_policy(
        admin,
        scope="team",
        team_name="Platform",
        vendor="Anthropic",
        product="claude_code",
        amount_usd="1,500.00",
        reason="Uber-style cap",
    )
    assert created and policy.team == org.platform and policy.vendor == "anthropic"
    entry = AuditEntry.objects.get()
    assert (entry.user, entry.action, entry.target) == (admin, "cap_policy_create", f"cap_policy:{policy.pk}")
    assert entry.details["old"] is None
    assert entry.details["new"]["amount_usd"] == "1500.00"
    assert entry.details["reason"] == "Uber-style cap"


def test_changing_a_policy_audits_the_old_and_new_values(org, admin):
    policy, _ = set_policy(admin, amount_usd="1500")
    cap_policy_update(actor=admin, policy_id=policy.pk, amount_usd="2000", reason="budget grew", today=TODAY)
    entry = AuditEntry.objects.filter(action="cap_policy_update").get()
    assert (entry.details["old"]["amount_usd"], entry.details["new"]["amount_usd"]) == ("1500.00", "2000.00")
    assert entry.details["reason"] == "budget grew"


def test_deleting_a_policy_audits_what_was_deleted_and_the_next_policy_applies(org, admin):
    CapPolicyFactory(amount_usd=Decimal("100"))
    policy, _ = set_policy(admin, scope="engineer", engineer_email="alice@example.com", amount_usd="900")
    cap_policy_delete(actor=admin, policy_id=policy.pk, reason="back to default", today=TODAY)
    entry = AuditEntry.objects.filter(action="cap_policy_delete").get()
    assert entry.details["old"]["amount_usd"] == "900.00" and entry.details["new"] is None
    assert cap_effective(engineer_id=org.alice.pk, vendor="x", today=TODAY).cap_usd == Decimal("100.00")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount_usd": "-5"}, "Amount must be at least $0, not -5."),
        ({"amount_usd": "lots"}, "Amount must be a number of US dollars, not 'lots'."),
        ({"amount_usd": "NaN"}, "Amount must be a number of US dollars"),
        ({"amount_usd": "10.001"}, "at most two decimals"),
        ({"amount_usd": "1e400"}, "Amount is too large: 1e400."),
        ({"period": "week"}, "Period must be one of month, quarter, year, not 'week'."),
        ({"valid_until": date(2026, 11, 9), "reason": "x"}, "The expiry date 2026-11-09 is in the past"),
        ({"valid_until": "next tuesday", "reason": "x"}, "must be a date as YYYY-MM-DD"),
        ({"valid_until": date(2026, 12, 1)}, "An override with an expiry date needs a reason."),
        ({"scope": "team", "team_name": "Nope"}, "There is no team named 'Nope'."),
        (
            {"scope": "engineer", "engineer_email": "ghost@example.com"},
            "no engineer with the email 'ghost@example.com'",
        ),
        ({"scope": "galaxy"}, "Scope must be org, team or engineer"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_is_saved(org, admin, kwargs, message):
    with pytest.raises(ValidationError, match=message.replace("$", r"\$").replace("(", r"\(").replace(")", r"\)")):
        set_policy(admin, **kwargs)
    assert not CapPolicy.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_duplicate_policy_for_the_same_scope_and_tool_is_refused(org, admin):
    set_policy(admin, vendor="cursor")
    with pytest.raises(ValidationError, match="already set for this scope and tool"):
        set_policy(admin, vendor="cursor", amount_usd="99")
    assert CapPolicy.objects.get().amount_usd == Decimal("1500.00")


def test_the_database_refuses_a_duplicate_policy_too(org):
    CapPolicyFactory(team=org.platform)
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        CapPolicyFactory(team=org.platform)


def test_replace_existing_changes_the_policy_of_the_same_scope_and_tool(org, admin):
    first, _ = set_policy(admin, vendor="cursor")
    again, created = set_policy(admin, vendor="cursor", amount_usd="99", replace_existing=True)
    assert (again.pk, created, again.amount_usd) == (first.pk, False, Decimal("99.00"))


def test_a_manager_may_cap_people_and_teams_in_their_chain_only(org):
    manager = org.boss.user
    set_policy(manager, scope="engineer", engineer_email="alice@example.com", amount_usd="700")
    set_policy(manager, scope="team", team_name="Storage", amount_usd="800")
    with pytest.raises(ValidationError, match="carol@example.com is not in your reporting chain."):
        set_policy(manager, scope="engineer", engineer_email="carol@example.com")
    with pytest.raises(ValidationError, match="Team Applied AI is not within your reporting chain."):
        set_policy(manager, scope="team", team_name="Applied AI")
    with pytest.raises(ValidationError, match="Only finance or an admin can change the org-wide default."):
        set_policy(manager, scope="org")
    assert CapPolicy.objects.count() == 2


def test_an_engineer_without_reports_cannot_set_caps_and_finance_can_set_any(org):
    with pytest.raises(ValidationError, match="not in your reporting chain"):
        set_policy(org.alice.user, scope="engineer", engineer_email="alice@example.com")
    finance = UserFactory(username="fin@example.com")
    finance.groups.add(Group.objects.create(name="finance"))
    set_policy(finance, scope="org")
    assert CapPolicy.objects.count() == 1


def test_a_team_budget_is_created_then_changed_and_both_are_audited(org, admin):
    budget, created = team_budget_set(actor=admin, team_name="Platform", amount_usd="10000", reason="Q4", today=TODAY)
    again, created_again = team_budget_set(actor=admin, team_name="platform", amount_usd="12000", today=TODAY)
    assert created and not created_again and again.pk == budget.pk
    assert TeamBudget.objects.get().amount_usd == Decimal("12000.00")
    actions = list(AuditEntry.objects.order_by("at", "pk").values_list("action", flat=True))
    assert actions == ["team_budget_create", "team_budget_update"]


def test_a_team_webhook_must_be_an_http_url(org, admin):
    with pytest.raises(ValidationError, match="must be an http"):
        team_webhook_set(actor=admin, team_name="Platform", url="ftp://x", today=TODAY)
    team_webhook_set(actor=admin, team_name="Platform", url="https://hooks.example.com/x", today=TODAY)
    assert TeamWebhook.objects.get().url == "https://hooks.example.com/x"


def test_an_engineer_asks_for_a_raise_and_their_manager_approves_it(org):
    CapPolicyFactory(vendor="anthropic", product="claude_code", amount_usd=Decimal("1500"))
    request = cap_exception_request(
        actor=org.alice.user,
        engineer_email="alice@example.com",
        amount_usd="500",
        reason="migration sprint",
        until="2026-11-30",
        vendor="anthropic",
        product="claude_code",
        today=TODAY,
    )
    assert request.status == CapException.Status.PENDING
    before = cap_effective(engineer_id=org.alice.pk, vendor="anthropic", product="claude_code", today=TODAY)
    decided = cap_exception_decide(actor=org.boss.user, exception_id=request.pk, approve=True, note="ok", today=TODAY)
    after = cap_effective(engineer_id=org.alice.pk, vendor="anthropic", product="claude_code", today=TODAY)
    assert decided.status == "approved" and decided.decided_by == org.boss.user
    assert (before.cap_usd, after.cap_usd) == (Decimal("1500.00"), Decimal("2000.00"))
    actions = list(AuditEntry.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["cap_exception_request", "cap_exception_approve"]


def test_a_raise_is_refused_without_reason_or_with_an_end_date_in_the_past(org):
    with pytest.raises(ValidationError, match="Say why"):
        cap_exception_request(
            actor=None, engineer_email="alice@example.com", amount_usd="5", reason=" ", until="2026-12-01", today=TODAY
        )
    with pytest.raises(ValidationError, match="The end date 2026-11-01 is in the past"):
        cap_exception_request(
            actor=None, engineer_email="alice@example.com", amount_usd="5", reason="x", until="2026-11-01", today=TODAY
        )
    with pytest.raises(ValidationError, match="must be more than"):
        cap_exception_request(
            actor=None, engineer_email="alice@example.com", amount_usd="0", reason="x", until="2026-12-01", today=TODAY
        )
    assert not CapException.objects.exists()


def test_a_raise_for_a_vendor_nobody_uses_or_caps_is_refused_as_a_likely_typo(org):
    from tests.factories import DailyUsageFactory

    DailyUsageFactory(engineer=org.bob, day=TODAY, vendor="cursor", product="cursor")
    CapPolicyFactory(vendor="anthropic", amount_usd=Decimal("1500"))
    ask = {
        "actor": None,
        "engineer_email": "alice@example.com",
        "amount_usd": "5",
        "reason": "x",
        "until": "2026-12-01",
    }

    with pytest.raises(ValidationError) as refused:
        cap_exception_request(**ask, vendor="antropic", today=TODAY)
    assert refused.value.messages == [
        "No one has used 'antropic' lately and no cap names it: check the spelling (anthropic, cursor), "
        "or leave the vendor empty for every tool."
    ]
    with pytest.raises(ValidationError, match="Name the vendor of the product"):
        cap_exception_request(**ask, product="claude_code", today=TODAY)
    assert not CapException.objects.exists()
    # Someone's usage (Bob's Cursor) or a cap (Anthropic) makes a vendor known, in any case.
    assert cap_exception_request(**ask, vendor=" Cursor ", today=TODAY).vendor == "cursor"
    assert cap_exception_request(**ask, vendor="anthropic", product="claude_code", today=TODAY).product == "claude_code"


def test_only_someone_above_the_engineer_decides_and_only_once(org):
    request = cap_exception_request(
        actor=org.alice.user,
        engineer_email="alice@example.com",
        amount_usd="5",
        reason="x",
        until="2026-12-01",
        today=TODAY,
    )
    with pytest.raises(ValidationError, match="You cannot decide on your own request."):
        cap_exception_decide(actor=org.alice.user, exception_id=request.pk, approve=True, today=TODAY)
    with pytest.raises(ValidationError, match="not in your reporting chain"):
        cap_exception_decide(actor=org.carol.user, exception_id=request.pk, approve=True, today=TODAY)
    cap_exception_decide(actor=org.boss.user, exception_id=request.pk, approve=False, today=TODAY)
    with pytest.raises(ValidationError, match="already denied"):
        cap_exception_decide(actor=org.boss.user, exception_id=request.pk, approve=True, today=TODAY)


def test_caps_and_tool_policies_take_display_names_and_refuse_a_misspelt_vendor(org, admin):
    from billing.services.tools import tool_policy_set

    policy, _ = set_policy(admin, vendor="Anthropic", product="Claude Code")
    assert (policy.vendor, policy.product) == ("anthropic", "claude_code")  # as the importers write them
    banned, _ = tool_policy_set(
        actor=None,
        team_name="Platform",
        vendor="GitHub",
        product="copilot",
        starts_on="2026-11-01",
        reason="x",
        today=TODAY,
    )
    assert (banned.vendor, banned.product) == ("github", "copilot")
    # A vendor Tokenboard knows needs no usage yet (a cap set before the first import).
    assert set_policy(admin, vendor="deepseek")[0].vendor == "deepseek"
    for write in (
        lambda: set_policy(admin, vendor="antropic", amount_usd="300"),
        lambda: tool_policy_set(
            actor=None, team_name="Platform", vendor="antropic", starts_on="2026-11-01", reason="x", today=TODAY
        ),
    ):
        with pytest.raises(ValidationError, match="No one has used 'antropic' lately and no cap names it"):
            write()
    assert not CapPolicy.objects.filter(vendor="antropic").exists()
