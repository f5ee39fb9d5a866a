from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import ApiToken, CapStatus
from billing.services.evaluation import caps_evaluate
from billing.services.tokens import api_token_create
from tests.factories import CapPolicyFactory, DailyUsageFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/caps/check"


@pytest.fixture
def token(db):
    return api_token_create(name="gateway")[1]


@pytest.fixture
def today():
    return timezone.localdate()


def check(client, token, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(URL, params, headers=headers)


def test_the_url_is_named(db):
    assert reverse("billing:cap-check") == URL


def test_the_check_answers_the_cap_spend_and_remaining_for_a_tool(client, org, token, today):
    CapPolicyFactory(vendor="anthropic", product="claude_code", amount_usd=Decimal("1500"))
    DailyUsageFactory(engineer=org.alice, day=today, product="claude_code", cost_usd=Decimal("1234.5"))
    caps_evaluate(engineer_ids=[org.alice.pk], today=today)
    response = check(client, token, email="Alice@example.com", vendor="anthropic", product="claude_code")
    assert response.status_code == 200
    body = response.json()
    assert body["allowed"] is True
    assert (body["cap_usd"], body["spent_usd"], body["remaining_usd"]) == (1500.0, 1234.5, 265.5)
    assert body["period_start"] == today.replace(day=1).isoformat()
    assert body["policy"] == "org default, anthropic/claude_code: $1500.00 per month"


def test_an_engineer_over_their_cap_is_not_allowed(client, org, token, today):
    CapPolicyFactory(engineer=org.alice, amount_usd=Decimal("10"))
    DailyUsageFactory(engineer=org.alice, day=today, vendor="cursor", product="cursor", cost_usd=Decimal("10"))
    caps_evaluate(engineer_ids=[org.alice.pk], today=today)
    body = check(client, token, email="alice@example.com", vendor="cursor", product="cursor").json()
    assert (body["allowed"], body["remaining_usd"]) == (False, 0.0)


def test_a_check_is_answered_from_the_status_table_in_two_queries(client, org, token, today, django_assert_num_queries):
    CapPolicyFactory(amount_usd=Decimal("100"))
    DailyUsageFactory(engineer=org.alice, day=today, product="claude_code", cost_usd=Decimal("1"))
    caps_evaluate(engineer_ids=[org.alice.pk], today=today)
    ApiToken.objects.update(last_used_at=timezone.now())
    with django_assert_num_queries(2):  # the token, the status row
        response = check(client, token, email="alice@example.com", vendor="anthropic", product="claude_code")
    assert response.status_code == 200


def test_a_tool_nobody_asked_about_is_evaluated_once_then_served_from_the_table(client, org, token, today):
    CapPolicyFactory(vendor="cursor", amount_usd=Decimal("1000"))
    first = check(client, token, email="bob@example.com", vendor="cursor", product="cursor").json()
    assert (first["allowed"], first["cap_usd"], first["spent_usd"]) == (True, 1000.0, 0.0)
    assert CapStatus.objects.filter(engineer=org.bob, vendor="cursor", product="cursor").exists()


def test_without_a_policy_everything_is_allowed_and_no_cap_is_given(client, org, token):
    body = check(client, token, email="carol@example.com", vendor="openai", product="codex").json()
    assert (body["allowed"], body["cap_usd"], body["remaining_usd"], body["policy"]) == (
        True,
        None,
        None,
        "no cap applies",
    )


def test_an_unknown_email_gets_a_404_json_error(client, org, token):
    response = check(client, token, email="ghost@example.com", vendor="anthropic")
    assert response.status_code == 404
    assert response.json() == {"error": "No engineer with the email 'ghost@example.com'."}


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic dXNlcjpwdw==", "Bearer "])
def test_a_missing_or_bad_token_gets_a_401(client, org, token, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get(URL, {"email": "alice@example.com", "vendor": "anthropic"}, headers=headers)
    assert response.status_code == 401
    assert "error" in response.json() and response["WWW-Authenticate"].startswith("Bearer")


def test_a_query_without_email_or_vendor_gets_a_400(client, org, token):
    response = check(client, token, vendor="anthropic")
    assert response.status_code == 400
    assert response.json()["fields"] == {"email": ["This field is required."]}


def test_a_used_token_records_when_it_was_last_used(client, org, token):
    check(client, token, email="alice@example.com", vendor="anthropic")
    assert ApiToken.objects.get().last_used_at is not None


def test_only_get_is_allowed(client, token):
    assert client.post(URL, headers={"Authorization": f"Bearer {token}"}).status_code == 405


def test_a_status_from_an_ended_period_is_not_served(client, org, token, today):
    CapPolicyFactory(amount_usd=Decimal("100"))
    CapStatus.objects.create(
        engineer=org.alice,
        vendor="anthropic",
        product="",
        period_start=date(2020, 1, 1),
        period_end=date(2020, 2, 1),
        cap_usd=Decimal("1"),
        spent_usd=Decimal("5"),
        policy="old",
    )
    body = check(client, token, email="alice@example.com", vendor="anthropic").json()
    assert body["allowed"] is True and body["period_start"] == today.replace(day=1).isoformat()
