"""The ingest pipeline: ImportBatch -> importer -> COPY into staging -> set-based upserts.

Idempotent by construction: a row's natural key (dataset, dedup_key, bucket_start) is
unique, a later batch replaces the row it restates, and the DailyUsage rollup is moved by
the exact difference between the rows replaced and the rows written, in one transaction.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import queue
import threading
from collections.abc import Iterable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import PurePath
from typing import BinaryIO

import numpy as np
import pandas as pd
from django.core.files.base import File
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.models import PriceOverride
from billing.pricing import canonical_model, unit_prices
from usage.importers import registry
from usage.importers.base import (
    BILLING_COLUMNS,
    MAX_AMOUNT,
    TOKEN_COLUMNS,
    USAGE_COLUMNS,
    ParsedExport,
    ParseError,
    Rejection,
)
from usage.models import ImportBatch, RejectedRow

from .counting import (
    COVER_SQL,
    activation_span,
    counting_recheck,
    day_window,
    days_lock,
    partner_datasets,
    primaries_over,
    source_priorities_activate,
    who,
)
from .impact import load_impact
from .resolution import ENGINEER_OF, identity_joins
from .rollup import rollup_apply_delta

logger = logging.getLogger(__name__)
COPY_CHUNK_ROWS = 200_000
INGEST_WORK_MEM = "128MB"


@dataclass(frozen=True)
class LoadStats:
    accepted: int = 0
    unmapped: int = 0
    unpriced: int = 0
    cost_usd: Decimal = Decimal(0)
    unmapped_cost_usd: Decimal = Decimal(0)
    engineer_ids: list[int] = field(default_factory=list)  # whose usage the batch wrote: caps re-evaluate
    first_day: date | None = None  # the batch's earliest day: anomalies are looked for from it on
    repeated: list[Rejection] = field(default_factory=list)  # keys repeated across a streamed file's chunks


def import_batch_create(
    *,
    filename: str,
    raw: bytes | None = None,
    file: BinaryIO | None = None,
    format: str = "",
    engineer_email: str = "",
    created_by=None,
) -> ImportBatch:
    """Store an export (`raw` bytes, or an open binary `file`, copied in blocks so that a big
    export is never held in memory) as a pending batch and ring the worker's doorbell on commit.

    A byte-identical file (for the same engineer) already imported becomes a batch with
    status `duplicate` pointing at the first one, and nothing is processed. (The same rows in
    other bytes are harmless too: the natural-key upsert replaces them with themselves.)
    """
    from usage.tasks import import_batch_process_task

    if file is None:
        file = io.BytesIO(raw or b"")
    digest, size = hashlib.sha256(), 0
    for block in iter(lambda: file.read(1 << 20), b""):
        digest.update(block)
        size += len(block)
    file.seek(0)
    sha = digest.hexdigest()
    engineer_email = engineer_email.strip().lower()
    earlier = (
        ImportBatch.objects.filter(sha256=sha, engineer_email=engineer_email)
        .exclude(status__in=[ImportBatch.Status.FAILED, ImportBatch.Status.DUPLICATE])
        .order_by("id")
        .first()
    )
    batch = ImportBatch(
        filename=PurePath(filename).name[:255],
        size_bytes=size,
        sha256=sha,
        format=format,
        engineer_email=engineer_email,
        created_by=created_by,
    )
    with transaction.atomic():
        if earlier is not None:
            batch.status = ImportBatch.Status.DUPLICATE
            batch.duplicate_of = earlier
            batch.format = earlier.format
            batch.raw_file.name = earlier.raw_file.name
            batch.save()
            return batch
        batch.raw_file.save(f"{sha[:16]}-{batch.filename}", File(file), save=False)
        batch.save()
        import_batch_process_task.delay_on_commit(batch_id=batch.pk)
    return batch


def import_batch_process(*, batch_id: int) -> ImportBatch:
    """Claim a pending batch, parse it and load it. Safe to call twice: a claimed or
    finished batch is left alone. A file that cannot be parsed fails with no rows stored."""
    claimed = ImportBatch.objects.filter(pk=batch_id, status=ImportBatch.Status.PENDING).update(
        status=ImportBatch.Status.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1, error=""
    )
    batch = ImportBatch.objects.get(pk=batch_id)
    if not claimed:
        return batch
    try:
        with batch.raw_file.open("rb") as fh:
            streaming = registry.streaming_format(fh.read(registry.HEAD_BYTES), format=batch.format)
            if streaming is None:
                fh.seek(0)
                raw = fh.read()
    except (ParseError, OSError) as exc:
        return _batch_fail(batch, f"{batch.filename}: {exc}")
    if streaming is not None:
        return _batch_process_streaming(batch, streaming)
    try:
        parsed = registry.parse(raw, format=batch.format or None)
    except ParseError as exc:
        return _batch_fail(batch, f"{batch.filename}: {exc}")
    except Exception as exc:  # noqa: BLE001 - an importer's slip must fail the batch, not leave it running
        logger.exception("import batch %s could not be parsed", batch.pk)
        return _batch_fail(batch, f"{batch.filename}: could not be read ({type(exc).__name__}: {exc})")
    if parsed.role == "attribution" and not batch.engineer_email and (parsed.frame["identity_kind"] == "").any():
        return _batch_fail(
            batch,
            f"{batch.filename}: these {parsed.format} logs do not say whose they are; import them again with "
            'the engineer\'s email (import_usage --engineer EMAIL, or "Whose usage" on the upload form)',
        )
    return _batch_store(batch, lambda: _load(batch, parsed))


def _batch_process_streaming(batch: ImportBatch, format: str) -> ImportBatch:
    """A big text export, parsed a chunk at a time inside the transaction: memory stays bounded
    whatever the file's size, and a bad line or a truncated file still stores nothing."""

    def load() -> None:
        with batch.raw_file.open("rb") as fh:
            _load_stream(batch, format, registry.IMPORTERS[format].parse_chunks(fh))

    return _batch_store(batch, load)


def _batch_store(batch: ImportBatch, load) -> ImportBatch:
    try:
        with transaction.atomic():
            load()
    except (OperationalError, InterfaceError):
        # Transient (connection lost, server restarting): back to pending, the task retries.
        ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.PENDING)
        raise
    except ParseError as exc:  # found mid-stream: the transaction took everything back
        return _batch_fail(batch, f"{batch.filename}: {exc}")
    except Exception as exc:  # noqa: BLE001 - any failure must leave the batch explained, not stuck
        logger.exception("import batch %s failed", batch.pk)
        return _batch_fail(batch, f"{batch.filename}: could not be stored ({type(exc).__name__}: {exc})")
    return batch


def _load(batch: ImportBatch, parsed: ParsedExport) -> LoadStats:
    frame, rejections = _without_duplicate_keys(parsed.frame, list(parsed.rejections))
    if parsed.role == "billing":
        stats = _load_billing(batch, parsed.dataset, frame)
    elif parsed.role == "impact":
        stats = load_impact(batch_id=batch.pk, dataset=parsed.dataset, frame=frame)
    else:
        if batch.engineer_email:
            # Local logs carry no identity: the uploader says whose they are.
            frame.loc[frame["identity_kind"] == "", ["identity_kind", "identity_value"]] = [
                "email",
                batch.engineer_email,
            ]
        stats = _load_usage(batch, parsed.dataset, [frame])
        if parsed.impact is not None and not parsed.impact.empty:
            # Outcome counts riding along (Claude Code core_metrics); the batch's counts stay usage's.
            impact, rejections = _without_duplicate_keys(parsed.impact, rejections)
            load_impact(batch_id=batch.pk, dataset=parsed.dataset, frame=impact)
        source_priorities_activate(dataset=parsed.dataset)
    return _finish(batch, parsed.format, parsed.role, stats, rejections)


def _load_stream(batch: ImportBatch, format: str, chunks) -> LoadStats:
    rejections: list[Rejection] = []

    def frames():
        for chunk in chunks:
            frame, _ = _without_duplicate_keys(chunk.frame, rejections)
            rejections.extend(chunk.rejections)
            yield frame

    dataset = registry.IMPORTERS[format].DATASET
    stats = _load_usage(batch, dataset, frames())
    source_priorities_activate(dataset=dataset)
    return _finish(batch, format, "attribution", stats, rejections)


def _finish(batch: ImportBatch, format: str, role: str, stats: LoadStats, rejections: list[Rejection]) -> LoadStats:
    rejections = [*rejections, *stats.repeated]
    RejectedRow.objects.filter(batch=batch).delete()
    RejectedRow.objects.bulk_create(
        # A rejected line may hold the NUL no Postgres text can: written out, so the line is still shown.
        RejectedRow(batch=batch, location=_text(r.location)[:100], reason=_text(r.reason), raw=_text(r.raw))
        for r in rejections
    )
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=ImportBatch.Status.DONE,
        format=format,
        rows_accepted=stats.accepted,
        rows_rejected=len(rejections),
        rows_unmapped=stats.unmapped,
        unpriced_rows=stats.unpriced,
        cost_usd=stats.cost_usd,
        unmapped_cost_usd=stats.unmapped_cost_usd,
        finished_at=timezone.now(),
    )
    batch.refresh_from_db()
    from billing.services.evaluation import caps_evaluate_after_import  # billing imports this module

    caps_evaluate_after_import(engineer_ids=stats.engineer_ids)
    from billing.services.anomalies import spend_anomalies_detect_after_import

    spend_anomalies_detect_after_import(engineer_ids=stats.engineer_ids, first_day=stats.first_day)
    if role == "attribution" and stats.accepted:
        _precomputed_refresh_on_commit()
    return stats


def _text(value: str) -> str:
    return value.replace("\x00", "\\u0000")


def _precomputed_refresh_on_commit() -> None:
    """Rebuild the precomputed boards and the running month's /finance/ figures once this import
    is visible (their own tasks: a failure there never fails the import, and a burst of imports
    coalesces into one rebuild)."""
    from billing.tasks import finance_cache_warm_task
    from leaderboard.tasks import board_snapshots_refresh_task  # leaderboard reads this app

    def queue() -> None:
        board_snapshots_refresh_task.delay()
        finance_cache_warm_task.delay(changed_at=timezone.now().isoformat())

    transaction.on_commit(queue, robust=True)


def _without_duplicate_keys(frame: pd.DataFrame, rejections: list[Rejection]) -> tuple[pd.DataFrame, list[Rejection]]:
    """Two rows of one file with the same natural key: the last wins, the other is reported."""
    time_col = "bucket_start" if "bucket_start" in frame.columns else "day"
    # An impact row's key already holds its day (a PR's key is its number: the day may move).
    subset = ["dedup_key"] if "metric" in frame.columns else ["dedup_key", time_col]
    dup = frame.duplicated(subset=subset, keep="last")
    for location in frame.loc[dup, "location"]:
        rejections.append(Rejection(location, "the same row appears again later in the file; the later one counts"))
    return frame.loc[~dup].copy(), rejections


def copy_frame(cursor, table: str, frame: pd.DataFrame, columns: list[str]) -> None:
    """Stream a frame into a table with COPY (CSV, \\N for NULL), in chunks to bound memory."""
    with copy_stream(cursor, table, columns) as write:
        write(frame)


@contextmanager
def copy_stream(cursor, table: str, columns: list[str], *, background: bool = False):
    """One COPY into a table for any number of frames: yields `write(frame)`. In the background
    the text goes to the server from a thread, so Python makes the next frame (parses a streamed
    file's next chunk) while the server stages the last one: on 2 cores, 1.5-2 s less per 1M rows."""
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    with cursor.copy(sql) as copy, _in_background(copy.write) if background else nullcontext(copy.write) as send:

        def write(frame: pd.DataFrame) -> None:
            for start in range(0, len(frame), COPY_CHUNK_ROWS):
                send(_copy_text(frame.iloc[start : start + COPY_CHUNK_ROWS], columns))

        yield write


@contextmanager
def _in_background(write):
    """Yields `send(piece)`, which hands the piece to `write` on a thread and returns. One piece
    waits at most: a server slower than the parser holds the parser back, memory stays bounded.
    The thread's failure is raised in the caller, at its next send or at the end."""
    pieces: queue.Queue = queue.Queue(maxsize=1)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            while (piece := pieces.get()) is not None:
                write(piece)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            failed.append(exc)
            while pieces.get() is not None:  # drain, or the caller's put() would block for good
                pass

    thread = threading.Thread(target=run, name="copy-writer", daemon=True)
    thread.start()

    def send(piece: bytes) -> None:
        if failed:
            raise failed[0]
        pieces.put(piece)

    try:
        yield send
    finally:
        pieces.put(None)
        thread.join()
    if failed:
        raise failed[0]


CSV_SPECIAL = (",", '"', "\n", "\r", "\\")


def _copy_text(part: pd.DataFrame, columns: list[str]) -> bytes:
    """The rows as COPY CSV. A column at a time (pandas' to_csv spent a second per 200,000 rows),
    each value as it is: the text's counts of commas, line breaks, quotes, carriage returns and
    backslashes then tell whether some value held one and had to be quoted, and only then is each
    cell looked at (_csv_cells). Adjacent integer and boolean columns are written at once."""
    groups = [
        (names, _number_cells([part[name].to_numpy() for name in names]) if numbers else None)
        for numbers, names in _runs(part, columns)
    ]

    def rows_text(cells_of) -> tuple[str, int]:
        """The rows' text, each column's cells and NULLs given by `cells_of`, but runs of numbers."""
        cells, nulls = [], 0
        for names, run in groups:
            if run is not None:
                cells.append(run)
                continue
            for name in names:
                column, missing = cells_of(part[name])
                cells.append(column)
                nulls += missing
        return _rows_text(cells), nulls

    try:
        text, nulls = rows_text(functools.partial(_plain_cells, missing_text=False))
    except TypeError:  # a missing value in a text column (NaN is no str): looked for in each
        text, nulls = rows_text(functools.partial(_plain_cells, missing_text=True))
    data = text.encode()
    found = np.frombuffer(data, dtype=np.uint8)
    if (
        np.count_nonzero(found == ord(",")) == len(part) * (len(columns) - 1)
        and np.count_nonzero(found == ord("\n")) == len(part)
        and np.count_nonzero(found == ord("\\")) == nulls  # each NULL's \N
        and b'"' not in data
        and b"\r" not in data
    ):
        return data
    return rows_text(lambda column: (_csv_cells(column), 0))[0].encode()


def _plain_cells(column: pd.Series, *, missing_text: bool) -> tuple[list[str], int]:
    """A column's cells without quoting (NULL as \\N) and how many are NULL. A text column's
    missing values are looked for only if `missing_text`."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_integer_dtype(column):
        return _csv_cells(column), 0
    if isinstance(column.dtype, pd.StringDtype) and not missing_text:
        return column.tolist(), 0
    missing = column.isna().to_numpy()
    values = column.to_numpy(dtype=object, copy=True)
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        values = np.array([str(value) for value in values.tolist()], dtype=object)
    values[missing] = "\\N"
    return values.tolist(), int(np.count_nonzero(missing))


def _runs(part: pd.DataFrame, columns: list[str]) -> list[tuple[bool, list[str]]]:
    """The columns in order, adjacent NumPy integer and boolean columns grouped (True)."""
    runs = []
    for name in columns:
        numbers = isinstance(part[name].dtype, np.dtype) and part[name].dtype.kind in "biu"
        if numbers and runs and runs[-1][0]:
            runs[-1][1].append(name)
        else:
            runs.append((numbers, [name]))
    return runs


def _number_cells(columns: list[np.ndarray]) -> list[str] | None:
    """Each row's cells of these integer and boolean columns, joined by commas, as bytes built in
    NumPy (a str() per number cost 0.15 s per million rows for each column); None for a column
    with a negative or huge number."""
    parts = []
    for values in columns:
        if values.dtype == bool:
            parts.append(np.where(values, ord("t"), ord("f")).astype(np.uint8)[:, None])
        elif values.min() < 0 or values.max() >= 10**18:
            return None
        else:
            width = len(str(values.max()))
            digits = np.empty((width, len(values)), dtype=np.uint8)
            rest = values.astype(np.uint32 if width < 10 else np.int64)
            for at in range(width - 1, -1, -1):  # by a scalar: NumPy divides fast (libdivide)
                tens = rest // 10
                digit = rest - tens * 10 + ord("0")
                if at < width - 1:
                    digit *= rest != 0  # a leading zero: NUL, deleted below
                digits[at] = digit
                rest = tens
            parts.append(digits.T)
        parts.append(np.full((len(values), 1), ord(","), dtype=np.uint8))
    parts[-1][:] = ord("\n")
    cells = np.hstack(parts).tobytes().translate(None, b"\0").decode("ascii").split("\n")
    cells.pop()
    return cells


def _rows_text(cells: list[list[str]]) -> str:
    """Rows of cells (a list per column), each cell followed by a comma or the row's line break:
    one join of the lot (a join per row cost 0.8 s per million)."""
    rows, width = len(cells[0]), 2 * len(cells)
    pieces = [","] * (rows * width)
    for n, values in enumerate(cells):
        pieces[2 * n :: width] = values
    pieces[width - 1 :: width] = ["\n"] * rows
    return "".join(pieces)


def _csv_cells(column: pd.Series) -> list[str]:
    """A column as COPY CSV cells: NULL as \\N, a value quoted only when it must be (a comma,
    quote, line break or backslash: "\\N" quoted is text, not NULL). A column at a time, since
    pandas' to_csv spent a second per 200,000 rows."""
    if pd.api.types.is_bool_dtype(column):
        return np.where(column.to_numpy(), "t", "f").tolist()
    if pd.api.types.is_integer_dtype(column):
        return list(map(str, column.tolist()))
    missing = column.isna().tolist()
    cells = [None if gone else str(value) for value, gone in zip(column.tolist(), missing, strict=True)]
    present = "\x1f".join(cell for cell in cells if cell is not None)
    if any(special in present for special in CSV_SPECIAL):
        cells = [
            cell if cell is None or not any(c in cell for c in CSV_SPECIAL) else '"' + cell.replace('"', '""') + '"'
            for cell in cells
        ]
    return ["\\N" if cell is None else cell for cell in cells]


# No AI usage export holds a day before this: such a day is a mistyped year. Refused, it also
# keeps a paired dataset's batch from locking every day of decades (counting.days_lock).
EARLIEST_USAGE_DAY = date(2020, 1, 1)


def _refuse_pruned_days(cursor) -> list[Rejection]:
    """Rows of days whose raw rows prune_raw dropped (the rows they would replace are gone, so
    their sums would be counted a second time in the rollup), and rows dated before any AI
    usage (EARLIEST_USAGE_DAY). Refused, each named. One statement."""
    from .partitions import raw_pruned_before

    horizon = raw_pruned_before()
    cursor.execute(
        "DELETE FROM stage_usage WHERE day < %s RETURNING location, day",
        [max(horizon or EARLIEST_USAGE_DAY, EARLIEST_USAGE_DAY)],
    )
    pruned = (
        f"before {horizon}, the raw-data retention horizon (prune_raw): that day's totals are final "
        "in the rollup and are not imported again"
    )
    return [
        Rejection(location, pruned)
        if day >= EARLIEST_USAGE_DAY
        else Rejection(
            location, f"dated {day}, before {EARLIEST_USAGE_DAY}: no AI usage is that old (a mistyped year?)"
        )
        for location, day in cursor.fetchall()
    ]


# A row priced from its tokens that would cost MAX_AMOUNT or more (a token count near 2**62): the
# money columns could not hold it. The same sum as RESOLVE_SQL's.
OVERPRICED_SQL = """
DELETE FROM stage_usage s USING stage_price p
WHERE s.cost_usd IS NULL AND p.vendor = s.vendor AND p.model = s.model AND p.day = s.day
  AND p.long_context = s.long_context
  AND (s.input_uncached_tokens * p.p_in + s.cache_read_tokens * p.p_cr + s.cache_write_5m_tokens * p.p_cw5
       + s.cache_write_1h_tokens * p.p_cw1h + s.output_tokens * p.p_out) / 1000000 >= %(most)s
RETURNING s.location, s.model
"""
PRICE_COLUMNS = ("p_in", "p_cr", "p_cw5", "p_cw1h", "p_out")


def _refuse_repeated_across_chunks(cursor, firsts: list[int]) -> list[Rejection]:
    """Each chunk was deduplicated on its own (_without_duplicate_keys); a key can still repeat in
    a later chunk, where the chunks' times overlap."""
    if len(firsts) < 2:
        return []
    cursor.execute(CHUNK_OVERLAPS_SQL, {"firsts": firsts[1:]})
    (overlaps,) = cursor.fetchone()
    if not overlaps:
        return []
    cursor.execute(REPEATED_ACROSS_CHUNKS_SQL, {"overlaps": overlaps})
    return [
        Rejection(location, "the same row appears again later in the file; the later one counts")
        for (location,) in cursor.fetchall()
    ]


def _refuse_overpriced(cursor, prices: pd.DataFrame, most_tokens: float) -> list[Rejection]:
    """Rows whose computed cost is out of bounds, refused and named. The statement runs only when
    the batch's largest row at its dearest price could get there, so an ordinary batch pays nothing."""
    dearest = max((float(p) for column in PRICE_COLUMNS for p in prices[column] if pd.notna(p)), default=0.0)
    if most_tokens * dearest / 1_000_000 < float(MAX_AMOUNT) / 2:  # half: float rounding
        return []
    cursor.execute(OVERPRICED_SQL, {"most": MAX_AMOUNT})
    return [
        Rejection(location, f"its tokens at {model}'s price cost ${MAX_AMOUNT:,} or more: a token count is wrong")
        for location, model in cursor.fetchall()
    ]


def price_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Unit prices for each distinct (vendor, model, day, tier) of the batch: a few rows."""
    overrides = list(PriceOverride.objects.all())
    keys = frame[list(PRICE_KEY)].drop_duplicates()
    rows = []
    for vendor, model, day, long_context in keys.itertuples(index=False):
        prices = unit_prices(vendor=vendor, model=model, day=day, long_context=bool(long_context), overrides=overrides)
        rows.append(
            {
                "vendor": vendor,
                "model": model,
                "day": day,
                "long_context": bool(long_context),
                "model_canonical": prices.model_canonical if prices else canonical_model(vendor, model),
                "p_in": prices.input if prices else None,
                "p_cr": prices.cache_read if prices else None,
                "p_cw5": prices.cache_write_5m if prices else None,
                "p_cw1h": prices.cache_write_1h if prices else None,
                "p_out": prices.output if prices else None,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "vendor",
            "model",
            "day",
            "long_context",
            "model_canonical",
            "p_in",
            "p_cr",
            "p_cw5",
            "p_cw1h",
            "p_out",
        ],
    )


STAGE_USAGE_DDL = """
CREATE TEMP TABLE stage_usage (
    dedup_key text NOT NULL, bucket_start timestamptz NOT NULL, bucket_width text, vendor text NOT NULL,
    product text, account text NOT NULL, identity_kind text NOT NULL, identity_value text NOT NULL,
    model text NOT NULL, long_context boolean NOT NULL,
    input_uncached_tokens bigint, cache_read_tokens bigint, cache_write_5m_tokens bigint,
    cache_write_1h_tokens bigint, output_tokens bigint, requests bigint, cost_usd numeric,
    location text, ord bigint,
    day date GENERATED ALWAYS AS ((bucket_start AT TIME ZONE 'UTC')::date) STORED
) ON COMMIT DROP;
CREATE TEMP TABLE stage_price (
    vendor text, model text, day date, long_context boolean, model_canonical text,
    p_in numeric, p_cr numeric, p_cw5 numeric, p_cw1h numeric, p_out numeric
) ON COMMIT DROP;
"""

PRICE_KEY = ("vendor", "model", "day", "long_context")

# Where two chunks' times overlap (each chunk is the staged rows from one of `firsts`, its first
# ord, to the next): the only times at which a key can repeat across chunks. A time-ordered log
# has none, or its boundaries' instants, and skips the self-join below.
CHUNK_OVERLAPS_SQL = """
WITH chunk AS (
    SELECT width_bucket(ord, %(firsts)s::bigint[]) AS n, min(bucket_start) AS lo, max(bucket_start) AS hi
    FROM stage_usage GROUP BY 1
)
SELECT range_agg(tstzrange(greatest(a.lo, b.lo), least(a.hi, b.hi), '[]'))
FROM chunk a JOIN chunk b ON a.n < b.n AND a.lo <= b.hi AND b.lo <= a.hi
"""

# A natural key staged twice (from two chunks of one file): the earlier row goes, reported. Both
# sides keep only the rows in the chunks' overlaps: a hash of a handful of rows, not of them all.
REPEATED_ACROSS_CHUNKS_SQL = """
DELETE FROM stage_usage s USING stage_usage t
WHERE t.dedup_key = s.dedup_key AND t.bucket_start = s.bucket_start AND t.ord > s.ord
  AND s.bucket_start <@ %(overlaps)s::tstzmultirange AND t.bucket_start <@ %(overlaps)s::tstzmultirange
RETURNING s.location
"""

# The ledger's rows for the staged keys, read once, after the locks: whether a newer batch has
# already restated them, and the sums that leave the rollup when they are replaced.
EXISTING_SQL = """
CREATE TEMP TABLE existing ON COMMIT DROP AS
SELECT u.*
FROM (SELECT * FROM stage_usage WHERE %(overlaps)s) s
-- One index probe per staged key (LATERAL): a hash join would read every row of the dataset in
-- the batch's months, which grows with the ledger (28 s for 200,000 rows against 19M).
CROSS JOIN LATERAL (
    SELECT u.dedup_key, u.bucket_start, u.batch_id, u.counted, u.day, u.engineer_id, u.vendor, u.product,
           u.model_canonical, u.input_uncached_tokens, u.cache_read_tokens, u.cache_write_5m_tokens,
           u.cache_write_1h_tokens, u.output_tokens, u.requests, u.cost_usd, u.cost_source
    FROM usage_usagerecord u
    WHERE u.dataset = %(dataset)s AND u.dedup_key = s.dedup_key AND u.bucket_start = s.bucket_start
    LIMIT 1  -- the key is unique; LIMIT keeps the planner from turning the probes into a hash join
) u;
ANALYZE existing;
"""

# Who each distinct identity of the batch is (a few thousand, where rows are hundreds of
# thousands).
IDENTITIES_SQL = f"""
CREATE TEMP TABLE stage_identity ON COMMIT DROP AS
SELECT i.vendor, i.identity_kind, i.identity_value, {ENGINEER_OF} AS engineer_id
FROM (SELECT DISTINCT vendor, identity_kind, identity_value FROM stage_usage) i
{identity_joins("i")};
ANALYZE stage_identity, stage_price;
"""
# Whether a staged row counts (rule 1, usage/services/counting.py): only a dataset that is the
# secondary of an active priority asks, of the primary's people and days (primary_cover). The
# rule's per-row NOT EXISTS (counted_rule) probed primary_cover once per staged row (3 s per 1M);
# here the people and days the batch's priorities cover are folded into one row per (who, day)
# first, with the accounts they are narrowed to (NULL: every account), and joined by hash.
RULE_COVER_SQL = """
CREATE TEMP TABLE rule_cover ON COMMIT DROP AS
SELECT c.who, c.day, CASE WHEN bool_or(sp.account = '') THEN NULL ELSE array_agg(DISTINCT sp.account) END AS accounts
FROM usage_sourcepriority sp JOIN primary_cover c ON c.dataset = sp.primary_dataset
WHERE sp.active AND %(dataset)s IN (sp.first_dataset, sp.second_dataset) AND sp.primary_dataset <> %(dataset)s
GROUP BY c.who, c.day;
ANALYZE rule_cover;
"""
STAGED_RULE_JOIN = f"LEFT JOIN rule_cover rc ON rc.who = {who('s', 'i.engineer_id')} AND rc.day = s.day"
STAGED_COUNTED = "(rc.who IS NULL OR (rc.accounts IS NOT NULL AND s.account <> ALL(rc.accounts)))"

# Resolve identity, price, and drop rows a newer batch has already restated.
RESOLVE_SQL = """
CREATE TEMP TABLE resolved ON COMMIT DROP AS
SELECT s.dedup_key, s.bucket_start, s.bucket_width, s.day, s.vendor, s.product, s.account,
       s.identity_kind, s.identity_value, s.model, s.long_context,
       s.input_uncached_tokens, s.cache_read_tokens, s.cache_write_5m_tokens, s.cache_write_1h_tokens,
       s.output_tokens, s.requests,
       i.engineer_id,
       COALESCE(p.model_canonical, s.model) AS model_canonical,
       CASE WHEN s.cost_usd IS NOT NULL THEN s.cost_usd
            WHEN p.p_in IS NOT NULL THEN (s.input_uncached_tokens * p.p_in + s.cache_read_tokens * p.p_cr
                 + s.cache_write_5m_tokens * p.p_cw5 + s.cache_write_1h_tokens * p.p_cw1h
                 + s.output_tokens * p.p_out) / 1000000
            ELSE 0 END AS cost_usd,
       CASE WHEN s.cost_usd IS NOT NULL THEN 'vendor' WHEN p.p_in IS NOT NULL THEN 'computed'
            ELSE 'unpriced' END AS cost_source,
       {counted} AS counted
FROM stage_usage s
LEFT JOIN stage_identity i
       ON i.vendor = s.vendor AND i.identity_kind = s.identity_kind AND i.identity_value = s.identity_value
LEFT JOIN stage_price p
       ON p.vendor = s.vendor AND p.model = s.model AND p.day = s.day AND p.long_context = s.long_context
{rule_join}
WHERE NOT EXISTS (
    SELECT 1 FROM existing x
    WHERE x.dedup_key = s.dedup_key AND x.bucket_start = s.bucket_start AND x.batch_id > %(batch_id)s
);
"""

RESOLVE_ALL_COUNT_SQL = RESOLVE_SQL.replace("{counted}", "true").replace("{rule_join}", "")
RESOLVE_BY_RULE_SQL = RESOLVE_SQL.replace("{counted}", STAGED_COUNTED).replace("{rule_join}", STAGED_RULE_JOIN)

# Keys the ledger does not hold yet are plainly inserted: nobody else can add them meanwhile
# (the batch holds its days' locks), and a plain INSERT skips ON CONFLICT's speculative insertion.
INSERT_USAGE_SQL = """
INSERT INTO usage_usagerecord (
    batch_id, dataset, dedup_key, bucket_start, bucket_width, day, vendor, product, account,
    identity_kind, identity_value, engineer_id, model, model_canonical, long_context,
    input_uncached_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
    output_tokens, requests, cost_usd, cost_source, counted)
SELECT %(batch_id)s, %(dataset)s, dedup_key, bucket_start, bucket_width, day, vendor, product, account,
       identity_kind, identity_value, engineer_id, model, model_canonical, long_context,
       input_uncached_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
       output_tokens, requests, cost_usd, cost_source, counted
FROM resolved
ORDER BY bucket_start, dedup_key  -- the natural key's index order
"""
UPSERT_USAGE_SQL = (
    INSERT_USAGE_SQL
    + """
ON CONFLICT (dataset, bucket_start, dedup_key) DO UPDATE SET
    batch_id = EXCLUDED.batch_id, bucket_width = EXCLUDED.bucket_width, day = EXCLUDED.day,
    vendor = EXCLUDED.vendor, product = EXCLUDED.product, account = EXCLUDED.account,
    identity_kind = EXCLUDED.identity_kind, identity_value = EXCLUDED.identity_value,
    engineer_id = EXCLUDED.engineer_id, model = EXCLUDED.model, model_canonical = EXCLUDED.model_canonical,
    long_context = EXCLUDED.long_context, input_uncached_tokens = EXCLUDED.input_uncached_tokens,
    cache_read_tokens = EXCLUDED.cache_read_tokens, cache_write_5m_tokens = EXCLUDED.cache_write_5m_tokens,
    cache_write_1h_tokens = EXCLUDED.cache_write_1h_tokens, output_tokens = EXCLUDED.output_tokens,
    requests = EXCLUDED.requests, cost_usd = EXCLUDED.cost_usd, cost_source = EXCLUDED.cost_source,
    counted = EXCLUDED.counted
"""
)

# The rows written add to the rollup; the rows they replace (not those a newer batch restated,
# which stay) leave it.
DELTA_SQL = """
CREATE TEMP TABLE rollup_delta ON COMMIT DROP AS
SELECT 1 AS sign, day, engineer_id, vendor, product, model_canonical, input_uncached_tokens,
       cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, requests,
       cost_usd, cost_source
FROM resolved
WHERE counted
UNION ALL
SELECT -1, day, engineer_id, vendor, product, model_canonical, input_uncached_tokens,
       cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, requests,
       cost_usd, cost_source
FROM existing
WHERE counted AND batch_id <= %(batch_id)s;
"""

STATS_SQL = """
SELECT count(*), count(*) FILTER (WHERE engineer_id IS NULL), count(*) FILTER (WHERE cost_source = 'unpriced'),
       COALESCE(sum(cost_usd), 0), COALESCE(sum(cost_usd) FILTER (WHERE engineer_id IS NULL), 0)
FROM resolved
"""


def _load_usage(batch: ImportBatch, dataset: str, frames: Iterable[pd.DataFrame]) -> LoadStats:
    """Stage every frame with COPY (one in memory at a time), then resolve, price, upsert and move
    the rollup with set-based SQL over the whole batch."""
    params = {"dataset": dataset, "batch_id": batch.pk}
    with connection.cursor() as cursor:
        # Sorts and hashes over a batch's rows fit in memory (the 4 MB default spills 200,000
        # staged rows to disk); for this transaction only.
        cursor.execute(f"SET LOCAL work_mem = '{INGEST_WORK_MEM}'")
        cursor.execute(STAGE_USAGE_DDL)
        staged, firsts, most_tokens = 0, [], 0.0
        with copy_stream(cursor, "stage_usage", [*USAGE_COLUMNS, "ord"], background=True) as stage:
            for frame in frames:
                if frame.empty:
                    continue
                frame["ord"] = range(staged, staged + len(frame))  # file order: the later row of a key counts
                most_tokens = max(most_tokens, frame[list(TOKEN_COLUMNS)].to_numpy(dtype=float).sum(axis=1).max())
                stage(frame)
                firsts.append(staged)
                staged += len(frame)
        if not staged:
            cursor.execute("DROP TABLE stage_usage, stage_price")
            return LoadStats()
        # Temp tables have no statistics until analyzed: the planner would take 200,000 staged
        # rows for a few hundred and plan sorts and merge joins for that many.
        cursor.execute("ANALYZE stage_usage")
        repeated = _refuse_pruned_days(cursor)
        repeated += _refuse_repeated_across_chunks(cursor, firsts)
        cursor.execute(f"SELECT DISTINCT {', '.join(PRICE_KEY)} FROM stage_usage")
        prices = price_table(pd.DataFrame(cursor.fetchall(), columns=list(PRICE_KEY)))
        copy_frame(cursor, "stage_price", prices, list(prices.columns))
        repeated += _refuse_overpriced(cursor, prices, most_tokens)
        cursor.execute("SELECT min(bucket_start), max(bucket_start), min(day), max(day) FROM stage_usage")
        first, last, first_day, last_day = cursor.fetchone()
        # Writers of the same dataset and day take turns (locks in sorted order: no deadlock);
        # the delta below is then read from rows nobody else is changing. A dataset paired with
        # others by a SourcePriority also takes their days (every day of the window): the rule-1
        # recheck below flips their rows, and must not take a lock after this one.
        partners = partner_datasets(dataset)
        if partners:
            # The first rows of a primary activate its priorities (source_priorities_activate, after
            # the load), which re-check every day of the pair: those days are locked now too.
            span = activation_span(dataset)
            lock_from, lock_until = (
                (first_day, last_day) if span is None else (min(first_day, span[0]), max(last_day, span[1]))
            )
            days_lock(cursor, datasets=[dataset, *partners], first_day=lock_from, last_day=lock_until)
        else:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(%s || ':' || day::text, 0)"
                " AS k FROM stage_usage ORDER BY 1) locks",
                [dataset],
            )
        # A window the dataset holds no row in (a new day's log, a first import) needs no probe
        # per key: the time-first natural key answers this with one index descent.
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM usage_usagerecord WHERE dataset = %s AND bucket_start BETWEEN %s AND %s)",
            [dataset, first, last],
        )
        (params["overlaps"],) = cursor.fetchone()
        cursor.execute(EXISTING_SQL, params)
        cursor.execute(IDENTITIES_SQL, params)
        window = dict(zip(("from", "until"), day_window(first_day, last_day), strict=True))
        primaries = primaries_over([dataset])
        if primaries:  # a secondary dataset: its rows count unless the primary covers the person and day
            cursor.execute(COVER_SQL, {**window, "primaries": primaries})
            cursor.execute(RULE_COVER_SQL, params)
            cursor.execute(RESOLVE_BY_RULE_SQL, params)
            cursor.execute("DROP TABLE primary_cover, rule_cover")
        else:
            cursor.execute(RESOLVE_ALL_COUNT_SQL, params)
        cursor.execute(DELTA_SQL, params)
        cursor.execute("SELECT EXISTS (SELECT 1 FROM existing)")
        (replaces,) = cursor.fetchone()
        cursor.execute(UPSERT_USAGE_SQL if replaces else INSERT_USAGE_SQL, params)
        rollup_apply_delta(cursor)
        cursor.execute("SELECT count(*) FROM stage_usage")
        (staged,) = cursor.fetchone()
        cursor.execute(STATS_SQL)
        written, unmapped, unpriced, cost, unmapped_cost = cursor.fetchone()
        cursor.execute("SELECT DISTINCT engineer_id FROM resolved WHERE engineer_id IS NOT NULL ORDER BY 1")
        engineer_ids = [row[0] for row in cursor.fetchall()]
        # ON COMMIT DROP is not enough when the caller's transaction goes on (tests, savepoints).
        cursor.execute("DROP TABLE stage_usage, stage_price, existing, stage_identity, resolved, rollup_delta")
    # A primary dataset's batch may now cover (or, restated, no longer cover) people and days its
    # secondaries reported: their rows in the batch's days flip to match (rule 1).
    counting_recheck(datasets=[dataset], start=window["from"], end=window["until"], primary_only=True)
    superseded = staged - written
    if superseded:
        logger.info("batch %s: %s rows already restated by a newer batch were left as they are", batch.pk, superseded)
    return LoadStats(
        accepted=staged,
        unmapped=unmapped,
        unpriced=unpriced,
        cost_usd=cost,
        unmapped_cost_usd=unmapped_cost,
        engineer_ids=engineer_ids,
        first_day=first_day,
        repeated=repeated,
    )


UPSERT_BILLING_SQL = """
INSERT INTO billing_billingline (batch_id, dataset, dedup_key, day, vendor, account, model, description, cost_usd)
SELECT %(batch_id)s, %(dataset)s, s.dedup_key, s.day, s.vendor, s.account, s.model, s.description, s.cost_usd
FROM stage_billing s
ORDER BY s.dedup_key, s.day
ON CONFLICT (dataset, dedup_key, day) DO UPDATE SET
    batch_id = EXCLUDED.batch_id, vendor = EXCLUDED.vendor, account = EXCLUDED.account, model = EXCLUDED.model,
    description = EXCLUDED.description, cost_usd = EXCLUDED.cost_usd
WHERE billing_billingline.batch_id <= EXCLUDED.batch_id
"""


def _load_billing(batch: ImportBatch, dataset: str, frame: pd.DataFrame) -> LoadStats:
    """Billed totals go to BillingLine for reconciliation; they never add to anyone's spend."""
    if frame.empty:
        return LoadStats()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE stage_billing (dedup_key text, day date, vendor text, account text, model text,"
            " description text, cost_usd numeric, location text) ON COMMIT DROP"
        )
        copy_frame(cursor, "stage_billing", frame, list(BILLING_COLUMNS))
        cursor.execute(UPSERT_BILLING_SQL, {"dataset": dataset, "batch_id": batch.pk})
        cursor.execute("SELECT count(*), COALESCE(sum(cost_usd), 0) FROM stage_billing")
        count, cost = cursor.fetchone()
        cursor.execute("DROP TABLE stage_billing")
    return LoadStats(accepted=count, cost_usd=cost)


def _batch_fail(batch: ImportBatch, message: str) -> ImportBatch:
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=ImportBatch.Status.FAILED, error=message, finished_at=timezone.now()
    )
    batch.refresh_from_db()
    return batch


def import_batch_requeue_stale(*, older_than_minutes: int) -> list[int]:
    """Hand batches stuck pending or running (a lost message, a killed worker) to a worker again."""
    from usage.tasks import import_batch_process_task

    cutoff = timezone.now() - timezone.timedelta(minutes=older_than_minutes)
    # A running batch is stale only when its run started before the cutoff.
    stale = ImportBatch.objects.filter(created_at__lt=cutoff).filter(
        Q(status=ImportBatch.Status.PENDING) | Q(status=ImportBatch.Status.RUNNING, started_at__lt=cutoff)
    )
    ids = list(stale.values_list("pk", flat=True))
    ImportBatch.objects.filter(pk__in=ids).update(status=ImportBatch.Status.PENDING)
    for batch_id in ids:
        import_batch_process_task.delay_on_commit(batch_id=batch_id)
    return ids
