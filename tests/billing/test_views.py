from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import CapException
from tests.billing.conftest import TODAY
from tests.factories import PASSWORD, CapExceptionFactory, DailyUsageFactory

pytestmark = pytest.mark.django_db
URL = "/approvals/"


def login(client, engineer):
    assert client.login(username=engineer.user.username, password=PASSWORD)


def test_an_engineer_asks_for_a_raise_on_the_approvals_page(client, org):
    DailyUsageFactory(engineer=org.alice, day=TODAY, vendor="anthropic", product="claude_code")
    login(client, org.alice)
    form = client.get(URL).text
    assert '<option value="anthropic">' in form and '<option value="claude_code">' in form  # her tools, suggested
    response = client.post(
        URL,
        {
            "action": "request",
            "amount_usd": "500",
            "vendor": "anthropic",
            "product": "claude_code",
            "until": "2099-12-31",
            "reason": "migration",
        },
        follow=True,
    )
    assert "Your request was sent to your manager." in response.text
    request = CapException.objects.get()
    assert (request.engineer, request.amount_usd, request.status) == (org.alice, Decimal("500.00"), "pending")
    assert "migration" in response.text  # listed under "Your requests"


def test_a_bad_amount_is_shown_on_the_page_and_nothing_is_saved(client, org):
    login(client, org.alice)
    response = client.post(URL, {"action": "request", "amount_usd": "-3", "until": "2099-12-31", "reason": "x"})
    assert response.status_code == 200
    assert "Amount must be more than $0, not -3." in response.text
    assert not CapException.objects.exists()


def test_a_manager_sees_and_approves_their_reports_request(client, org):
    pending = CapExceptionFactory(engineer=org.alice, until=TODAY.replace(year=2099))
    CapExceptionFactory(engineer=org.carol, reason="not the boss's report")
    login(client, org.boss)
    page = client.get(URL)
    assert "release crunch" in page.text and "not the boss&#x27;s report" not in page.text
    response = client.post(
        URL, {"action": "decide", "exception_id": pending.pk, "decision": "approve", "note": "go"}, follow=True
    )
    assert f"Request #{pending.pk} approved." in response.text
    pending.refresh_from_db()
    assert (pending.status, pending.decided_by) == ("approved", org.boss.user)


def test_the_top_manager_waits_on_everyone_elses_requests_but_not_their_own(client, org):
    org.carol.manager = org.boss  # everyone else now reports to Bo
    org.carol.save()
    for engineer in (org.boss, org.alice, org.carol):
        CapExceptionFactory(engineer=engineer, until=TODAY.replace(year=2099))
    CapExceptionFactory(engineer=org.bob, status=CapException.Status.DENIED, decided_at=timezone.now())
    login(client, org.boss)
    page = client.get(URL).context["page"]
    assert [r.engineer_email for r in page.waiting] == ["alice@example.com", "carol@example.com"]
    assert [r.engineer_email for r in page.mine] == ["boss@example.com"]
    assert [r.engineer_email for r in page.decided] == ["bob@example.com"]


@pytest.mark.parametrize("top", [False, True])
def test_a_managers_approvals_page_makes_a_fixed_number_of_queries(client, org, django_assert_num_queries, top):
    if top:
        org.carol.manager = org.boss
        org.carol.save()
    for engineer in (org.alice, org.bob, org.carol):
        CapExceptionFactory(engineer=engineer)
    client.force_login(org.boss.user)
    # Session and user, the viewer, whether the chain is everyone (a count: the chain is then no
    # filter, else one recomputed in SQL), waiting, mine, decided, the raise form's tools.
    with django_assert_num_queries(2 + 1 + 1 + 3 + 1):
        page = client.get(URL).context["page"]
    assert len(page.waiting) == 3 if top else 2


def test_an_engineer_cannot_approve_someone_elses_request(client, org):
    pending = CapExceptionFactory(engineer=org.bob, until=TODAY.replace(year=2099))
    login(client, org.alice)
    response = client.post(URL, {"action": "decide", "exception_id": pending.pk, "decision": "approve"}, follow=True)
    assert "bob@example.com is not in your reporting chain." in response.text
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_the_approvals_page_needs_a_login(client, db):
    assert client.get(URL).status_code == 302
