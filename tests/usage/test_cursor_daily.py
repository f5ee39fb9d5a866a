"""Cursor Admin API daily usage data: impact rows, never usage."""

import json
from datetime import date

import pytest
from django.db.models import Sum

from tests.conftest import DATA
from tests.factories import EngineerFactory
from usage.importers import cursor_daily
from usage.importers.registry import detect_format
from usage.models import DailyUsage, ImpactRecord, RejectedRow
from usage.services.identities import identity_map
from usage.services.ingest import import_batch_create, import_batch_process

SAMPLE = DATA / "cursor_daily_usage.json"


def doc(*rows: dict, **extra) -> bytes:
    return json.dumps({"data": list(rows), "period": {"startDate": 0, "endDate": 1}, **extra}).encode()


def row(**fields) -> dict:
    base = {"date": 1759276800000, "isActive": True, "email": "a@example.com", "totalTabsShown": 3}
    return base | fields


def by_metric(parsed, location: str) -> dict[str, int]:
    frame = parsed.frame[parsed.frame["location"] == location]
    return dict(zip(frame["metric"], frame["value"], strict=True))


def test_the_sample_maps_cursor_counts_to_impact_metrics():
    parsed = cursor_daily.parse(SAMPLE.read_bytes())
    assert parsed.role == "impact" and parsed.format == "cursor_daily" and parsed.impact is None
    assert by_metric(parsed, "data[0]") == {
        "ai_lines_added": 850,
        "ai_lines_removed": 120,
        "ai_edits_accepted": 31,
        "ai_edits_rejected": 9,
        "ai_tabs_accepted": 162,
        "ai_requests": 40,  # composer 12 + chat 5 + agent 20 + cmd-k 3
    }
    first = parsed.frame[parsed.frame["location"] == "data[0]"].iloc[0]
    assert (first["source"], first["identity_kind"], first["identity_value"]) == ("cursor", "email", "ada@example.com")


def test_epoch_milliseconds_as_number_or_string_are_the_utc_day():
    # 1759276799999 is 2025-09-30T23:59:59.999Z; 1759276800000 is 2025-10-01T00:00:00Z
    parsed = cursor_daily.parse(
        doc(row(date=1759276799999, acceptedLinesAdded=1), row(date="1759276800000", acceptedLinesAdded=2))
    )
    assert list(parsed.frame["day"]) == ["2025-09-30", "2025-10-01"]


def test_the_org_level_variant_uses_its_day_field():
    parsed = cursor_daily.parse(
        doc(row(date=None, day="2025-10-03", userId="user_1", teamId=7, acceptedLinesAdded=4), pagination={})
    )
    assert list(parsed.frame["day"]) == ["2025-10-03"] and not parsed.rejections


def test_an_inactive_day_of_zeros_gives_no_rows_and_no_rejection():
    parsed = cursor_daily.parse(SAMPLE.read_bytes())
    assert parsed.frame[parsed.frame["location"] == "data[1]"].empty
    assert "data[1]" not in {r.location for r in parsed.rejections}
    assert (parsed.frame["value"] > 0).all()


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"email": None}, "email and userId are both missing"),
        ({"email": " ", "userId": ""}, "email and userId are both missing"),
        ({"email": "nobody"}, "email is not an email address"),
        ({"date": "yesterday"}, "date is not epoch milliseconds"),
        ({"date": None}, "date is missing"),
        ({"day": "2025-13-01"}, "day is not a date"),
        ({"acceptedLinesAdded": -3}, "acceptedLinesAdded is negative"),
        ({"chatRequests": 1.5}, "chatRequests is not a whole number"),
    ],
)
def test_a_bad_row_is_rejected_with_its_location_and_reason(bad, reason):
    parsed = cursor_daily.parse(doc(row(acceptedLinesAdded=1), row(**bad)))
    assert [r.location for r in parsed.rejections] == ["data[1]"]
    assert reason in parsed.rejections[0].reason
    assert set(parsed.frame["location"]) == {"data[0]"}


def test_a_row_with_only_a_user_id_is_kept_under_it_to_be_mapped():
    parsed = cursor_daily.parse(SAMPLE.read_bytes())
    assert not parsed.rejections
    kept = parsed.frame[parsed.frame["location"] == "data[3]"]
    assert set(zip(kept["identity_kind"], kept["identity_value"], strict=True)) == {("user_id", "user_abc123")}
    assert by_metric(parsed, "data[3]")["ai_lines_added"] == 5
    # Not the key the same day would have under an email.
    with_email = cursor_daily.parse(doc(row(date=1759363200000, email="x@example.com", acceptedLinesAdded=5)))
    assert not set(kept["dedup_key"]) & set(with_email.frame["dedup_key"])


def test_several_pages_are_read_with_page_locations():
    pages = json.dumps([json.loads(doc(row(acceptedLinesAdded=1))), json.loads(doc(row(email=None)))]).encode()
    parsed = cursor_daily.parse(pages)
    assert set(parsed.frame["location"]) == {"[0].data[0]"}
    assert [r.location for r in parsed.rejections] == ["[1].data[0]"]


def test_daily_usage_data_is_detected_and_does_not_collide_with_usage_events():
    assert detect_format(SAMPLE.read_bytes()) == "cursor_daily"
    assert detect_format((DATA / "cursor_usage_events.json").read_bytes()) == "cursor_events"
    # a "data" list without Cursor's fields is not this format
    assert not cursor_daily.detect({"data": [{"email": "a@example.com", "date": 1}]})


@pytest.mark.django_db
def test_importing_twice_loads_impact_once_and_no_usage(django_capture_on_commit_callbacks):
    ada = EngineerFactory(email="ada@example.com")
    raw = SAMPLE.read_bytes()

    def ingest(data: bytes, filename: str):
        with django_capture_on_commit_callbacks(execute=True):
            batch = import_batch_create(filename=filename, raw=data)
        batch.refresh_from_db()
        return batch

    batch = ingest(raw, "daily.json")
    assert (batch.status, batch.format, batch.rows_rejected) == ("done", "cursor_daily", 0)
    assert not RejectedRow.objects.filter(batch=batch).exists()
    count = ImpactRecord.objects.count()
    # ada 6 metrics; grace (unmapped) 5 on her active day (no lines deleted: no row); user_abc123 4
    assert count == 15
    assert ImpactRecord.objects.filter(engineer=ada).aggregate(v=Sum("value"))["v"] == 850 + 120 + 31 + 9 + 162 + 40
    assert set(ImpactRecord.objects.filter(engineer=ada).values_list("day", flat=True)) == {date(2025, 10, 1)}
    assert ImpactRecord.objects.filter(engineer__isnull=True).count() == 9

    again = ingest(raw + b"\n", "daily-again.json")  # the same rows in other bytes
    import_batch_process(batch_id=again.pk)
    assert again.status == "done" and ImpactRecord.objects.count() == count
    assert (
        ImpactRecord.objects.aggregate(v=Sum("value"))["v"] == 850 + 120 + 31 + 9 + 162 + 40 + 60 + 3 + 1 + 20 + 3 + 8
    )
    assert not DailyUsage.objects.exists()

    # The userId is mapped like any identity (Imports, Unmapped authors): its days follow.
    result = identity_map(
        vendor="cursor", kind="user_id", external_id="user_abc123", engineer_email="ada@example.com", user=None
    )
    assert result.outcomes_moved == 4
    assert ImpactRecord.objects.filter(engineer=ada, day=date(2025, 10, 2)).count() == 4
