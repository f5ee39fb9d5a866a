"""Spend anomalies: each rule fires alone, the floors keep tiny numbers quiet, detection is
idempotent and alerts the manager once (email and team webhook), and the page shows each
role what it may see in a fixed number of queries."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse

from billing.models import SpendAnomaly
from billing.services.anomalies import spend_anomalies_detect, spend_anomalies_detect_after_import
from billing.tasks import spend_anomalies_detect_task
from tests.billing.fake_http import fake_server
from tests.factories import DailyUsageFactory, TeamWebhookFactory, UserFactory

pytestmark = pytest.mark.django_db
SPIKE = date(2026, 11, 9)


def spend(engineer, day: date, cost: str | Decimal) -> None:
    DailyUsageFactory(engineer=engineer, team=engineer.memberships.first().team, day=day, cost_usd=Decimal(cost))


def steady_history(engineer, days: int = 28, amounts=("10", "14", "12", "11", "13")) -> None:
    """`days` days before SPIKE of modest, slightly varying spend."""
    for n in range(1, days + 1):
        spend(engineer, SPIKE - timedelta(days=n), amounts[n % len(amounts)])


def detect(**kwargs) -> list[int]:
    return spend_anomalies_detect(today=SPIKE, **kwargs)


def rules() -> set[tuple[str, date, str]]:
    return set(SpendAnomaly.objects.values_list("engineer__email", "day", "rule"))


# --- The rules --------------------------------------------------------------------------------


def test_a_day_far_above_a_steady_28_days_fires_the_zscore_rule_alone(org):
    steady_history(org.alice)
    spend(org.alice, SPIKE, "25")  # ~9σ above a mean of ~12, but only ~2× the 7-day mean
    detect()
    assert rules() == {("alice@example.com", SPIKE, "zscore")}
    anomaly = SpendAnomaly.objects.get()
    assert anomaly.amount_usd == Decimal("25")
    assert Decimal("11") < anomaly.baseline_mean_usd < Decimal("13")
    assert Decimal("0.5") < anomaly.baseline_std_usd < Decimal("2")


def test_five_times_a_quiet_week_after_a_busy_month_fires_the_multiple_rule_alone(org):
    for n in range(8, 29):
        spend(org.alice, SPIKE - timedelta(days=n), "100")
    for n in range(1, 8):
        spend(org.alice, SPIKE - timedelta(days=n), "4")
    spend(org.alice, SPIKE, "25")  # 6.25× the 7-day mean of $4; well within 3σ of the month
    detect()
    assert rules() == {("alice@example.com", SPIKE, "multiple")}
    assert SpendAnomaly.objects.get().baseline_mean_usd == Decimal("4")


def test_a_spike_above_both_rules_is_two_anomalies(org):
    steady_history(org.alice)
    spend(org.alice, SPIKE, "400")
    detect()
    assert rules() == {("alice@example.com", SPIKE, "zscore"), ("alice@example.com", SPIKE, "multiple")}


def test_an_ordinary_day_fires_nothing(org):
    steady_history(org.alice)
    spend(org.alice, SPIKE, "14")
    assert detect() == []


def test_a_day_below_the_minimum_amount_fires_nothing(org, settings):
    steady_history(org.alice, amounts=("1", "1.2", "0.9"))
    spend(org.alice, SPIKE, "15")  # 15×, many σ, but under $20
    assert detect() == []
    settings.ANOMALY_MIN_DAY_USD = 10.0
    assert len(detect()) == 2


def test_too_little_history_fires_nothing(org, settings):
    steady_history(org.alice, days=4)
    spend(org.alice, SPIKE, "300")
    assert detect() == []
    settings.ANOMALY_MIN_ACTIVE_DAYS = 4
    assert len(detect()) == 2


def test_a_new_joiner_is_measured_from_their_first_day_not_against_weeks_of_zeros(org):
    for n in range(1, 11):  # ten days of 5, 25, 5, 25...: mean 15, σ 10
        spend(org.alice, SPIKE - timedelta(days=n), "25" if n % 2 else "5")
    spend(org.alice, SPIKE, "40")  # below 15 + 3×10; zero-filled over 28 days it would fire
    assert detect() == []
    org.alice.daily_usage.filter(day=SPIKE).update(cost_usd=Decimal("50"))  # above 45
    detect()
    assert rules() == {("alice@example.com", SPIKE, "zscore")}
    assert SpendAnomaly.objects.get().baseline_mean_usd == Decimal("15")


def test_only_the_engineers_asked_about_are_checked(org):
    for engineer in (org.alice, org.bob):
        steady_history(engineer)
        spend(engineer, SPIKE, "400")
    detect(engineer_ids=[org.bob.pk])
    assert {email for email, _, _ in rules()} == {"bob@example.com"}


# --- Alerting once -------------------------------------------------------------------------------


def test_the_manager_is_alerted_once_by_email_and_team_webhook_however_often_detection_runs(
    org, django_capture_on_commit_callbacks
):
    steady_history(org.alice)
    spend(org.alice, SPIKE, "25")
    with fake_server() as (url, requests):
        TeamWebhookFactory(team=org.platform, url=url + "/hook")  # Storage inherits its parent's hook
        for _ in range(3):
            with django_capture_on_commit_callbacks(execute=True):
                spend_anomalies_detect_task(today=SPIKE.isoformat())
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["boss@example.com"]
    assert mail.outbox[0].subject == "[Tokenboard] Spend anomaly: Alice Liddell spent $25.00 on Nov 9"
    assert "standard deviations above their 28-day average" in mail.outbox[0].body
    assert len(requests) == 1
    assert "Alice Liddell spent $25.00" in requests[0][3]["text"]
    anomaly = SpendAnomaly.objects.get()
    assert anomaly.emailed_at and anomaly.webhook_at


def test_anomalies_older_than_the_alert_window_are_stored_but_not_announced(org, django_capture_on_commit_callbacks):
    steady_history(org.alice)
    spend(org.alice, SPIKE, "25")
    with django_capture_on_commit_callbacks(execute=True):
        found = spend_anomalies_detect(today=SPIKE + timedelta(days=3))  # a backfill, found late
    assert len(found) == 1 and SpendAnomaly.objects.get().emailed_at is None
    assert mail.outbox == []


def test_a_day_that_breaks_both_rules_is_one_message(org, django_capture_on_commit_callbacks):
    steady_history(org.alice)
    spend(org.alice, SPIKE, "400")
    with django_capture_on_commit_callbacks(execute=True):
        assert len(detect()) == 2
    assert len(mail.outbox) == 1
    assert "7-day average" in mail.outbox[0].body and "28-day average" in mail.outbox[0].body
    assert not SpendAnomaly.objects.filter(emailed_at__isnull=True).exists()


def test_a_failed_email_is_released_for_the_retry(org, monkeypatch):
    from billing.services import anomalies
    from billing.services.notifications import DeliveryError

    steady_history(org.alice)
    spend(org.alice, SPIKE, "25")
    [anomaly_id] = detect()

    def down(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(anomalies, "send_mail", down)
    with pytest.raises(DeliveryError):
        anomalies.spend_anomalies_deliver(anomaly_ids=[anomaly_id], channel="email")
    assert SpendAnomaly.objects.get().emailed_at is None
    assert SpendAnomaly.objects.get().delivery_error == "email: smtp down"
    monkeypatch.undo()
    assert anomalies.spend_anomalies_deliver(anomaly_ids=[anomaly_id], channel="email") == 1
    assert anomalies.spend_anomalies_deliver(anomaly_ids=[anomaly_id], channel="email") == 0
    assert len(mail.outbox) == 1


# --- One message per recipient --------------------------------------------------------------------


def spiked(*engineers_and_amounts) -> None:
    for engineer, amount in engineers_and_amounts:
        steady_history(engineer)
        spend(engineer, SPIKE, amount)


def test_a_manager_gets_one_email_listing_all_their_people_biggest_first(org, django_capture_on_commit_callbacks):
    spiked((org.alice, "25"), (org.bob, "400"))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert len(detect()) == 3  # Bob broke both rules
    assert len(callbacks) == 1  # one email (nobody has a webhook)
    [message] = mail.outbox
    assert message.to == ["boss@example.com"]
    assert message.subject == "[Tokenboard] Spend anomalies: 2 people on Nov 9"
    lines = message.body.splitlines()
    assert lines[1].startswith("- Bob Dylan spent $400.00") and "7-day average" in lines[1] and "28-day" in lines[1]
    assert lines[2].startswith("- Alice Liddell spent $25.00")
    assert not SpendAnomaly.objects.filter(emailed_at__isnull=True).exists()


def test_each_manager_and_each_team_channel_gets_its_own_message(org, django_capture_on_commit_callbacks):
    from tests.factories import EngineerFactory

    dave = EngineerFactory(email="dave@example.com", name="Dave Grohl", team=org.applied, manager=org.carol)
    spiked((org.alice, "25"), (org.bob, "30"), (dave, "40"))
    with fake_server() as (url, requests):
        TeamWebhookFactory(team=org.platform, url=url + "/platform")  # Storage inherits it
        TeamWebhookFactory(team=org.applied, url=url + "/applied")
        with django_capture_on_commit_callbacks(execute=True):
            detect()
    assert sorted(m.to[0] for m in mail.outbox) == ["boss@example.com", "carol@example.com"]
    posts = {path: payload["text"] for _, path, _, payload in requests}
    assert set(posts) == {"/platform", "/applied"}
    assert "Alice Liddell" in posts["/platform"] and "Bob Dylan" in posts["/platform"]
    assert posts["/applied"].startswith("Dave Grohl spent $40.00")  # one day: the single message


def test_a_long_digest_lists_the_biggest_days_and_counts_the_rest(org, settings, django_capture_on_commit_callbacks):
    settings.ANOMALY_DIGEST_LINES = 1
    spiked((org.alice, "25"), (org.bob, "30"))
    with django_capture_on_commit_callbacks(execute=True):
        detect()
    body = mail.outbox[0].body
    assert "Bob Dylan" in body and "Alice Liddell" not in body
    assert body.endswith("… and 1 more, listed on Tokenboard's anomalies page.")


def test_rows_already_told_are_not_told_again_by_another_task(org):
    from billing.services import anomalies

    spiked((org.alice, "25"), (org.bob, "30"))
    ids = detect()
    assert anomalies.spend_anomalies_deliver(anomaly_ids=ids[:1], channel="email") == 1
    assert anomalies.spend_anomalies_deliver(anomaly_ids=ids, channel="email") == 1  # only the other one
    assert [m.subject.split(":")[1].split(" spent")[0].strip() for m in mail.outbox] == ["Alice Liddell", "Bob Dylan"]


def test_a_restated_day_updates_the_amount_without_a_second_alert(org, django_capture_on_commit_callbacks):
    steady_history(org.alice)
    spend(org.alice, SPIKE, "25")
    with django_capture_on_commit_callbacks(execute=True):
        detect()
    org.alice.daily_usage.filter(day=SPIKE).update(cost_usd=Decimal("30"))
    with django_capture_on_commit_callbacks(execute=True):
        assert detect() == []
    assert SpendAnomaly.objects.get().amount_usd == Decimal("30")
    assert len(mail.outbox) == 1


def test_an_import_queues_detection_for_the_engineers_it_touched(org, django_capture_on_commit_callbacks):
    steady_history(org.alice)
    spend(org.alice, SPIKE, "400")
    with django_capture_on_commit_callbacks() as callbacks:
        spend_anomalies_detect_after_import(engineer_ids=[org.alice.pk])
    assert len(callbacks) == 1
    spend_anomalies_detect_after_import(engineer_ids=[])  # nothing touched: nothing queued


def test_after_an_import_only_the_days_from_its_first_one_are_looked_at(org, django_capture_on_commit_callbacks):
    """A new day's log checks that day, not the ANOMALY_RESCAN_DAYS before it (50,000 engineers:
    39 s); a restated older day also checks the days after it, whose baselines it moved."""
    steady_history(org.alice, days=70)
    earlier, too_old = SPIKE - timedelta(days=3), SPIKE - timedelta(days=settings.ANOMALY_RESCAN_DAYS + 3)
    org.alice.daily_usage.filter(day__in=[earlier, too_old]).update(cost_usd=Decimal("400"))
    spend(org.alice, SPIKE, "400")
    with django_capture_on_commit_callbacks(execute=True):
        spend_anomalies_detect_task(engineer_ids=[org.alice.pk], today=SPIKE.isoformat(), since=SPIKE.isoformat())
    assert {day for _, day, _ in rules()} == {SPIKE}
    with django_capture_on_commit_callbacks(execute=True):
        spend_anomalies_detect_task(engineer_ids=[org.alice.pk], today=SPIKE.isoformat(), since="2020-01-01")
    assert {day for _, day, _ in rules()} == {earlier, SPIKE}  # not too_old: ANOMALY_RESCAN_DAYS at most
    with django_capture_on_commit_callbacks() as callbacks:
        spend_anomalies_detect_after_import(engineer_ids=[org.alice.pk], first_day=SPIKE)
    assert len(callbacks) == 1


def test_an_engineer_without_a_manager_is_not_emailed(org, django_capture_on_commit_callbacks):
    steady_history(org.carol)
    spend(org.carol, SPIKE, "400")
    with django_capture_on_commit_callbacks(execute=True):
        detect()
    assert len(mail.outbox) == 0
    assert SpendAnomaly.objects.filter(emailed_at__isnull=True).count() == 2


# --- The page ---------------------------------------------------------------------------------


def anomaly(engineer, day=SPIKE, rule="zscore"):
    return SpendAnomaly.objects.create(
        engineer=engineer, day=day, rule=rule, amount_usd=Decimal("250"), baseline_mean_usd=12, baseline_std_usd=2
    )


def listed(client, user) -> set[str]:
    client.force_login(user)
    response = client.get(reverse("billing:anomalies"))
    assert response.status_code == 200
    return {a.engineer.email for a in response.context["page"].anomalies}


@pytest.fixture
def everyone_spiked(org):
    today = date.today()
    for engineer in (org.boss, org.alice, org.bob, org.carol):
        anomaly(engineer, day=today - timedelta(days=3))
    return org


def test_managers_see_their_chain_and_themself_engineers_only_themself(client, everyone_spiked):
    org = everyone_spiked
    assert listed(client, org.boss.user) == {"boss@example.com", "alice@example.com", "bob@example.com"}
    assert listed(client, org.alice.user) == {"alice@example.com"}
    assert listed(client, org.carol.user) == {"carol@example.com"}
    assert listed(client, UserFactory()) == set()  # not in the org chart


def test_finance_and_admins_see_everyone(client, everyone_spiked):
    from django.contrib.auth.models import Group

    finance = UserFactory()
    finance.groups.add(Group.objects.get_or_create(name="finance")[0])
    everyone = {"boss@example.com", "alice@example.com", "bob@example.com", "carol@example.com"}
    assert listed(client, finance) == everyone
    assert listed(client, UserFactory(is_staff=True)) == everyone


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("billing:anomalies"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_page_lists_day_amount_and_rule(client, org):
    anomaly(org.alice, day=date.today() - timedelta(days=1), rule="multiple")
    client.force_login(org.boss.user)
    body = client.get(reverse("billing:anomalies")).content.decode()
    assert "Alice Liddell" in body and "$250.00" in body and "× the 7-day average" in body


def test_the_page_says_why_a_manager_was_not_told(client, org):
    from django.utils import timezone

    today = timezone.localdate()
    anomaly(org.alice, day=today - timedelta(days=1))  # news: its alerts are on their way
    anomaly(org.bob, day=today - timedelta(days=10))  # found ten days late (a backfill): never sent
    anomaly(org.boss, day=today - timedelta(days=1))  # the boss has no manager
    emailed = anomaly(org.carol, day=today - timedelta(days=2))
    SpendAnomaly.objects.filter(pk=emailed.pk).update(emailed_at=timezone.now())
    client.force_login(UserFactory(is_staff=True))

    body = client.get(reverse("billing:anomalies")).content.decode()

    def told(name: str) -> str:  # the row's last cell
        row = next(row for row in body.split("<tr>") if f">{name}</a>" in row)
        return row.rsplit("<td>", 1)[1]

    assert "being sent" in told("Alice Liddell")
    assert "not sent: found too long after the day" in told("Bob Dylan")
    assert "no manager on record" in told("Bo Boss")
    assert "emailed " in told("Carol King")


def test_the_top_manager_sees_everyone_as_finance_does(client, everyone_spiked):
    org = everyone_spiked
    org.carol.manager = org.boss  # now everyone reports to Bo, who is filtered by nothing
    org.carol.save()
    everyone = {"boss@example.com", "alice@example.com", "bob@example.com", "carol@example.com"}
    assert listed(client, org.boss.user) == everyone
    assert listed(client, org.alice.user) == {"alice@example.com"}


@pytest.mark.parametrize("top", [False, True])
@pytest.mark.parametrize("count", [1, 25])
def test_the_page_makes_the_same_number_of_queries_whatever_the_number_of_anomalies(
    client, org, django_assert_num_queries, count, top
):
    if top:
        org.carol.manager = org.boss
        org.carol.save()
    for n in range(count):
        anomaly(org.alice if n % 2 else org.bob, day=date.today() - timedelta(days=n))
    client.force_login(org.boss.user)
    # Session and user, the viewer (engineer, groups and chain), whether the chain is everyone
    # (a count: the chain is then no filter, else one recomputed in SQL), the anomalies.
    with django_assert_num_queries(5):
        response = client.get(reverse("billing:anomalies"))
    assert len(response.context["page"].anomalies) == count


def test_an_import_with_a_spike_day_finds_it_and_tells_the_manager(org, django_capture_on_commit_callbacks):
    from django.utils import timezone

    from usage.services.ingest import import_batch_create

    yesterday = timezone.localdate() - timedelta(days=1)
    for n in range(1, 29):
        spend(org.alice, yesterday - timedelta(days=n), "12" if n % 2 else "10")
    raw = (
        "day,vendor,product,model,email,input_uncached_tokens,output_tokens,cost_usd\n"
        f"{yesterday},cursor,cursor,claude-sonnet-4-5,alice@example.com,1000,100,300.00\n"
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):
        import_batch_create(filename="usage.csv", raw=raw, format="generic_csv")
    assert rules() == {("alice@example.com", yesterday, "zscore"), ("alice@example.com", yesterday, "multiple")}
    assert [m.to for m in mail.outbox if "Spend anomaly" in m.subject] == [["boss@example.com"]]


def test_beat_detects_everyones_anomalies_daily(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["detect-spend-anomalies"]
    assert entry["task"] == spend_anomalies_detect_task.name
    assert entry["schedule"] == 86400.0


def test_a_digest_over_several_days_names_the_span(org):
    from billing.services.anomalies import spend_anomalies_message

    def row(engineer, day, amount):
        return SpendAnomaly(
            engineer=engineer,
            day=day,
            rule="zscore",
            amount_usd=Decimal(amount),
            baseline_mean_usd=Decimal(12),
            baseline_std_usd=Decimal(2),
        )

    subject, text = spend_anomalies_message(
        [row(org.alice, SPIKE, "25"), row(org.alice, SPIKE - timedelta(days=2), "90"), row(org.bob, SPIKE, "30")]
    )
    assert subject == "Spend anomalies: 2 people, 3 days, Nov 7 – Nov 9"
    assert [line.split(" on AI")[0] for line in text.splitlines()[1:]] == [
        "- Alice Liddell spent $90.00",
        "- Bob Dylan spent $30.00",
        "- Alice Liddell spent $25.00",
    ]
