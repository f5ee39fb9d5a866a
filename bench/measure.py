"""The measurements. Each returns a plain dict for the JSON; none asserts anything about time.

- ingest: the real pipeline (import_batch_create -> import_batch_process, eager) on an event
  export, against a raw COPY of the same file into an unindexed table (psql \\copy, or psycopg
  cursor.copy() streaming the file);
- pages: `/`, `/me/` and `/finance/` through Django's test Client (the whole WSGI stack, in process),
  against exactly the SQL those requests ran, replayed directly with psycopg;
- worker memory: peak RSS of `manage.py import_usage FILE` in a subprocess;
- cap check: `/api/v1/caps/check`, when the app has it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import psycopg

from bench.db import BASE_DIR

RAW_TABLE = "bench_raw_events"
RAW_DDL = f"""
CREATE TABLE {RAW_TABLE} (
    "timestamp" timestamptz, email text, vendor text, product text, model text,
    input_uncached_tokens bigint, cache_read_tokens bigint, cache_write_5m_tokens bigint,
    output_tokens bigint, requests bigint
)
"""
RAW_COPY = f"COPY {RAW_TABLE} FROM STDIN WITH (FORMAT csv, HEADER true)"
BLOCK = 1 << 20


def median_ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 2)


def _checkpoint(url: str) -> None:
    """Start each write measurement with no dirty pages or WAL left by the previous one."""
    with contextlib.suppress(psycopg.Error), psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


# ---------------------------------------------------------------------------------------------
# Raw COPY: the database's own limit for these rows


def copy_method(requested: str) -> str:
    if requested == "auto":
        return "psql" if shutil.which("psql") else "psycopg"
    if requested == "psql" and not shutil.which("psql"):
        raise SystemExit("--copy-method psql: psql is not on PATH")
    return requested


def raw_copy(*, url: str, path: Path, rows: int, method: str, repeats: int) -> dict:
    """Rows/s of COPY of the export file into a fresh unindexed table, the median of `repeats`."""
    seconds = []
    for _ in range(repeats):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
            conn.execute(RAW_DDL)
        _checkpoint(url)
        started = time.perf_counter()
        if method == "psql":
            subprocess.run(
                [
                    "psql",
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    url,
                    "-c",
                    f"\\copy {RAW_TABLE} FROM '{path}' WITH (FORMAT csv, HEADER true)",
                ],
                check=True,
                capture_output=True,
            )
        else:
            with psycopg.connect(url) as conn, conn.cursor() as cur, cur.copy(RAW_COPY) as copy, path.open("rb") as fh:
                while block := fh.read(BLOCK):
                    copy.write(block)
        seconds.append(time.perf_counter() - started)
    with psycopg.connect(url, autocommit=True) as conn:
        loaded = conn.execute(f"SELECT count(*) FROM {RAW_TABLE}").fetchone()[0]
        conn.execute(f"DROP TABLE {RAW_TABLE}")
    if loaded != rows:
        raise RuntimeError(f"raw COPY loaded {loaded} rows, the file has {rows}")
    best = statistics.median(seconds)
    return {
        "method": "psql \\copy" if method == "psql" else "psycopg cursor.copy()",
        "runs_s": [round(s, 3) for s in seconds],
        "seconds": round(best, 3),
        "rows_per_s": round(rows / best),
    }


# ---------------------------------------------------------------------------------------------
# Ingest through the real pipeline


class PhaseTimer:
    """Times named functions of the pipeline by wrapping them for the duration (no code edited)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._undo: list[tuple[object, str, object | None]] = []
        self._inner: list[float] = []  # per wrapped call running: the time of the wrapped calls it made

    def wrap(self, owner: object, name: str, label: str, *, uncaptured: bool = False) -> None:
        """Time `owner.name` under `label`; `uncaptured`: keep its queries out of the captured
        SQL (they are that step's, already in its time)."""
        from django.db import connection

        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started, captured = time.perf_counter(), connection.force_debug_cursor
            if uncaptured:
                connection.force_debug_cursor = False
            self._inner.append(0.0)
            try:
                return original(*args, **kwargs)
            finally:
                connection.force_debug_cursor = captured
                # A wrapped call made inside another (a task queueing the next, eager) is its
                # own label's time only: the phases add up to the whole.
                elapsed = time.perf_counter() - started
                self.seconds[label] += elapsed - self._inner.pop()
                if self._inner:
                    self._inner[-1] += elapsed

        own = name in vars(owner)  # a module's function, not a method looked up on a class
        setattr(owner, name, timed)
        self._undo.append((owner, name, original if own else None))

    def __enter__(self) -> PhaseTimer:
        return self

    def __exit__(self, *exc) -> None:
        for owner, name, original in reversed(self._undo):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


STATEMENT_LABELS = (
    ("pg_advisory_xact_lock", "lock the batch's days"),
    ("FROM usage_usagerecord WHERE dataset = ", "does the ledger hold rows in the batch's time window"),
    ("CREATE TEMP TABLE existing", "the ledger's rows for the staged keys (EXISTING_SQL)"),
    ("CREATE TEMP TABLE stage_identity", "who each distinct identity is (IDENTITIES_SQL)"),
    ("ANALYZE stage_usage", "statistics of the staged rows (ANALYZE)"),
    ("CREATE TEMP TABLE resolved", "resolve identities + price (RESOLVE_SQL)"),
    ("CREATE TEMP TABLE rollup_delta_sum", "aggregate the delta by rollup key"),
    ("CREATE TEMP TABLE rollup_delta", "rows replaced + rows written (DELTA_SQL)"),
    ("INSERT INTO usage_usagerecord", "upsert the ledger (UsageRecord)"),
    ("UPDATE usage_dailyusage", "rollup: update existing keys"),
    ("INSERT INTO usage_dailyusage", "rollup: insert new keys"),
    ("DELETE FROM usage_dailyusage", "rollup: delete emptied keys"),
    ("CREATE TEMP TABLE stage_usage", "create staging tables"),
    ("width_bucket(ord", "where the chunks' times overlap (one pass over staging)"),
    ("DELETE FROM stage_usage s USING stage_usage t", "drop keys repeated across chunks (staging self-join)"),
    ("FROM stage_usage WHERE day <", "refuse days before the retention horizon"),
    ("usage_sourcepriority", "source priorities (primary-source rule)"),
    ("count(*) FILTER (WHERE engineer_id IS NULL)", "batch statistics"),
    ("SELECT DISTINCT engineer_id FROM resolved", "engineers touched"),
    ("usage_rejectedrow", "rejected rows"),
)


def _statement_label(sql: str) -> str:
    text = " ".join(sql.split())
    if text.upper() == "COMMIT":
        return "commit (the ledger's deferred foreign-key checks, one per row; WAL flush)"
    for needle, label in STATEMENT_LABELS:
        if needle in text:
            return label
    return "other statements (batch bookkeeping)"


@contextlib.contextmanager
def _doorbell_silenced():
    """import_batch_create rings the worker's doorbell on commit (eager: it would process the
    batch inside the create, through Celery's retry wrapper). Silenced, the bench times the two
    services apart and calls import_batch_process itself, as the task does."""
    from usage.tasks import import_batch_process_task

    import_batch_process_task.delay_on_commit = lambda **kwargs: None
    try:
        yield
    finally:
        del import_batch_process_task.delay_on_commit


def _active_statements(url: str) -> list[str]:
    """What the other sessions on the bench database are running (the pipeline's, when it is slow)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT now() - query_start, query FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'"
        ).fetchall()
    return [f"{age.total_seconds():.0f} s: {' '.join(query.split())[:200]}" for age, query in rows]


def _stop_backends(url: str) -> None:
    """End the statements a killed worker left running on the bench database (ours is idle)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'"
        )


# Tasks an import queues on commit. With real workers each is its own task on the queue, not the
# import's time; eager (here) they run inside it, so they are timed apart.
FOLLOW_UP_TASKS = {
    "billing.tasks.caps_evaluate_task": "cap re-evaluation for the engineers touched",
    "billing.tasks.spend_anomalies_detect_task": "spend anomaly detection for the engineers touched",
    "leaderboard.tasks.board_snapshots_refresh_task": "leaderboard snapshots refresh",
    "billing.tasks.finance_cache_warm_task": "the running month's /finance/ figures computed ahead",
    "leaderboard.tasks.pages_warm_task": "/impact/ and the top teams' pages computed ahead (after the snapshots)",
}


def _follow_up_tasks() -> list[tuple[object, str]]:
    import importlib

    found = []
    for path, label in FOLLOW_UP_TASKS.items():
        module, name = path.rsplit(".", 1)
        try:
            found.append((getattr(importlib.import_module(module), name), f"task on commit: {label}"))
        except (ImportError, AttributeError):
            continue
    return found


def ingest(*, path: Path, rows: int, timeout_s: int) -> dict:
    """End-to-end rows/s of the pipeline for the file at `path`: read it from disk,
    `import_batch_create` (store the bytes, the batch row), then `import_batch_process` (parse,
    resolve, price, stage, upsert, rollup), as a worker would. A statement running past
    `timeout_s` is cancelled: the batch is then reported unfinished, with where the time went."""
    from django.db import DatabaseError, connection
    from django.test.utils import CaptureQueriesContext

    from usage.importers import generic_csv, registry
    from usage.models import ImportBatch
    from usage.services import ingest as ingest_service

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM usage_usagerecord")
        ledger_before = cur.fetchone()[0]
    _checkpoint(_django_url())
    timings: dict[str, float] = {}
    error = ""
    with PhaseTimer() as phases, _doorbell_silenced():
        phases.wrap(registry, "parse", "parse the export (importer: pandas + Python per row)")
        phases.wrap(generic_csv, "_parsed", "parse the export's chunks (importer: pandas + Python per row)")
        phases.wrap(ingest_service, "_without_duplicate_keys", "drop in-file duplicates (pandas)")
        phases.wrap(ingest_service, "price_table", "unit price table (genai-prices)")
        # The staging COPY streams from a thread while the parser goes on (copy_stream): the
        # server's part overlaps parsing; what is left of it when the file ends is in the rest.
        phases.wrap(ingest_service, "_copy_text", "frame -> COPY's CSV text (Python)")
        phases.wrap(ingest_service, "copy_frame", "COPY the unit prices into staging")
        for task, label in _follow_up_tasks():
            phases.wrap(task, "delay", label, uncaptured=True)
        started = time.perf_counter()
        with path.open("rb") as fh:
            batch = ingest_service.import_batch_create(filename=path.name, file=fh, format="generic_csv")
        timings["create"] = time.perf_counter() - started
        with connection.cursor() as cur:
            cur.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
        process_started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            try:
                batch = ingest_service.import_batch_process(batch_id=batch.pk)
            except DatabaseError as exc:  # the statement timeout (the service re-raises it as transient)
                error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        timings["process"] = time.perf_counter() - process_started
        elapsed = time.perf_counter() - started
    with connection.cursor() as cur:
        cur.execute("SET statement_timeout = 0")
        cur.execute("SELECT count(*) FROM usage_usagerecord")
        ledger_after = cur.fetchone()[0]
    batch.refresh_from_db()
    statements: dict[str, float] = defaultdict(float)
    for query in queries.captured_queries:
        if query["sql"].lstrip().upper().startswith("COPY "):
            continue  # timed as a whole by the "frame -> CSV -> COPY" phase, which holds it
        statements[_statement_label(query["sql"])] += float(query["time"])
    breakdown = {"import_batch_create (read file, sha256, store the raw copy)": round(timings["create"], 3)}
    breakdown |= {label: round(s, 3) for label, s in sorted(phases.seconds.items(), key=lambda kv: -kv[1])}
    breakdown |= {f"SQL: {label}": round(s, 3) for label, s in sorted(statements.items(), key=lambda kv: -kv[1])}
    accounted = timings["create"] + sum(phases.seconds.values()) + sum(statements.values())
    rest = (
        "the cancelled statement + Python glue"
        if error
        else "everything else (Python glue in import_batch_process; the staging COPY's tail)"
    )
    breakdown[rest] = round(elapsed - accounted, 3)
    ok = batch.status == ImportBatch.Status.DONE
    tasks_s = sum(s for label, s in phases.seconds.items() if label.startswith("task on commit"))
    return {
        "status": batch.status if not error else f"unfinished: a statement ran over --ingest-timeout {timeout_s} s",
        "error": error or batch.error[:500],
        "rows_in_file": rows,
        "bytes": path.stat().st_size,
        "rows_accepted": batch.rows_accepted,
        "rows_rejected": batch.rows_rejected,
        "rows_unmapped": batch.rows_unmapped,
        "ledger_rows_added": ledger_after - ledger_before,
        "seconds": round(elapsed, 3),
        "create_s": round(timings["create"], 3),
        "process_s": round(timings["process"], 3),
        "follow_up_tasks_s": round(tasks_s, 3),
        # The import task's own rate: parse, resolve, price, stage, upsert, rollup.
        "rows_per_s": round(rows / (elapsed - tasks_s)) if ok else None,
        # In eager mode the tasks an import queues (caps, anomalies, snapshots) run inside it, on commit.
        "rows_per_s_with_follow_up_tasks": round(rows / elapsed) if ok else None,
        "breakdown_s": breakdown,
    }


def _django_url() -> str:
    return os.environ["DATABASE_URL"]


def vacuum_as_autovacuum_would(url: str) -> dict:
    """A default install runs autovacuum: it cleans the tables the app rewrites (snapshots, cap
    statuses, the computed pages) once a fifth of their rows are dead. A server with it off (CI
    machines) leaves a reused company's tables growing run after run, and the next phase reads
    them bloated: here those tables are vacuumed and analysed at autovacuum's default
    thresholds, and the run says so."""
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SHOW autovacuum").fetchone()[0] == "on":
            return {"autovacuum": "on"}
        due = conn.execute(
            "SELECT schemaname, relname, n_dead_tup FROM pg_stat_user_tables"
            " WHERE n_dead_tup > 50 + 0.2 * n_live_tup OR n_mod_since_analyze > 50 + 0.1 * n_live_tup"
            " ORDER BY relname"
        ).fetchall()
        started = time.perf_counter()
        for schema, table, _ in due:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(schema, table)))
    return {
        "autovacuum": "off",
        "vacuumed": {table: dead for _, table, dead in due},
        "seconds": round(time.perf_counter() - started, 2),
    }


# ---------------------------------------------------------------------------------------------
# Pages against their own SQL


def _replay(url: str, statements: list[str], repeats: int) -> tuple[list[float], list[list[float]]]:
    """Run exactly these statements in order on a direct connection (rolled back: some pages
    write an audit row), `repeats` times; total and per-statement seconds."""
    totals, per_statement = [], [[] for _ in statements]
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        conn.commit()
        for _ in range(repeats + 1):  # the first round warms the connection's caches
            started = time.perf_counter()
            with conn.cursor() as cur:
                for n, text in enumerate(statements):
                    t0 = time.perf_counter()
                    # One transaction holds the whole replay: a page's own snapshot level is
                    # only valid as its transaction's first statement.
                    if text.startswith("SET TRANSACTION"):
                        per_statement[n].append(0.0)
                        continue
                    cur.execute(text)
                    if cur.description is not None:
                        cur.fetchall()
                    per_statement[n].append(time.perf_counter() - t0)
            totals.append(time.perf_counter() - started)
            conn.rollback()
    return totals[1:], [times[1:] for times in per_statement]


def page(*, client, path: str, repeats: int, warmup: int = 2, before_each=None) -> dict:
    """Median server time of GET `path` (warm) and of the bare SQL it ran. `before_each` runs,
    untimed, before every request (e.g. to empty a cache and time the page as computed)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    prepare = before_each or (lambda: None)
    for _ in range(warmup):
        prepare()
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: status {response.status_code}")
    seconds = []
    for _ in range(repeats):
        prepare()
        started = time.perf_counter()
        response = client.get(path)
        seconds.append(time.perf_counter() - started)
    prepare()
    with CaptureQueriesContext(connection) as captured:
        client.get(path)
    statements = [q["sql"] for q in captured.captured_queries if q["sql"]]
    sql_totals, per_statement = _replay(_django_url(), statements, repeats)
    slowest = sorted(
        ((statistics.median(times), text) for times, text in zip(per_statement, statements, strict=True)),
        reverse=True,
    )[:3]
    page_ms, sql_ms = median_ms(seconds), median_ms(sql_totals)
    return {
        "path": path,
        "repeats": repeats,
        "ms": page_ms,
        "ms_min": round(min(seconds) * 1000, 2),
        "ms_max": round(max(seconds) * 1000, 2),
        "sql_ms": sql_ms,
        "ratio_vs_sql": round(page_ms / sql_ms, 2) if sql_ms else None,
        "queries": len(statements),
        "response_bytes": len(response.content),
        "slowest_statements": [
            {"ms": round(ms * 1000, 2), "sql": " ".join(text.split())[:160]} for ms, text in slowest
        ],
    }


def board_refresh() -> dict:
    """Seconds to rank everyone into the preset periods' snapshots and the weekly ranks (what
    beat and each import's commit run in the background), and each period's own build: all of
    them, then what a new day's import makes the refresh rebuild (today's periods and week). A
    reused company's export lands on a later day each run, so its own refresh is not that."""
    from django.db import connection
    from django.utils import timezone

    from leaderboard.models import BoardSnapshot
    from leaderboard.services import board_snapshots_refresh

    def refresh(first_day: str, last_day: str) -> tuple[float, object]:
        with connection.cursor() as cursor:  # as the rollup's trigger logs a write to these days
            cursor.execute("INSERT INTO usage_rollup_change VALUES (%s, %s)", [first_day, last_day])
        started = time.perf_counter()
        result = board_snapshots_refresh()
        return round(time.perf_counter() - started, 3), result

    seconds, result = refresh("-infinity", "infinity")
    periods = {f"{s.start}..{s.end}": {"people": s.people, "build_ms": s.build_ms} for s in BoardSnapshot.objects.all()}
    today = timezone.localdate().isoformat()
    new_day_s, new_day = refresh(today, today)
    return {
        "seconds": seconds,
        "periods": periods,
        "weeks": len(result.weeks),
        "new_day": {"seconds": new_day_s, "periods": len(new_day.periods), "weeks": len(new_day.weeks)},
    }


def _computed_empty(*kinds: str):
    """A before_each that empties these kinds of computed page data (usage.services.computed):
    the page is then timed as computed, the first view after a change."""

    def empty() -> None:
        try:
            from usage.models import ComputedCache
        except ImportError:  # a build from before the cache
            return
        ComputedCache.objects.filter(kind__in=kinds).delete()

    return empty


def pages(*, company: dict, repeats: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings

    from usage.models import TeamMembership

    user_model = get_user_model()
    viewer = user_model.objects.get(username=company["viewer_username"])
    client = Client()
    client.force_login(viewer)
    top = user_model.objects.get(username=company["top_manager_username"])
    top_client = Client()
    top_client.force_login(top)
    plan = {
        "leaderboard": (client, "/", repeats),
        # A filter ranks live (snapshots hold the unfiltered boards): the cost a filter pays.
        "leaderboard_filtered": (client, "/?product=claude_code", max(3, repeats // 3)),
        "me": (client, "/me/", repeats),
        # The root manager: everyone is in their reporting chain (the viewer lookup grows with it).
        "leaderboard_as_top_manager": (top_client, "/", max(3, repeats // 3)),
    }
    # The viewer's own team: ranked live too, over the team's rows only (its index).
    own_team = (
        TeamMembership.objects.filter(engineer__user=viewer, valid_to=None).values_list("team_id", flat=True).first()
    )
    if own_team is not None:
        plan["leaderboard_own_team"] = (client, f"/?team={own_team}", max(3, repeats // 3))
    if company.get("finance_username"):
        # Not precomputed: this month against last, by vendor, product, team, cost center and
        # engineer, with the seat ledger prorated (docs/scaling.md "Finance at scale").
        finance_client = Client()
        finance_client.force_login(user_model.objects.get(username=company["finance_username"]))
        # As computed (the first view after an import, seats or org change; what the warm task
        # does ahead of the page), then as read from its cache (every view until the next change).
        plan["finance_computed"] = (finance_client, "/finance/", max(3, repeats // 5), _computed_empty("finance"))
        plan["finance"] = (finance_client, "/finance/", repeats)
        # The other pages that aggregate live over the rollup, as finance (everyone in scope).
        plan["impact_computed"] = (finance_client, "/impact/", 3, _computed_empty("impact_people", "impact_teams"))
        plan["impact"] = (finance_client, "/impact/", 5)
        plan["team_board"] = (finance_client, "/?tab=teams", 3)
        plan["team_page_root_computed"] = (finance_client, "/teams/1/", 3, _computed_empty("team"))
        plan["team_page_root"] = (finance_client, "/teams/1/", repeats)
        plan["efficiency"] = (finance_client, "/efficiency/", 3)
    results = {}
    with override_settings(ROOT_URLCONF="bench.urls"):
        try:
            results["empty_page"] = page(client=client, path="/bench/empty/", repeats=repeats)
        except Exception as exc:  # noqa: BLE001
            results["empty_page"] = {"path": "/bench/empty/", "error": f"{type(exc).__name__}: {exc}"[:500]}
    for name, (who, path, times, *before_each) in plan.items():
        try:
            results[name] = page(client=who, path=path, repeats=times, before_each=next(iter(before_each), None))
        except Exception as exc:  # noqa: BLE001 - one broken page must not hide the others' numbers
            results[name] = {"path": path, "error": f"{type(exc).__name__}: {exc}"[:500]}
    return results


# ---------------------------------------------------------------------------------------------
# Cap check


CAP_CHECK_PATH = "/api/v1/caps/check"


def cap_check(*, company: dict, repeats: int, seed: int) -> dict:
    """p50/p99 of GET /api/v1/caps/check as a gateway calls it (bearer token), for engineers
    picked at random, after an org-wide monthly cap has been set and evaluated for everyone (the
    steady state: CapStatus rows exist). Null with the reason when the endpoint is missing or
    its API is not the one this bench knows."""
    import random

    from django.test import Client
    from django.urls import Resolver404, resolve

    try:
        resolve(CAP_CHECK_PATH)
    except Resolver404:
        return {"p50_ms": None, "p99_ms": None, "reason": f"{CAP_CHECK_PATH} does not exist in this build"}
    try:
        from billing.models import CapStatus
        from billing.services.caps import cap_policy_set
        from billing.services.evaluation import caps_evaluate
        from billing.services.tokens import api_token_create

        _row, token = api_token_create(name=f"bench-{time.time_ns()}")
        started = time.perf_counter()
        cap_policy_set(actor=None, scope="org", amount_usd="1500", reason="bench", replace_existing=True)
        policy_s = time.perf_counter() - started
        started = time.perf_counter()
        evaluated = caps_evaluate()
        evaluate_s = time.perf_counter() - started
        statuses = CapStatus.objects.count()
    except Exception as exc:  # noqa: BLE001 - the caps feature is young; say why, measure the rest
        return {"p50_ms": None, "p99_ms": None, "reason": f"could not set up caps: {type(exc).__name__}: {exc}"}
    rng = random.Random(seed)
    people = [f"eng{rng.randint(1, company['engineers']):06d}@bench.example" for _ in range(200)]
    client = Client(headers={"authorization": f"Bearer {token}"})

    def ask(email: str) -> float:
        started = time.perf_counter()
        response = client.get(CAP_CHECK_PATH, {"email": email, "vendor": "anthropic", "product": "claude_code"})
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{CAP_CHECK_PATH}: {response.status_code} {response.content[:200]!r}")
        return elapsed

    try:
        first = [ask(email) for email in people]  # a tool nobody asked about yet is evaluated once
        seconds = sorted(ask(rng.choice(people)) for _ in range(repeats))
    except RuntimeError as exc:
        return {"p50_ms": None, "p99_ms": None, "reason": str(exc)}
    first.sort()
    return {
        "requests": repeats,
        "p50_ms": median_ms(seconds),
        "p99_ms": round(seconds[min(len(seconds) - 1, int(0.99 * len(seconds)))] * 1000, 2),
        "first_ask_p50_ms": median_ms(first),
        "first_ask_p99_ms": round(first[min(len(first) - 1, int(0.99 * len(first)))] * 1000, 2),
        "set_org_policy_s": round(policy_s, 2),
        "evaluate_everyone_s": round(evaluate_s, 2),
        "engineers_evaluated": getattr(evaluated, "engineers", None),
        "cap_status_rows": statuses,
    }


# ---------------------------------------------------------------------------------------------
# Worker memory


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the kernel's own peak) in kB, from /proc."""
    values = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def worker_memory(*, path: Path, rows: int, env: dict[str, str], limit_mb: int, timeout_s: int) -> dict:
    """Peak RSS of `manage.py import_usage FILE` (eager: the worker's work, in that process)."""
    command = [sys.executable, str(BASE_DIR / "manage.py"), "import_usage", str(path), "--format", "generic_csv"]
    started = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        command,
        cwd=BASE_DIR,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    peak_kb, stopped, running = 0, "", []
    while proc.poll() is None:
        status = _proc_status(proc.pid)
        peak_kb = max(peak_kb, status.get("VmHWM", 0), status.get("VmRSS", 0))
        if peak_kb > limit_mb * 1024:
            stopped = f"killed at {peak_kb // 1024} MB RSS (over --rss-limit-mb {limit_mb})"
        elif time.perf_counter() - started > timeout_s:
            stopped = f"killed after {timeout_s} s (--rss-timeout) before it finished"
        if stopped:
            running = _active_statements(env["DATABASE_URL"])
            os.killpg(proc.pid, signal.SIGKILL)
            _stop_backends(env["DATABASE_URL"])
            break
        time.sleep(0.05)
    stdout, stderr = proc.communicate()
    elapsed = time.perf_counter() - started
    finished = not stopped and proc.returncode == 0
    return {
        "file_bytes": path.stat().st_size,
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "rows": rows,
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "peak_rss_to_file_size": round(peak_kb * 1024 / path.stat().st_size, 1),
        "seconds": round(elapsed, 1),
        "rows_per_s": round(rows / elapsed) if finished else None,
        "finished": finished,
        "stopped": stopped or None,
        "database_was_running": running,
        "returncode": proc.returncode,
        "output": (stdout.strip() or stderr.strip())[-400:],
    }
