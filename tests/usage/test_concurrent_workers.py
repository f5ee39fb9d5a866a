"""Several real Celery workers importing overlapping files at the same time give exactly the
ledger and the rollup of a serial import, with no deadlock (docs/scaling.md, "Concurrent workers").

Six generic CSV files cover the same three days and the same people; most natural keys are in
several files, half of them with other numbers in each (so which batch wins matters), some are
repeated inside a file, and some belong to nobody in the org. All six are queued in one commit
to three workers on a queue of the test's own. The earlier files are the bigger ones, so newer
batches usually reach the (dataset, day) locks first and the older ones must leave their rows
alone. Then the same files are imported again, serially and in-process, into emptied usage
tables, and everything is compared.
"""

from __future__ import annotations

import csv
import io
import random
import time
from datetime import date, timedelta
from unittest import mock

import pytest
from django.core.files.storage import default_storage
from django.db import connection, transaction

from usage.models import DailyUsage, Engineer, ImportBatch, Team, TeamMembership, UsageRecord, VendorIdentity
from usage.services.ingest import import_batch_create
from usage.services.rollup import daily_usage_rebuild
from usage.tasks import import_batch_process_task

from .workers import broker_reachable, celery_workers

pytestmark = pytest.mark.worker

WORKERS = 3
FILES = 6
ENGINEERS = 30
DAYS = [date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)]
PRODUCTS = [  # (vendor, product, model); the last has no list price (unpriced)
    ("anthropic", "api", "claude-sonnet-4-5"),
    ("cursor", "cursor", "gpt-5"),
    ("gateway", "api", "claude-haiku-4-5"),
    ("gateway", "api", "in-house-llm-1"),
]
ACCOUNTS = ["", "acme"]  # keys in a random share of the files (all of them, 88 %, ... 40 %)
BULK = 10  # accounts bulk-00.. in the older files only: file f holds 2 * (5 - f) of them
MAPPED_KEYS = range(0, ENGINEERS, 5)  # key-00, key-05, ...: gateway API keys mapped to engineers
COLUMNS = [
    "day",
    "vendor",
    "product",
    "model",
    "identity_kind",
    "identity_value",
    "input_uncached_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "requests",
    "cost_usd",
    "account",
]
COUNTS = COLUMNS[6:12]
MEASURES = (
    "input_uncached_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "tokens",
    "requests",
    "cost_usd",
    "unpriced_tokens",
)
TIMEOUT = 180  # seconds for the workers to finish every batch


def identities() -> list[tuple[str, str]]:
    return [
        *(("email", f"eng{i:02d}@conc.example") for i in range(ENGINEERS)),
        *(("api_key_id", f"key-{i:02d}") for i in MAPPED_KEYS),
        *(("email", f"ghost{i}@conc.example") for i in range(4)),  # not in the org
        *(("api_key_id", f"stray-{i}") for i in range(3)),  # mapped to nobody
    ]


def generate_files() -> tuple[list[bytes], dict[tuple, tuple[int, dict]]]:
    """The CSV files, and for each natural key the file that must win (the last one holding it)
    and the row it holds. Deterministic: the same files on every run."""
    rng = random.Random(20261001)
    bulk = [f"bulk-{n:02d}" for n in range(BULK)]
    keys = [
        (day.isoformat(), vendor, product, model, kind, value, account)
        for day in DAYS
        for vendor, product, model in PRODUCTS
        for kind, value in identities()
        for account in [*ACCOUNTS, *bulk]
    ]
    restated = {key for key in keys if rng.random() < 0.5}  # other numbers in each file
    vendor_cost = {key for key in keys if rng.random() < 0.33}  # the file says what it cost
    base = {key: [rng.randint(1, 50_000) for _ in COUNTS] for key in keys}

    def row(key: tuple, values: list[int]) -> dict:
        cells = dict(zip(COLUMNS, [*key[:6], *values, "", key[6]], strict=True))
        if key in vendor_cost:
            cells["cost_usd"] = f"{values[4] / 100_000:.6f}"
        return cells

    files, expected = [], {}
    for f in range(FILES):
        share = 1.0 - 0.12 * f  # 100 %, 88 %, ... 40 % of the keys: the older files are bigger
        bulk_accounts = set(bulk[: BULK * (FILES - 1 - f) // (FILES - 1)])
        rows = []
        for key in keys:
            included = key[6] in bulk_accounts if key[6] in bulk else rng.random() < share
            if included:
                values = [v + 7 * f + 1 if key in restated else v for v in base[key]]
                rows.append(row(key, values))
        rng.shuffle(rows)
        for cells in rng.sample(rows, 5):  # repeated later in the file: the later line counts
            key = tuple(cells[c] for c in COLUMNS[:6]) + (cells["account"],)
            rows.append(row(key, [v + 1000 for v in base[key]]))
        for cells in rows:
            expected[tuple(cells[c] for c in COLUMNS[:6]) + (cells["account"],)] = (f, cells)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        files.append(out.getvalue().encode())
    return files, expected


def make_org() -> dict[tuple[str, str, str], int]:
    """30 engineers in two teams (one moves team mid-window), some without a team; six gateway
    API keys mapped. Returns (vendor-or-*, kind, value) -> engineer id, as ingest resolves it."""
    teams = [Team.objects.create(name="Concurrency A"), Team.objects.create(name="Concurrency B")]
    owner = {}
    for i in range(ENGINEERS):
        engineer = Engineer.objects.create(email=f"eng{i:02d}@conc.example", name=f"Engineer {i:02d}")
        owner[("*", "email", engineer.email)] = engineer.pk
        if i == 3:  # A until 2 Oct, then B: the rollup's team is the team of each day
            TeamMembership.objects.create(
                engineer=engineer, team=teams[0], valid_from=date(2024, 1, 1), valid_to=DAYS[1]
            )
            TeamMembership.objects.create(engineer=engineer, team=teams[1], valid_from=DAYS[1])
        elif i < 20:
            TeamMembership.objects.create(engineer=engineer, team=teams[i % 2], valid_from=date(2024, 1, 1))
        if i in MAPPED_KEYS:
            VendorIdentity.objects.create(
                vendor="gateway", kind="api_key_id", external_id=f"key-{i:02d}", engineer=engineer
            )
            owner[("gateway", "api_key_id", f"key-{i:02d}")] = engineer.pk
    return owner


def daily_usage() -> dict[tuple, tuple]:
    return {
        (d["day"], d["engineer_id"], d["team_id"], d["vendor"], d["product"], d["model"]): tuple(d[m] for m in MEASURES)
        for d in DailyUsage.objects.values("day", "engineer_id", "team_id", "vendor", "product", "model", *MEASURES)
    }


def ledger(file_of_batch: dict[int, int]) -> dict[tuple, tuple]:
    """Every UsageRecord by natural key, the batch named by its file's position."""
    fields = [
        "engineer_id",
        "model_canonical",
        "input_uncached_tokens",
        "cache_read_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "output_tokens",
        "requests",
        "cost_usd",
        "cost_source",
        "counted",
    ]
    return {
        (r["dataset"], r["dedup_key"], r["bucket_start"]): (file_of_batch[r["batch_id"]], *(r[f] for f in fields))
        for r in UsageRecord.objects.values("dataset", "dedup_key", "bucket_start", "batch_id", *fields)
    }


def wait_for_batches(ids: list[int], workers) -> list[ImportBatch]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        batches = list(ImportBatch.objects.filter(pk__in=ids).order_by("pk"))
        if all(b.status in (ImportBatch.Status.DONE, ImportBatch.Status.FAILED) for b in batches):
            return batches
        if time.monotonic() > deadline or not workers.alive():
            states = ", ".join(f"{b.pk}: {b.status} (attempts {b.attempts})" for b in batches)
            pytest.fail(f"batches not finished after {TIMEOUT} s [{states}]\n{workers.output()}")
        time.sleep(0.2)


@pytest.fixture
def raw_files(transactional_db):
    """The stored uploads of the test's batches are deleted afterwards (the database is flushed)."""
    names: set[str] = set()
    yield names
    names.update(ImportBatch.objects.values_list("raw_file", flat=True))
    for name in names:
        if name:
            default_storage.delete(name)


@pytest.mark.parametrize("order", ["as_created", "newest_first"])
def test_concurrent_workers_give_the_totals_of_a_serial_import(transactional_db, raw_files, monkeypatch, order):
    """as_created: the tasks import_batch_create queues on commit, in batch-id order (an upload
    burst). newest_first: the same batches, their tasks published newest first (as retries and
    requeued stale batches can arrive), so older batches surely run after newer ones."""
    reason = broker_reachable()
    if reason:
        pytest.skip(reason)
    owner = make_org()
    files, expected = generate_files()
    window = {"start": DAYS[0], "end": DAYS[-1] + timedelta(days=1)}

    # 1. All files queued in one commit, taken by three workers at once.
    with celery_workers(WORKERS) as workers:
        started = time.monotonic()
        if order == "newest_first":  # import_batch_create's own doorbell is held back
            monkeypatch.setattr("usage.tasks.import_batch_process_task", mock.Mock())
        with transaction.atomic():  # the tasks are published when this commits: all at once
            ids = [import_batch_create(filename=f"overlap-{f}.csv", raw=raw).pk for f, raw in enumerate(files)]
        if order == "newest_first":
            monkeypatch.undo()
            for batch_id in reversed(ids):
                import_batch_process_task.delay(batch_id=batch_id)
        batches = wait_for_batches(ids, workers)
        concurrent_seconds = time.monotonic() - started
        output = workers.output()
        assert workers.alive(), output
    for batch in batches:
        assert batch.status == ImportBatch.Status.DONE, f"batch {batch.pk}: {batch.error}\n{output}"
        # A deadlock (or any transient error) would have sent the batch back to pending for a retry.
        assert batch.attempts == 1, f"batch {batch.pk} ran {batch.attempts} times\n{output}"
        assert batch.rows_rejected == 5  # the rows repeated later in their file
    file_of_batch = {batch_id: f for f, batch_id in enumerate(ids)}
    by_finish = sorted(batches, key=lambda b: b.finished_at)
    # Pairs (older, newer) where the newer batch held the day locks first: the older one then had
    # to leave the newer one's rows alone ("an older batch never undoes a newer one").
    overtaken = sum(1 for i, a in enumerate(by_finish) for b in by_finish[i + 1 :] if a.pk > b.pk)
    # The most batches claimed by workers at one moment: more than one, or nothing ran concurrently.
    together = max(sum(1 for a in batches if a.started_at <= b.started_at < a.finished_at) for b in batches)
    print(
        f"\n{len(files)} batches on {WORKERS} workers in {concurrent_seconds:.2f} s, up to {together} at once;"
        f" finish order {[file_of_batch[b.pk] for b in by_finish]}: {overtaken} (older, newer) pairs finished newer-first"
    )
    assert together >= 2, output
    if order == "newest_first":
        # Each worker holds one task at a time (solo pool, prefetch 1): files 0-2 are taken only
        # when one of files 3-5 is done, so at least three (older, newer) pairs finish newer-first.
        assert overtaken >= 3, output

    concurrent_ledger = ledger(file_of_batch)
    concurrent_rollup = daily_usage()

    # 2. Each key holds the row of the last file that has it (the highest batch id), whoever ran first.
    records = {
        (r.day.isoformat(), r.vendor, r.product, r.model, r.identity_kind, r.identity_value, r.account): r
        for r in UsageRecord.objects.all()
    }
    assert set(records) == set(expected)
    assert len(concurrent_ledger) == len(expected)
    for key, (f, cells) in expected.items():
        record = records[key]
        assert record.batch_id == ids[f], (key, f, record.batch_id)
        assert [getattr(record, c) for c in COUNTS] == [int(cells[c]) for c in COUNTS], key
        engineer = owner.get(("*", key[4], key[5])) or owner.get((key[1], key[4], key[5]))
        assert record.engineer_id == engineer, key
    newest_keys = [k for k, (f, _) in expected.items() if f == FILES - 1][:3]
    assert newest_keys  # a few keys the newest file wrote, checked by hand for the reader
    for key in newest_keys:
        record, cells = records[key], expected[key][1]
        assert (record.batch_id, record.output_tokens) == (max(ids), int(cells["output_tokens"]))

    # 3. The rollup holds exactly the ledger's sums, as a full rebuild finds them.
    tokens: dict[tuple, int] = {}
    for key, (_, cells) in expected.items():
        engineer = owner.get(("*", key[4], key[5])) or owner.get((key[1], key[4], key[5]))
        group = (date.fromisoformat(key[0]), engineer, key[1], key[2])
        tokens[group] = tokens.get(group, 0) + sum(int(cells[c]) for c in COUNTS if c != "requests")
    rolled: dict[tuple, int] = {}
    for (day, engineer, _team, vendor, product, _model), measures in concurrent_rollup.items():
        rolled[(day, engineer, vendor, product)] = rolled.get((day, engineer, vendor, product), 0) + measures[4]
    assert rolled == tokens
    daily_usage_rebuild(**window)
    assert daily_usage() == concurrent_rollup

    # 4. The same files, serially, in batch-id order, in this process, into empty usage tables.
    raw_files.update(ImportBatch.objects.values_list("raw_file", flat=True))
    with connection.cursor() as cursor:
        # RejectedRow, ImpactRecord and BillingLine also point at ImportBatch (empty here but for
        # RejectedRow): CASCADE empties them too.
        cursor.execute("TRUNCATE usage_usagerecord, usage_dailyusage, usage_rejectedrow, usage_importbatch CASCADE")
    assert not DailyUsage.objects.exists()
    serial_ids = []
    started = time.monotonic()
    for f, raw in enumerate(files):  # eager Celery: each batch is processed as its creation commits
        batch = import_batch_create(filename=f"overlap-{f}.csv", raw=raw)
        batch.refresh_from_db()
        assert batch.status == ImportBatch.Status.DONE, batch.error
        serial_ids.append(batch.pk)
    print(f"the same {len(files)} batches serially in {time.monotonic() - started:.2f} s")
    assert serial_ids == sorted(serial_ids)

    assert ledger({batch_id: f for f, batch_id in enumerate(serial_ids)}) == concurrent_ledger
    assert daily_usage() == concurrent_rollup
