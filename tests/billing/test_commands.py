import hashlib
import io

import pytest
from django.core.management import CommandError, call_command

from billing.models import ApiToken, CapPolicy
from leaderboard.models import AuditEntry

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_cap_policy_set_creates_a_policy_then_changes_it(org):
    out, _ = run(
        "cap_policy_set",
        "--scope",
        "team:Platform",
        "--amount",
        "1500",
        "--vendor",
        "anthropic",
        "--product",
        "claude_code",
        "--reason",
        "per-tool cap",
        "--today",
        "2026-11-10",
    )
    policy = CapPolicy.objects.get()
    assert out.strip() == f"created cap policy #{policy.pk}: team Platform, anthropic/claude_code: $1500.00 per month"
    out, _ = run(
        "cap_policy_set",
        "--scope",
        "team:platform",
        "--amount",
        "2000",
        "--vendor",
        "anthropic",
        "--product",
        "claude_code",
        "--period",
        "quarter",
        "--today",
        "2026-11-10",
    )
    assert out.startswith(f"changed cap policy #{policy.pk}: ")
    policy.refresh_from_db()
    assert (policy.amount_usd, policy.period) == (2000, "quarter")
    entries = list(AuditEntry.objects.order_by("pk").values_list("action", "user", "details__via"))
    assert entries == [("cap_policy_create", None, "cli"), ("cap_policy_update", None, "cli")]


def test_cap_policy_set_takes_an_engineer_override_with_a_reason_and_expiry(org):
    out, _ = run(
        "cap_policy_set",
        "--scope",
        "engineer:Alice@Example.com",
        "--amount",
        "3000",
        "--reason",
        "launch week",
        "--until",
        "2026-11-30",
        "--today",
        "2026-11-10",
    )
    assert "engineer alice@example.com, any tool: $3000.00 per month until 2026-11-30" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "org", "--amount", "-1"], r"Amount must be at least \$0, not -1."),
        (["--scope", "org", "--amount", "lots"], "Amount must be a number of US dollars, not 'lots'."),
        (["--scope", "team:Nowhere", "--amount", "5"], "There is no team named 'Nowhere'."),
        (["--scope", "engineer:ghost@example.com", "--amount", "5"], "no engineer with the email 'ghost@example.com'"),
        (["--scope", "everyone", "--amount", "5"], "Scope must be org, team:<team name> or engineer:<email>"),
        (["--scope", "org", "--amount", "5", "--reason", "x", "--until", "2026-01-01"], "is in the past"),
        (["--scope", "org", "--amount", "5", "--until", "2026-12-01"], "needs a reason"),
        (["--scope", "org", "--amount", "5", "--reason", "x", "--until", "soon"], "must be a date as YYYY-MM-DD"),
    ],
)
def test_cap_policy_set_refuses_bad_input_and_saves_nothing(org, args, message):
    with pytest.raises(CommandError, match=message):
        run("cap_policy_set", *args, "--today", "2026-11-10")
    assert not CapPolicy.objects.exists() and not AuditEntry.objects.exists()


def test_cap_policy_set_refuses_an_unknown_period(org):
    with pytest.raises(CommandError, match="invalid choice: 'week'"):
        run("cap_policy_set", "--scope", "org", "--amount", "5", "--period", "week")


def test_api_token_create_prints_the_token_once_and_stores_only_its_hash(db):
    out, err = run("api_token_create", "litellm-gateway")
    token = out.strip()
    row = ApiToken.objects.get()
    assert token.startswith("tb_") and len(token) > 40
    assert row.name == "litellm-gateway" and row.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(ApiToken.objects.values().get())
    assert "shown once" in err


def test_api_token_create_refuses_a_name_already_taken(db):
    run("api_token_create", "gw")
    with pytest.raises(CommandError, match="A token named 'gw' already exists."):
        run("api_token_create", "gw")
