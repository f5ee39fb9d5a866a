"""The imports pages in a real browser: upload, watch the list poll to "done", map an identity."""

import re

import pytest

from tests.factories import PASSWORD, EngineerFactory, UserFactory
from usage.models import ImportBatch
from usage.services.ingest import import_batch_process

GATEWAY_CSV = """day,vendor,product,model,email,input_uncached_tokens,output_tokens,cost_usd
2026-10-01,gateway,api,claude-haiku-4-5,ada.lovelace@example.com,1200,300,0.42
2026-10-01,gateway,api,claude-haiku-4-5,contractor@partner.example,5000,700,1.10
2026-10-02,gateway,api,claude-haiku-4-5,ada.lovelace@example.com,-3,300,0.10
2026-13-02,gateway,api,claude-haiku-4-5,ada.lovelace@example.com,10,300,0.10
"""


class HeldTask:
    """Stands in for the ingest task so batches stay pending until the test processes them,
    as they would while a real worker is busy."""

    @staticmethod
    def delay_on_commit(**kwargs) -> None:
        pass


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_admin_uploads_exports_watches_them_finish_and_maps_an_identity(
    page, login, screenshot, samples, monkeypatch, tmp_path
):
    monkeypatch.setattr("usage.tasks.import_batch_process_task", HeldTask)
    admin = UserFactory(username="admin@example.com", is_staff=True)
    EngineerFactory(email="ada.lovelace@example.com", name="Ada Lovelace")
    login(admin.username, PASSWORD)

    page.goto("/imports/")
    assert "No imports yet: drop export files here" in page.locator("#batches").inner_text()
    screenshot("imports-empty")

    with_bad_rows = tmp_path / "gateway.csv"
    with_bad_rows.write_text(GATEWAY_CSV)
    prs = tmp_path / "prs.csv"  # authors nobody in the org chart is
    prs.write_text(
        "repo,number,author_login,created_at,merged_at,additions,deletions\n"
        "acme/api,1,octo-cat,2026-10-01T09:00:00Z,2026-10-02T09:00:00Z,10,1\n"
    )
    files = [samples / "anthropic_usage_report_p1.json", samples / "broken_usage_report.json", with_bad_rows, prs]
    page.set_input_files("#id_uploads", [str(f) for f in files])
    assert page.locator("#chosen-files li").count() == 4
    page.click("#upload-button")
    page.wait_for_url("**/imports/")
    assert page.locator("#batches .imp-status-pending").count() == 4

    # The worker gets to them while the page is open: the list polls until both are finished.
    for batch in ImportBatch.objects.order_by("id"):
        import_batch_process(batch_id=batch.pk)
    page.wait_for_selector("#batches .imp-status-done")
    page.wait_for_selector("#batches .imp-status-failed")
    assert page.locator("#batches[hx-trigger]").count() == 0  # polling stopped
    page.wait_for_selector("#unmapped .imp-identity")  # refreshed when the last batch finished
    assert "octo-cat" in page.locator("#unmapped").inner_text()  # under Unmapped authors
    screenshot("imports")

    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("imports-phone")
    page.set_viewport_size({"width": 1366, "height": 900})

    page.click("#batches a:text('anthropic_usage_report_p1.json')")
    page.wait_for_selector("h1.imp-title")
    identity = page.locator("#batch-body .imp-identity").first
    identity.locator("input[name=engineer_email]").fill("Ada.Lovelace@example.com")
    identity.locator("button").click()
    done = identity.locator(".imp-map-done")
    done.wait_for()
    assert re.fullmatch(r"Moved \d+ usage rows \(\$[\d,]+\.\d\d\) to Ada Lovelace\.", done.inner_text())
    screenshot("import-batch")

    page.goto(f"/imports/{ImportBatch.objects.get(filename='gateway.csv').pk}/")
    assert page.locator(".imp-rejected-table tbody tr").count() == 2
    screenshot("import-batch-rejected")

    page.goto(f"/imports/{ImportBatch.objects.get(filename='broken_usage_report.json').pk}/")
    assert "broken_usage_report.json:" in page.locator(".imp-alert").inner_text()
    screenshot("import-batch-failed")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_file_over_the_limit_is_named_before_it_is_sent(page, login, screenshot, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1024
    admin = UserFactory(username="admin@example.com", is_staff=True)
    login(admin.username, PASSWORD)
    page.goto("/imports/")

    page.set_input_files(
        "#id_uploads",
        [
            {"name": "huge.json", "mimeType": "application/json", "buffer": b"{" + b" " * 3000 + b"}"},
            {"name": "empty.csv", "mimeType": "text/csv", "buffer": b""},
        ],
    )

    problem = page.locator("#upload-problem")
    assert problem.inner_text() == "huge.json is 2.9 KB; the limit is 1.0 KB per file.\nempty.csv is empty."
    assert page.locator("#upload-button").is_disabled()
    screenshot("imports-too-big")

    # The server checks again (the script is only a nicety) and stores nothing.
    page.evaluate("document.getElementById('upload-button').disabled = false")
    page.click("#upload-button")
    page.wait_for_selector(".imp-errors")
    assert "huge.json is 2.9\xa0KB; the limit is 1.0\xa0KB per file." in page.locator(".imp-errors").inner_text()
    assert not ImportBatch.objects.exists()
    screenshot("imports-refused")
