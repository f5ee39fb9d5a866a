"""The /sources/ page, its run-now button and primary-source settings, and the source_run command."""

from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from leaderboard.models import AuditEntry
from tests.billing.fake_http import scripted_server
from tests.factories import UserFactory
from usage.models import SourcePriority, UsageRecord, UsageSource
from usage.services.ingest import import_batch_create

from . import fake_vendors as fv

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = UserFactory(username="admin@example.com", is_staff=True)
    client.force_login(user)
    return user


def make_sources(count: int) -> None:
    UsageSource.objects.bulk_create(
        UsageSource(
            name=f"src-{n}", kind="anthropic_usage", credential_env="TOKENBOARD_SOURCE_ANTHROPIC_KEY", last_rows=n
        )
        for n in range(count)
    )


def test_only_staff_see_the_sources_page(client):
    url = reverse("usage:sources")
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(UserFactory(username="dev@example.com"))
    assert client.get(url).status_code == 404
    assert client.post(reverse("usage:source-run", args=[1])).status_code == 404


def test_the_page_lists_sources_with_their_errors_and_the_priorities(client, staff):
    UsageSource.objects.create(
        name="anthropic-prod", kind="anthropic_usage", credential_env="K", last_status="failed", last_error="HTTP 401"
    )
    body = client.get(reverse("usage:sources")).content.decode()
    assert "anthropic-prod" in body and "HTTP 401" in body
    assert "LiteLLM proxy logs" in body and "Make litellm_spend primary" in body


@pytest.mark.parametrize("count", [2, 20])
def test_the_sources_page_makes_a_fixed_number_of_queries(client, staff, django_assert_num_queries, count):
    make_sources(count)
    # session, user, sources, priorities
    with django_assert_num_queries(4):
        response = client.get(reverse("usage:sources"))
    assert response.content.decode().count("Run now") == count


def test_run_now_queues_a_forced_run_and_htmx_gets_the_list_back(client, staff, django_capture_on_commit_callbacks):
    make_sources(1)
    source = UsageSource.objects.get()
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("usage:source-run", args=[source.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'id="sources"' in response.content.decode()
    assert len(callbacks) == 1
    assert AuditEntry.objects.filter(action="source_run_now", target="src-0").exists()
    assert client.get(reverse("usage:source-run", args=[source.pk])).status_code == 405


def test_making_the_other_source_primary_moves_the_setting(client, staff):
    priority = SourcePriority.objects.get(second_dataset="litellm_spend")
    response = client.post(reverse("usage:source-priority", args=[priority.pk]), {"primary": "litellm_spend"})
    assert response.status_code == 302
    priority.refresh_from_db()
    assert priority.primary_dataset == "litellm_spend" and not priority.active  # no LiteLLM rows yet
    client.post(reverse("usage:source-priority", args=[priority.pk]), {"primary": "bogus"})
    priority.refresh_from_db()
    assert priority.primary_dataset == "litellm_spend"


def test_the_command_runs_a_source_and_says_what_it_did(monkeypatch):
    monkeypatch.setenv("TOKENBOARD_SOURCE_CMD_KEY", "sk-test")
    fake = fv.FakeVendors()
    day = datetime.now(UTC).date()
    fake.add("anthropic_usage", day, [fv.anthropic_result("k1"), fv.anthropic_result("k2")])
    with scripted_server(fake.respond) as (base_url, _):
        UsageSource.objects.create(
            name="anthropic-prod",
            kind="anthropic_usage",
            base_url=base_url,
            credential_env="TOKENBOARD_SOURCE_CMD_KEY",
            repull_days=0,
        )
        out = StringIO()
        call_command("source_run", "anthropic-prod", stdout=out)
    assert "anthropic-prod: pulled 1 day" in out.getvalue() and "1 batch, 2 new rows." in out.getvalue()
    assert UsageRecord.objects.count() == 2

    with pytest.raises(CommandError, match="no such source: nope"):
        call_command("source_run", "nope")
    with pytest.raises(CommandError, match="give source names, or --all"):
        call_command("source_run")


def test_the_command_fails_loudly_when_a_run_fails():
    UsageSource.objects.create(name="broken", kind="openai_usage", credential_env="TOKENBOARD_SOURCE_UNSET_FOR_TEST")
    err = StringIO()
    with pytest.raises(CommandError, match="1 source failed"):
        call_command("source_run", "--all", stdout=StringIO(), stderr=err)
    assert "TOKENBOARD_SOURCE_UNSET_FOR_TEST is not set" in err.getvalue()


def test_the_admin_edits_sources_and_a_saved_priority_goes_through_the_flip(client):
    client.force_login(UserFactory(username="root@example.com", is_staff=True, is_superuser=True))
    make_sources(1)
    assert client.get(reverse("admin:usage_usagesource_changelist")).status_code == 200
    assert client.get(reverse("admin:usage_usagesource_add")).status_code == 200
    priority = SourcePriority.objects.get(second_dataset="cursor_csv")
    url = reverse("admin:usage_sourcepriority_change", args=[priority.pk])
    form = {"name": priority.name, "first_dataset": "cursor_events", "second_dataset": "cursor_csv",
            "primary_dataset": "cursor_csv", "account": ""}  # fmt: skip
    assert client.post(url, form).status_code == 302
    assert AuditEntry.objects.filter(action="source_priority_set", target=priority.name).exists()


def test_the_batch_page_says_which_rows_are_not_counted_and_why(client, staff, django_capture_on_commit_callbacks):
    from tests.usage.test_counting import RESTATED  # the events' people and days, in the CSV too

    data = Path(__file__).resolve().parents[1] / "data"
    raw = (data / "cursor_usage_export.csv").read_text().rstrip("\n") + "\n" + "\n".join(RESTATED) + "\n"
    with django_capture_on_commit_callbacks(execute=True):
        csv = import_batch_create(filename="cursor.csv", raw=raw.encode())
        import_batch_create(filename="events.json", raw=(data / "cursor_usage_events.json").read_bytes())
    body = client.get(reverse("usage:batch", args=[csv.pk])).content.decode()
    assert UsageRecord.objects.filter(dataset="cursor_csv", counted=False).count() == len(RESTATED)
    assert f"{len(RESTATED)} rows of this file are kept but not added to spend" in body
    assert "<strong>cursor_events</strong> is the primary source" in body
