import base64
import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from billing.services.gateways import cursor_limits, gateway_caps, gateway_push, litellm_users
from leaderboard.models import AuditEntry
from tests.billing.conftest import TODAY
from tests.billing.fake_http import fake_server
from tests.factories import CapExceptionFactory, CapPolicyFactory, EngineerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def caps(org):
    CapPolicyFactory(vendor="cursor", amount_usd=Decimal("1500"))
    CapPolicyFactory(engineer=org.alice, vendor="cursor", amount_usd=Decimal("1000.99"))
    CapExceptionFactory(engineer=org.bob, amount_usd=Decimal("250.50"), until=TODAY, status="approved")
    EngineerFactory(email="gone@example.com", start_date=date(2024, 1, 1), end_date=date(2026, 10, 31))
    return gateway_caps(vendor="cursor", today=TODAY)


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_gateway_caps_list_everyone_employed_with_their_effective_cap(caps):
    assert [(c.email, c.cap_usd) for c in caps] == [
        ("alice@example.com", Decimal("1000.99")),
        ("bob@example.com", Decimal("1750.50")),
        ("boss@example.com", Decimal("1500.00")),
        ("carol@example.com", Decimal("1500.00")),
    ]


def test_cursor_limits_are_whole_dollars_rounded_down(caps):
    limits = {row["userEmail"]: row["spendLimitDollars"] for row in cursor_limits(caps)}
    assert limits["alice@example.com"] == 1000 and limits["bob@example.com"] == 1750


def test_litellm_users_carry_max_budget_and_a_budget_duration(caps):
    users = {row["user_id"]: row for row in litellm_users(caps)}
    assert users["alice@example.com"] == {
        "user_id": "alice@example.com",
        "user_email": "alice@example.com",
        "max_budget": 1000.99,
        "budget_duration": "1mo",
    }


def test_the_cursor_file_is_a_csv_of_email_and_whole_dollars(caps):
    out, _ = run("caps_export", "cursor", "--today", "2026-11-10")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0] == {"email": "alice@example.com", "spend_limit_dollars": "1000"}
    assert AuditEntry.objects.filter(action="caps_export", target="cursor").exists()


def test_the_litellm_file_is_json_written_to_the_output_path(caps, tmp_path, org):
    CapPolicyFactory(vendor="litellm", period="quarter", amount_usd=Decimal("300"))
    path = tmp_path / "litellm.json"
    run("caps_export", "litellm", "--output", str(path), "--today", "2026-11-10")
    users = json.loads(path.read_text())
    assert users[0] == {
        "user_id": "alice@example.com",
        "user_email": "alice@example.com",
        "max_budget": 300.0,
        "budget_duration": "3mo",
    }


def test_a_push_to_litellm_posts_each_user_with_the_admin_key(caps):
    with fake_server() as (url, requests):
        result = gateway_push(gateway="litellm", rows=litellm_users(caps), base_url=url, api_key="sk-admin")
    assert (result.sent, result.failed) == (4, [])
    method, path, headers, body = requests[0]
    assert (method, path, headers["Authorization"]) == ("POST", "/user/update", "Bearer sk-admin")
    assert body["user_id"] == "alice@example.com" and body["max_budget"] == 1000.99


def test_a_push_to_cursor_uses_basic_auth_with_the_key_as_user_name(caps):
    with fake_server() as (url, requests):
        gateway_push(gateway="cursor", rows=cursor_limits(caps), base_url=url, api_key="key_abc")
    method, path, headers, body = requests[0]
    assert (method, path) == ("POST", "/teams/user-spend-limit")
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"key_abc:").decode()
    assert body == {"userEmail": "alice@example.com", "spendLimitDollars": 1000}


def test_a_push_retries_a_server_error_and_reports_users_that_still_fail(caps):
    with fake_server(statuses=[503, 200, 400]) as (url, requests):
        result = gateway_push(gateway="cursor", rows=cursor_limits(caps), base_url=url, api_key="k", backoff=0)
    assert len(requests) == 5  # alice twice (503, then 200), bob once (400: not retried), two more
    assert result.sent == 3 and result.failed == [("bob@example.com", "HTTP 400")]


def test_the_push_command_needs_the_gateway_settings(caps, settings):
    settings.CURSOR_API_KEY = ""
    with pytest.raises(CommandError, match="set CURSOR_API_BASE and CURSOR_API_KEY"):
        run("caps_export", "cursor", "--push", "--today", "2026-11-10")


def test_the_push_command_sends_to_the_configured_api(caps, settings):
    with fake_server() as (url, requests):
        settings.CURSOR_API_BASE, settings.CURSOR_API_KEY = url, "key"
        out, _ = run("caps_export", "cursor", "--push", "--today", "2026-11-10")
    assert out.strip() == "cursor: 4 caps sent, 0 failed" and len(requests) == 4
