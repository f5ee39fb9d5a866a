from datetime import date
from decimal import Decimal

import pytest
from django.core import mail

from billing.models import CapAlert
from billing.services.notifications import DeliveryError, cap_alert_deliver, cap_alert_message
from billing.tasks import cap_alert_deliver_task
from tests.billing.conftest import TODAY
from tests.billing.fake_http import fake_server
from tests.factories import TeamWebhookFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_retries():
    """Eager tasks retry in-process only when they do not propagate errors (as on a worker)."""
    conf = cap_alert_deliver_task.app.conf
    before, conf.task_eager_propagates = conf.task_eager_propagates, False
    yield
    conf.task_eager_propagates = before


def deliver(alert, channel):
    return cap_alert_deliver_task.apply(kwargs={"alert_id": alert.pk, "channel": channel}).get()


def make_alert(**kwargs):
    values = {
        "vendor": "anthropic",
        "product": "claude_code",
        "period_start": date(2026, 11, 1),
        "period_end": date(2026, 12, 1),
        "threshold_pct": 80,
        "cap_usd": Decimal("1500.00"),
        "spent_usd": Decimal("1234.56"),
    }
    values.update(kwargs)
    return CapAlert.objects.create(**values)


def test_an_engineer_alert_is_posted_to_the_webhook_of_the_nearest_team_above(org):
    TeamWebhookFactory(team=org.engineering, url="http://127.0.0.1:1/not-this-one")
    alert = make_alert(engineer=org.alice)
    with fake_server() as (url, requests):
        TeamWebhookFactory(team=org.platform, url=f"{url}/hooks/platform")
        assert cap_alert_deliver(alert_id=alert.pk, channel="webhook") is True
    [(method, path, headers, body)] = requests
    assert (method, path, headers["Content-Type"]) == ("POST", "/hooks/platform", "application/json")
    assert body == {
        "text": "80% of Alice Liddell's Anthropic · Claude Code cap is used: $1,234.56 of $1,500.00 (Nov 1 – Nov 30, 2026)."
    }
    alert.refresh_from_db()
    assert alert.webhook_at is not None


def test_a_failed_webhook_delivery_is_retried_until_it_succeeds(org, eager_retries):
    alert = make_alert(engineer=org.alice)
    with fake_server(statuses=[500, 503]) as (url, requests):
        TeamWebhookFactory(team=org.storage, url=url)
        assert deliver(alert, "webhook") is True
    assert len(requests) == 3
    alert.refresh_from_db()
    assert alert.webhook_at is not None and alert.delivery_error == ""


def test_a_delivery_that_keeps_failing_is_recorded_on_the_alert_after_the_last_retry(org, eager_retries):
    alert = make_alert(engineer=org.alice)
    with fake_server(default=502) as (url, requests):
        TeamWebhookFactory(team=org.storage, url=url)
        assert deliver(alert, "webhook") is False
    assert len(requests) == cap_alert_deliver_task.max_retries + 1
    alert.refresh_from_db()
    assert alert.webhook_at is None and "HTTP 502" in alert.delivery_error


def test_a_transient_failure_raises_for_the_task_to_retry(org):
    alert = make_alert(engineer=org.alice)
    TeamWebhookFactory(team=org.storage, url="http://127.0.0.1:9/closed")  # nothing listens on the discard port
    with pytest.raises(DeliveryError):
        cap_alert_deliver(alert_id=alert.pk, channel="webhook")


def test_a_webhook_that_refuses_the_payload_is_not_retried(org, eager_retries):
    alert = make_alert(engineer=org.alice)
    with fake_server(default=400) as (url, requests):
        TeamWebhookFactory(team=org.storage, url=url)
        assert deliver(alert, "webhook") is False
    assert len(requests) == 1


def test_no_webhook_configured_sends_nothing(org):
    alert = make_alert(engineer=org.alice)
    assert cap_alert_deliver(alert_id=alert.pk, channel="webhook") is False


def test_a_delivered_alert_is_not_sent_twice(org):
    alert = make_alert(engineer=org.alice)
    assert cap_alert_deliver(alert_id=alert.pk, channel="email") is True
    assert cap_alert_deliver(alert_id=alert.pk, channel="email") is True
    assert len(mail.outbox) == 1


def test_a_failed_email_is_retried(org, monkeypatch, eager_retries):
    from billing.services import notifications

    real, attempts = notifications.send_mail, []

    def flaky(*args, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionRefusedError("smtp down")
        return real(*args, **kwargs)

    monkeypatch.setattr(notifications, "send_mail", flaky)
    alert = make_alert(engineer=org.alice)
    assert deliver(alert, "email") is True
    assert len(attempts) == 2 and len(mail.outbox) == 1


def test_a_team_budget_alert_goes_to_the_managers_of_its_members(org):
    alert = make_alert(team=org.storage, vendor="", product="", threshold_pct=100, spent_usd=Decimal("1500.00"))
    cap_alert_deliver(alert_id=alert.pk, channel="email")
    assert mail.outbox[0].to == ["boss@example.com"]
    assert mail.outbox[0].subject == "[Tokenboard] 100% of team Storage's budget used"


def test_a_forecast_alert_names_the_day_the_cap_will_be_reached(org):
    alert = make_alert(
        engineer=org.alice,
        kind="forecast",
        threshold_pct=100,
        crosses_on=date(2026, 11, 19),
        projected_usd=Decimal("2100.00"),
        spent_usd=Decimal("600.00"),
    )
    subject, text = cap_alert_message(alert)
    assert subject == "Forecast: Alice Liddell's Anthropic · Claude Code cap will be reached on Nov 19"
    assert "projected to be reached on Nov 19" in text and "$2,100.00 projected" in text
    assert TODAY < alert.crosses_on
