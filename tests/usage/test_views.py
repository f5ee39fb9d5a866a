from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Sum
from django.urls import reverse

from leaderboard.models import AuditEntry
from tests.factories import EngineerFactory, UserFactory
from usage.models import DailyUsage, ImpactRecord, ImportBatch, UsageRecord, VendorIdentity

pytestmark = pytest.mark.django_db

HEADER = "day,vendor,product,model,identity_kind,identity_value,input_uncached_tokens,output_tokens,cost_usd\n"
# Two rows for a key nobody owns ($1.25 + $2.00), one for another ($0.50), one bad row.
CSV = (
    HEADER
    + "2026-10-01,anthropic,api,claude-sonnet-4-5,api_key_id,apikey_orphan,1000,100,1.25\n"
    + "2026-10-02,anthropic,api,claude-sonnet-4-5,api_key_id,apikey_orphan,2000,200,2.00\n"
    + "2026-10-02,anthropic,api,claude-sonnet-4-5,api_key_id,apikey_other,500,50,0.50\n"
    + "2026-10-03,anthropic,api,claude-sonnet-4-5,api_key_id,apikey_orphan,-5,10,0.10\n"
).encode()


@pytest.fixture
def staff(client):
    user = UserFactory(username="admin@example.com", is_staff=True)
    client.force_login(user)
    return user


@pytest.fixture
def upload(client, staff, django_capture_on_commit_callbacks):
    """POST files to /imports/ and run the processing their commit queues (eager Celery)."""

    def run(*files: tuple[str, bytes], **fields):
        data = {"uploads": [SimpleUploadedFile(name, raw) for name, raw in files], **fields}
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("usage:imports"), data)
        # The page after the redirect, once the batches are processed.
        return client.get(response["Location"]) if response.status_code == 302 else response

    return run


def make_batches(count: int, user) -> None:
    for n in range(count):
        status = [ImportBatch.Status.DONE, ImportBatch.Status.FAILED, ImportBatch.Status.RUNNING][n % 3]
        ImportBatch.objects.create(
            filename=f"export-{n}.json",
            raw_file=f"imports/export-{n}.json",
            size_bytes=100,
            sha256=f"{n:064d}",
            status=status,
            error="export.json: truncated" if status == ImportBatch.Status.FAILED else "",
            created_by=user,
        )


def test_uploading_several_files_creates_one_batch_each_and_they_finish(upload, staff, samples):
    response = upload(
        ("usage.csv", CSV),
        ("anthropic_usage_report_p1.json", (samples / "anthropic_usage_report_p1.json").read_bytes()),
        ("openai_costs.json", (samples / "openai_costs.json").read_bytes()),
    )

    batches = ImportBatch.objects.order_by("id")
    assert [b.filename for b in batches] == ["usage.csv", "anthropic_usage_report_p1.json", "openai_costs.json"]
    assert {b.status for b in batches} == {ImportBatch.Status.DONE}
    assert {b.created_by for b in batches} == {staff}
    assert b"Uploaded usage.csv, anthropic_usage_report_p1.json, openai_costs.json: importing" in response.content
    assert response.content.count(b'imp-status-done">done<') == 3


def test_the_chosen_format_and_engineer_email_reach_the_batch(upload):
    upload(("usage.csv", CSV), format="generic_csv", engineer_email="Ada@Example.com")

    batch = ImportBatch.objects.get()
    assert (batch.format, batch.engineer_email) == ("generic_csv", "ada@example.com")


def test_an_oversize_file_is_refused_naming_it_and_its_size_and_nothing_is_stored(upload, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1024

    response = upload(("small.csv", CSV), ("huge.json", b"{" + b" " * 3000 + b"}"))

    assert ImportBatch.objects.count() == 0
    assert UsageRecord.objects.count() == 0
    text = response.content.decode()
    assert "Nothing was imported." in text
    assert "huge.json is 2.9\xa0KB; the limit is 1.0\xa0KB per file." in text


def test_an_empty_file_is_refused_with_a_message(upload):
    response = upload(("empty.json", b""))

    assert ImportBatch.objects.count() == 0
    assert "empty.json is empty." in response.content.decode()


def test_a_post_without_files_is_refused(client, staff):
    response = client.post(reverse("usage:imports"), {})

    assert ImportBatch.objects.count() == 0
    assert "Nothing was imported." in response.content.decode()


@pytest.mark.parametrize("name", ["imports", "imports-batches", "imports-unmapped", "identity-map"])
def test_a_signed_in_non_staff_user_gets_404(client, name):
    client.force_login(UserFactory())

    assert client.get(reverse(f"usage:{name}")).status_code == 404
    assert client.post(reverse(f"usage:{name}")).status_code == 404


@pytest.mark.parametrize("url", ["/imports/", "/imports/1/", "/imports/1/raw/", "/imports/identities/map/"])
def test_anonymous_users_are_sent_to_the_login_page(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_the_empty_list_invites_a_drop(client, staff):
    response = client.get(reverse("usage:imports"))

    assert "No imports yet: drop export files here" in response.content.decode()
    assert b'hx-trigger="every 2s"' not in response.content


def test_the_list_polls_only_while_some_batch_is_pending_or_running(client, staff):
    make_batches(2, staff)  # done, failed
    assert b'hx-trigger="every 2s"' not in client.get(reverse("usage:imports")).content

    make_batches(3, staff)  # one more is running
    assert b'hx-trigger="every 2s"' in client.get(reverse("usage:imports")).content
    fragment = client.get(reverse("usage:imports-batches"), headers={"HX-Request": "true"})
    assert b'hx-trigger="every 2s"' in fragment.content
    assert b"<html" not in fragment.content


def test_the_poll_that_sees_the_last_batch_finish_asks_for_the_unmapped_list(client, staff):
    make_batches(1, staff)

    fragment = client.get(reverse("usage:imports-batches"), headers={"HX-Request": "true"})

    assert fragment["HX-Trigger"] == "imports-settled"
    assert b"hx-trigger" not in fragment.content.split(b"<table")[0]


def test_a_duplicate_upload_shows_which_batch_it_repeats(upload):
    upload(("usage.csv", CSV))
    response = upload(("usage-again.csv", CSV))

    first, again = ImportBatch.objects.order_by("id")
    assert again.status == ImportBatch.Status.DUPLICATE
    assert f'same file as <a href="/imports/{first.pk}/">#{first.pk}</a>' in response.content.decode()


@pytest.mark.parametrize("count", [3, 30])
def test_the_list_page_makes_a_fixed_number_of_queries(client, staff, django_assert_num_queries, count):
    make_batches(count, staff)

    # session, user, batch count, batch page, any active batch, unmapped identities, unmapped authors
    with django_assert_num_queries(7):
        response = client.get(reverse("usage:imports"))
    assert response.status_code == 200


def test_the_batch_detail_lists_rejected_rows_and_unmapped_identities_with_dollar_totals(upload, client):
    upload(("usage.csv", CSV))
    batch = ImportBatch.objects.get()

    text = client.get(reverse("usage:batch", args=[batch.pk])).content.decode()

    assert (batch.rows_accepted, batch.rows_rejected, batch.rows_unmapped) == (3, 1, 3)
    assert "line 5" in text
    assert "input_uncached_tokens" in text  # the reason names the field
    assert "apikey_orphan" in text and "$3.25" in text and "2 rows" in text
    assert "apikey_other" in text and "$0.50" in text
    assert text.index("apikey_orphan") < text.index("apikey_other")  # biggest first
    assert reverse("usage:batch-raw", args=[batch.pk]) in text


def test_a_failed_batch_shows_the_error_naming_the_file(upload, client, samples):
    upload(("broken_usage_report.json", (samples / "broken_usage_report.json").read_bytes()))
    batch = ImportBatch.objects.get()

    text = client.get(reverse("usage:batch", args=[batch.pk])).content.decode()

    assert batch.status == ImportBatch.Status.FAILED
    assert "nothing from it was stored" in text
    assert batch.error.startswith("broken_usage_report.json: ")
    assert batch.error.split(": ", 1)[1] in text


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_the_upload_message_says_what_became_of_each_file(client, samples):
    # Committed for real, so the eager import runs inside the request, as on a machine without Redis.
    client.force_login(UserFactory(username="admin@example.com", is_staff=True))
    files = {
        "usage.csv": CSV,
        "broken_usage_report.json": (samples / "broken_usage_report.json").read_bytes(),
        "again.csv": CSV,
        "orphans.csv": (
            HEADER + "2026-10-05,anthropic,api,claude-sonnet-4-5,api_key_id,apikey_orphan,10,1,1.00\n"
        ).encode(),
    }
    data = {"uploads": [SimpleUploadedFile(name, raw) for name, raw in files.items()]}

    page = client.post(reverse("usage:imports"), data, follow=True).content.decode()

    assert "usage.csv: imported 3 rows; 1 rejected, each with its reason on the batch&#x27;s page." in page
    assert "Not imported: broken_usage_report.json: " in page
    assert "again.csv: the same bytes as an earlier upload; nothing to import." in page
    assert "orphans.csv: imported 1 row; 1 of them ($1.00) belong to nobody yet: map their identities below." in page
    assert ": importing;" not in page  # nothing is left queued


def test_the_raw_file_kept_for_a_batch_can_be_downloaded(upload, client):
    upload(("usage.csv", CSV))
    batch = ImportBatch.objects.get()

    response = client.get(reverse("usage:batch-raw", args=[batch.pk]))

    assert b"".join(response.streaming_content) == CSV
    assert response["Content-Disposition"] == 'attachment; filename="usage.csv"'
    assert AuditEntry.objects.get().action == "download_import"


def test_an_unknown_batch_is_404(client, staff):
    assert client.get(reverse("usage:batch", args=[999])).status_code == 404


@pytest.mark.parametrize("count", [3, 30])
def test_the_detail_page_makes_a_fixed_number_of_queries(upload, client, django_assert_num_queries, count):
    rows = "".join(
        f"2026-10-01,anthropic,api,claude-sonnet-4-5,api_key_id,apikey_{n},1000,100,1.00\n"
        f"2026-10-02,anthropic,api,claude-sonnet-4-5,api_key_id,apikey_{n},-1,100,1.00\n"
        for n in range(count)
    )
    upload(("usage.csv", (HEADER + rows).encode()))
    batch = ImportBatch.objects.get()
    assert batch.rows_rejected == batch.rows_unmapped == count

    # session, user, batch, rejected count, rejected page, unmapped identities, rows not counted
    with django_assert_num_queries(7):
        response = client.get(reverse("usage:batch", args=[batch.pk]))
    assert response.status_code == 200


def map_identity(client, external_id, email, **headers):
    data = {"vendor": "anthropic", "kind": "api_key_id", "external_id": external_id, "engineer_email": email}
    return client.post(reverse("usage:identity-map"), data, headers=headers)


def daily_cost(engineer) -> Decimal:
    return DailyUsage.objects.filter(engineer=engineer).aggregate(total=Sum("cost_usd"))["total"] or Decimal(0)


def test_mapping_an_unmapped_identity_moves_its_history_to_the_engineer(upload, client, staff):
    upload(("usage.csv", CSV))
    ada = EngineerFactory(email="ada@example.com", name="Ada Lovelace", start_date=date(2024, 1, 1))
    assert daily_cost(None) == Decimal("3.75")

    response = map_identity(client, "apikey_orphan", "ADA@example.com", **{"HX-Request": "true"})

    assert "Moved 2 usage rows ($3.25) to Ada Lovelace." in response.content.decode()
    assert b"<html" not in response.content
    assert VendorIdentity.objects.get(external_id="apikey_orphan").engineer == ada
    assert daily_cost(ada) == Decimal("3.25")
    assert daily_cost(None) == Decimal("0.50")
    assert UsageRecord.objects.filter(engineer=ada).count() == 2
    entry = AuditEntry.objects.get(action="map_identity")
    assert (entry.user, entry.target, entry.details["engineer"]) == (
        staff,
        "anthropic:api_key_id:apikey_orphan",
        "ada@example.com",
    )
    unmapped = client.get(reverse("usage:imports-unmapped")).content.decode()
    assert "apikey_orphan" not in unmapped and "apikey_other" in unmapped


def test_unmapped_pr_authors_are_listed_and_mapping_one_moves_their_prs(upload, client, staff):
    prs = (
        b"repo,number,author_login,created_at,merged_at,additions,deletions\n"
        b"acme/api,1,octo-cat,2026-10-01T09:00:00Z,2026-10-02T09:00:00Z,10,1\n"
        b"acme/api,2,octo-cat,2026-10-03T09:00:00Z,2026-10-04T09:00:00Z,5,1\n"
        b"acme/api,3,someone,2026-10-03T09:00:00Z,2026-10-05T09:00:00Z,5,1\n"
    )
    page = upload(("prs.csv", prs)).content.decode()
    assert "Unmapped authors" in page and "2 GitHub logins or emails" in page
    assert page.index("<code>octo-cat</code>") < page.index("<code>someone</code>")  # most merged PRs first
    assert "2 merged PRs" in page

    ada = EngineerFactory(email="ada@example.com", name="Ada Lovelace")
    rows = ImpactRecord.objects.filter(identity_value="octo-cat").count()  # a PR gives a row per metric
    data = {"vendor": "github", "kind": "github_login", "external_id": "octo-cat", "engineer_email": "ada@example.com"}
    response = client.post(reverse("usage:identity-map"), data, headers={"HX-Request": "true"})

    assert f"Moved 0 usage rows ($0.00) and {rows} outcome rows to Ada Lovelace." in response.content.decode()
    assert ImpactRecord.objects.filter(engineer=ada, metric="prs_merged").count() == 2
    unmapped = client.get(reverse("usage:imports-unmapped")).content.decode()
    assert "<code>octo-cat</code>" not in unmapped and "<code>someone</code>" in unmapped


def test_mapping_without_htmx_goes_back_to_the_page_with_a_message(upload, client):
    upload(("usage.csv", CSV))
    EngineerFactory(email="ada@example.com", name="Ada Lovelace")
    batch = ImportBatch.objects.get()
    data = {
        "vendor": "anthropic",
        "kind": "api_key_id",
        "external_id": "apikey_orphan",
        "engineer_email": "ada@example.com",
    }

    response = client.post(reverse("usage:identity-map"), {**data, "next": f"/imports/{batch.pk}/"}, follow=True)

    assert response.redirect_chain[-1][0] == f"/imports/{batch.pk}/"
    assert "Moved 2 usage rows ($3.25) to Ada Lovelace." in response.content.decode()


def test_mapping_to_an_unknown_email_is_refused_and_moves_nothing(upload, client):
    upload(("usage.csv", CSV))

    response = map_identity(client, "apikey_orphan", "nobody@example.com", **{"HX-Request": "true"})

    assert "No engineer has the email nobody@example.com" in response.content.decode()
    assert 'value="nobody@example.com"' in response.content.decode()  # the form comes back as typed
    assert not VendorIdentity.objects.exists()
    assert daily_cost(None) == Decimal("3.75")
    assert not AuditEntry.objects.exists()


def test_an_identity_that_belongs_to_someone_else_is_left_alone(upload, client):
    upload(("usage.csv", CSV))
    owner = EngineerFactory(email="owner@example.com")
    VendorIdentity.objects.create(vendor="anthropic", kind="api_key_id", external_id="apikey_orphan", engineer=owner)
    EngineerFactory(email="ada@example.com")

    response = map_identity(client, "apikey_orphan", "ada@example.com", **{"HX-Request": "true"})

    assert "already belongs to owner@example.com" in response.content.decode()
    assert VendorIdentity.objects.get(external_id="apikey_orphan").engineer == owner


def test_the_unmapped_section_lists_every_identity_across_batches_biggest_first(upload, client):
    upload(("usage.csv", CSV))
    upload(
        (
            "more.csv",
            (HEADER + "2026-10-05,anthropic,api,claude-sonnet-4-5,api_key_id,apikey_other,1,1,9.00\n").encode(),
        )
    )

    text = client.get(reverse("usage:imports")).content.decode()

    section = text[text.index('id="unmapped"') :]
    assert "2 identities with $12.75 of usage attributed to nobody" in section
    assert section.index("apikey_other") < section.index("apikey_orphan")
    assert "$9.50" in section
