"""The caps page (/caps/), the cap bars on /me/ and the budget bar on team pages: who sees
what, writes through the services with bad input refused, and fixed query counts."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from billing.models import CapPolicy, CapStatus, TeamBudget, ToolPolicy, ToolViolation
from billing.periods import period_bounds
from leaderboard.access import FINANCE_GROUP, user_manages_caps
from leaderboard.models import AuditEntry
from tests.factories import (
    CapPolicyFactory,
    DailyUsageFactory,
    EngineerFactory,
    TeamBudgetFactory,
    TeamFactory,
    UserFactory,
)
from tests.leaderboard.test_people import OCTOBER_QUERY, make_org

pytestmark = pytest.mark.django_db
URL = "/caps/"
FUTURE = "2099-12-31"


@pytest.fixture
def finance():
    user = UserFactory(username="fin@example.com")
    user.groups.add(Group.objects.get_or_create(name=FINANCE_GROUP)[0])
    return user


def add_policy(client, **fields):
    data = {"action": "policy", "scope": "engineer", "period": "month", "amount_usd": "1500", **fields}
    return client.post(URL, {f"policy-{k}" if k != "action" else k: v for k, v in data.items()})


def test_anonymous_users_are_sent_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_an_engineer_who_manages_nobody_gets_404_everywhere_on_it(client, org):
    policy = CapPolicyFactory(engineer=org.alice)
    client.force_login(org.alice.user)
    assert client.get(URL).status_code == 404
    assert client.get(reverse("billing:cap-policy-edit", args=[policy.pk])).status_code == 404
    assert client.post(reverse("billing:cap-policy-delete", args=[policy.pk])).status_code == 404
    assert add_policy(client, engineer_email="alice@example.com", amount_usd="99999").status_code == 404
    assert CapPolicy.objects.get().amount_usd == Decimal("1500.00")


def test_a_manager_sees_the_caps_of_their_chain_and_teams_only(client, org):
    CapPolicyFactory(amount_usd=Decimal("111"))
    CapPolicyFactory(engineer=org.alice, amount_usd=Decimal("222"))
    CapPolicyFactory(engineer=org.carol, amount_usd=Decimal("333"))
    TeamBudgetFactory(team=org.storage, amount_usd=Decimal("4444"))
    TeamBudgetFactory(team=org.applied, amount_usd=Decimal("5555"))
    client.force_login(org.boss.user)
    page = client.get(URL).context["page"]
    assert [(p.scope, p.amount_usd, p.editable) for p in page.policies] == [
        ("Everyone (org default)", Decimal("111.00"), False),
        ("Alice Liddell", Decimal("222.00"), True),
    ]
    assert [b.team for b in page.budgets] == ["Storage"]
    assert set(page.team_names) == {"Platform", "Storage"}
    assert page.emails == ["alice@example.com", "bob@example.com"]


def test_the_top_manager_sees_everyone_elses_caps_and_every_team_with_people(client, org):
    """Everyone else reports to Bo: no chain filter, but Bo's own caps and empty teams stay out."""
    org.carol.manager = org.boss
    org.carol.save()
    empty = TeamFactory(name="Empty", parent=org.engineering)
    CapPolicyFactory(amount_usd=Decimal("111"))
    for engineer, amount in [(org.boss, "1"), (org.alice, "222"), (org.carol, "333")]:
        CapPolicyFactory(engineer=engineer, amount_usd=Decimal(amount))
    CapPolicyFactory(team=org.applied, amount_usd=Decimal("444"))
    CapPolicyFactory(team=empty, amount_usd=Decimal("2"))
    TeamBudgetFactory(team=org.applied, amount_usd=Decimal("5555"))
    TeamBudgetFactory(team=empty, amount_usd=Decimal("3"))
    policy = ToolPolicy.objects.create(team=org.engineering, vendor="anthropic", starts_on="2026-11-01", reason="x")
    day = timezone.localdate()
    for engineer in (org.boss, org.carol):
        ToolViolation.objects.create(
            tool_policy=policy, engineer=engineer, vendor="anthropic", first_day=day, last_day=day, days=1, cost_usd=1
        )
    client.force_login(org.boss.user)
    page = client.get(URL).context["page"]
    assert [(p.scope, p.amount_usd, p.editable) for p in page.policies] == [
        ("Everyone (org default)", Decimal("111.00"), False),
        ("Team Applied AI", Decimal("444.00"), True),
        ("Alice Liddell", Decimal("222.00"), True),
        ("Carol King", Decimal("333.00"), True),
    ]
    assert [b.team for b in page.budgets] == ["Applied AI"]
    assert [t.team for t in page.tool_policies] == ["Engineering"]
    assert [v.engineer for v in page.violations] == ["Carol King"]
    assert page.team_names == ["Applied AI", "Engineering", "Platform", "Storage"]
    assert page.emails == ["alice@example.com", "bob@example.com", "carol@example.com"]


def test_finance_sees_and_edits_everything(client, org, finance):
    CapPolicyFactory(amount_usd=Decimal("111"))
    CapPolicyFactory(engineer=org.carol)
    TeamBudgetFactory(team=org.applied)
    client.force_login(finance)
    page = client.get(URL).context["page"]
    assert [p.editable for p in page.policies] == [True, True]
    assert [b.team for b in page.budgets] == ["Applied AI"]


def test_a_manager_sets_a_cap_for_a_report_and_it_is_audited(client, org):
    client.force_login(org.boss.user)
    response = add_policy(client, engineer_email="alice@example.com", vendor="Anthropic", product="claude_code")
    assert response.status_code == 302
    policy = CapPolicy.objects.get()
    assert (policy.engineer, policy.vendor, policy.amount_usd, policy.created_by) == (
        org.alice,
        "anthropic",
        Decimal("1500.00"),
        org.boss.user,
    )
    assert AuditEntry.objects.get().action == "cap_policy_create"
    assert "Cap set: engineer alice@example.com, anthropic/claude_code" in client.get(URL).text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"engineer_email": "alice@example.com", "amount_usd": "-5"}, "Amount must be at least $0, not -5."),
        ({"engineer_email": "alice@example.com", "amount_usd": "lots"}, "Amount must be a number of US dollars"),
        (
            {"engineer_email": "alice@example.com", "vendor": "cursor"},
            "A policy is already set for this scope and tool",
        ),
        (
            {"engineer_email": "alice@example.com", "valid_until": "2020-01-01", "reason": "old"},
            "The expiry date 2020-01-01 is in the past",
        ),
        ({"engineer_email": "carol@example.com"}, "carol@example.com is not in your reporting chain."),
        ({"scope": "team", "team_name": "Applied AI"}, "Team Applied AI is not within your reporting chain."),
        ({"scope": "team", "team_name": "Nowhere"}, "There is no team named &#x27;Nowhere&#x27;."),
        ({"engineer_email": "nobody@example.com"}, "There is no engineer with the email"),
        ({"scope": "org"}, "Only finance or an admin can change the org-wide default."),
    ],
)
def test_bad_input_is_refused_on_the_page_and_nothing_is_saved(client, org, fields, message):
    CapPolicyFactory(engineer=org.alice, vendor="cursor")
    client.force_login(org.boss.user)
    response = add_policy(client, **fields)
    assert response.status_code == 200
    assert message in response.text
    assert CapPolicy.objects.count() == 1
    assert not AuditEntry.objects.exists()


def test_a_manager_changes_a_cap_on_its_page_and_bad_changes_are_refused(client, org):
    policy = CapPolicyFactory(engineer=org.alice)
    client.force_login(org.boss.user)
    url = reverse("billing:cap-policy-edit", args=[policy.pk])
    assert 'value="1500.00"' in client.get(url).text
    refused = client.post(url, {"amount_usd": "10", "period": "month", "valid_until": "2020-01-01", "reason": "x"})
    assert "is in the past" in refused.text
    policy.refresh_from_db()
    assert policy.amount_usd == Decimal("1500.00")
    response = client.post(url, {"amount_usd": "2000", "period": "quarter", "valid_until": FUTURE, "reason": "launch"})
    assert response.status_code == 302
    policy.refresh_from_db()
    assert (policy.amount_usd, policy.period, str(policy.valid_until)) == (Decimal("2000.00"), "quarter", FUTURE)
    assert AuditEntry.objects.get().action == "cap_policy_update"


def test_a_manager_cannot_open_or_delete_a_cap_outside_their_chain(client, org):
    carols = CapPolicyFactory(engineer=org.carol)
    org_default = CapPolicyFactory()
    client.force_login(org.boss.user)
    assert client.get(reverse("billing:cap-policy-edit", args=[carols.pk])).status_code == 404
    assert client.get(reverse("billing:cap-policy-edit", args=[org_default.pk])).status_code == 404
    response = client.post(reverse("billing:cap-policy-delete", args=[carols.pk]), follow=True)
    assert "carol@example.com is not in your reporting chain." in response.text
    assert CapPolicy.objects.count() == 2


def test_a_manager_deletes_a_cap_of_their_chain_with_a_reason(client, org):
    policy = CapPolicyFactory(engineer=org.alice)
    client.force_login(org.boss.user)
    response = client.post(reverse("billing:cap-policy-delete", args=[policy.pk]), {"reason": "left the project"})
    assert response.status_code == 302
    assert not CapPolicy.objects.exists()
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.details["reason"]) == ("cap_policy_delete", "left the project")


def test_team_budgets_are_set_changed_and_deleted_on_the_page(client, org):
    client.force_login(org.boss.user)
    data = {"action": "budget", "budget-team_name": "Storage", "budget-period": "month", "budget-amount_usd": "-1"}
    assert "Amount must be at least $0" in client.post(URL, data).text
    assert not TeamBudget.objects.exists()
    assert client.post(URL, {**data, "budget-amount_usd": "5000"}).status_code == 302
    assert client.post(URL, {**data, "budget-amount_usd": "6000"}).status_code == 302
    budget = TeamBudget.objects.get()
    assert budget.amount_usd == Decimal("6000.00")
    client.post(reverse("billing:team-budget-delete", args=[budget.pk]))
    assert not TeamBudget.objects.exists()
    assert [e.action for e in AuditEntry.objects.order_by("pk")] == [
        "team_budget_create",
        "team_budget_update",
        "team_budget_delete",
    ]


def test_tool_policies_are_set_on_the_page_and_need_a_reason(client, org, finance):
    client.force_login(finance)
    data = {
        "action": "tool",
        "tool-team_name": "Applied AI",
        "tool-vendor": "anthropic",
        "tool-starts_on": "2026-11-01",
    }
    assert "This field is required." in client.post(URL, data).text
    assert not ToolPolicy.objects.exists()
    assert client.post(URL, {**data, "tool-reason": "rival agent"}).status_code == 302
    assert "rival agent" in client.get(URL).text


def test_violations_are_listed_for_the_managers_chain_only(client, org):
    policy = ToolPolicy.objects.create(team=org.engineering, vendor="anthropic", starts_on="2026-11-01", reason="x")
    day = timezone.localdate()
    for engineer, cost in [(org.alice, "12.50"), (org.carol, "99")]:
        ToolViolation.objects.create(
            tool_policy=policy,
            engineer=engineer,
            vendor="anthropic",
            product="claude_code",
            first_day=day,
            last_day=day,
            days=3,
            cost_usd=Decimal(cost),
        )
    client.force_login(org.boss.user)
    page = client.get(URL).context["page"]
    assert [(v.engineer, v.tool, v.days, v.cost_usd) for v in page.violations] == [
        ("Alice Liddell", "Anthropic · Claude Code", 3, Decimal("12.50"))
    ]


def test_the_nav_shows_caps_to_managers_and_finance_only(client, org, finance):
    for user, shown in [(org.boss.user, True), (finance, True), (org.alice.user, False)]:
        client.force_login(user)
        assert ('href="/caps/"' in client.get(reverse("billing:approvals")).text) is shown


@pytest.mark.parametrize(("who", "expected"), [("boss", True), ("alice", False), ("finance", True)])
def test_the_nav_check_without_a_viewer_takes_one_query(org, finance, django_assert_num_queries, who, expected):
    user = finance if who == "finance" else getattr(org, who).user
    with django_assert_num_queries(1):
        assert user_manages_caps(user) is expected


def this_period_status(engineer, *, cap: str | None, spent: str, product="claude_code") -> CapStatus:
    start, end = period_bounds("month", timezone.localdate())
    return CapStatus.objects.create(
        engineer=engineer,
        vendor="anthropic",
        product=product,
        period_start=start,
        period_end=end,
        cap_usd=None if cap is None else Decimal(cap),
        spent_usd=Decimal(spent),
        policy="engineer alice@example.com, anthropic: $1000 per month",
    )


def test_me_shows_cap_bars_with_the_forecast(client, org):
    today = timezone.localdate()
    for back in range(1, 29):  # $10 every day before today: a run-rate of $10 a day
        DailyUsageFactory(engineer=org.alice, team=org.storage, day=today - timedelta(days=back), cost_usd=Decimal(10))
    this_period_status(org.alice, cap="1000.00", spent="40.00")  # claude_code: no usage in the window
    this_period_status(org.alice, cap="45.00", spent="40.00", product="api")
    client.force_login(org.alice.user)
    html = client.get(reverse("leaderboard:me")).text
    assert "Caps this period" in html
    assert '$40.00 <span class="muted">of</span> $1,000.00' in html
    assert "On track:</strong> $" in html and "projected of $1,000.00" in html
    assert f"Hits the cap on {today:%b} {today.day}" in html  # $5 left at $10 a day
    assert 'aria-valuenow="88"' in html


def test_an_engineer_over_their_cap_or_without_one_is_told(client, org):
    this_period_status(org.alice, cap="30.00", spent="40.00")
    this_period_status(org.bob, cap=None, spent="40.00")
    client.force_login(org.alice.user)
    assert "Over the cap" in client.get(reverse("leaderboard:me")).text
    client.force_login(org.bob.user)
    assert "No cap set" in client.get(reverse("leaderboard:me")).text
    client.force_login(org.carol.user)
    assert "No cap set for the tools used this period." in client.get(reverse("leaderboard:me")).text


def test_the_team_page_shows_the_budget_bar_and_forecast(client, org):
    TeamBudgetFactory(team=org.platform, amount_usd=Decimal("1000"))
    DailyUsageFactory(engineer=org.alice, team=org.storage, day=timezone.localdate(), cost_usd=Decimal("250"))
    client.force_login(org.boss.user)
    html = client.get(reverse("leaderboard:team", args=[org.platform.pk])).text
    assert "Team budget" in html
    assert '$250.00 <span class="muted">of</span> $1,000.00' in html
    assert 'aria-valuenow="25"' in html


# Session and user (2), the viewer (1), then the page: for a manager
# whether their chain is everyone and their teams (2), then policies, budgets, tool policies,
# violations, team and email suggestions (6).
CAPS_QUERIES = {
    "top manager": 2 + 1 + 2 + 6,  # everyone else reports to them
    "manager": 2 + 1 + 2 + 6,  # someone does not
    "finance": 2 + 1 + 6,  # finance is nobody's manager: no chain
}


@pytest.mark.parametrize("size", [10, 1000])
@pytest.mark.parametrize("who", list(CAPS_QUERIES))
def test_the_caps_page_makes_the_same_number_of_queries_whatever_the_org_size(
    client, django_assert_num_queries, finance, who, size
):
    org = make_org(size)
    if who == "manager":
        EngineerFactory(team=org["team"])
    reports = list(org["boss"].reports.all())
    CapPolicy.objects.bulk_create(
        CapPolicy(scope="engineer", engineer=e, vendor="cursor", amount_usd=Decimal(100)) for e in reports
    )
    TeamBudgetFactory(team=org["team"])
    client.force_login(finance if who == "finance" else org["boss"].user)
    with django_assert_num_queries(CAPS_QUERIES[who]):
        response = client.get(URL)
    assert response.status_code == 200
    assert len(response.context["page"].policies) == min(size, 500)


@pytest.mark.parametrize("size", [10, 1000])
def test_a_team_page_with_a_budget_makes_the_same_number_of_queries_whatever_the_org_size(
    client, django_assert_num_queries, size
):
    org = make_org(size)
    TeamBudgetFactory(team=org["team"])
    client.force_login(org["boss"].user)
    # As tests/leaderboard/test_people.py (the team's usage computed and stored: 8), with the
    # budget's four queries instead of one.
    with django_assert_num_queries(2 + 1 + 1 + 8 + 4):
        response = client.get(reverse("leaderboard:team", args=[org["team"].pk]) + OCTOBER_QUERY)
    assert "Team budget" in response.text


def test_me_makes_the_same_number_of_queries_with_caps(client, org, django_assert_num_queries):
    this_period_status(org.alice, cap="45.00", spent="40.00")
    EngineerFactory.create_batch(5, manager=org.alice, team=org.storage)
    client.force_login(org.alice.user)
    # session+user, viewer, the usage (5: weekly ranks live, none computed ahead), team link, caps
    with django_assert_num_queries(2 + 1 + 5 + 1 + 2):
        assert "Caps this period" in client.get(reverse("leaderboard:me")).text
