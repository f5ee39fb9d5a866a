"""`python -m bench run [options]`: build a synthetic company, measure, print, write JSON.

    python -m bench run                       # 50,000 engineers x 90 days, 2,000,000 events
    python -m bench run --engineers 10000 --events 1000000
    python -m bench run --small               # CI-sized, under two minutes
    python -m bench run --big-export-mb 2048  # the issue's 2 GB worker-memory case

The bench works in its own database (`--db-name`, created and dropped on the server of
DATABASE_URL, or on the embedded PostgreSQL when it is unset); the app's database is never
touched. Files go under .data/bench/ (gitignored), results to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import db, measure, report, synth

RESULTS = db.BASE_DIR / "bench" / "results" / "latest.json"
WORK_DIR = db.BASE_DIR / ".data" / "bench"
PRESETS = {
    # The CI smoke configuration: under two minutes on two cores.
    "small": {"engineers": 1_000, "days": 30, "events": 20_000, "big_export_mb": 5.0, "repeats": 5},
    # The smallest thing that exercises every step: seconds (tests/test_bench_smoke.py).
    "tiny": {"engineers": 40, "days": 14, "events": 2_000, "big_export_mb": 0.3, "repeats": 2, "copy_repeats": 1},
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    sub = root.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="build the synthetic company and measure everything")
    size = run.add_argument_group("size")
    size.add_argument("--engineers", type=int, default=50_000)
    size.add_argument("--days", type=int, default=90)
    size.add_argument("--events", type=int, default=2_000_000, help="rows of the event export ingested")
    size.add_argument(
        "--event-days", type=int, default=1, help="days the exports span, ending today (1: a daily gateway log)"
    )
    size.add_argument("--big-export-mb", type=float, default=200.0, help="size of the export the worker imports")
    size.add_argument("--small", action="store_const", dest="preset", const="small", help=f"{PRESETS['small']}")
    size.add_argument("--tiny", action="store_const", dest="preset", const="tiny", help=f"{PRESETS['tiny']}")
    how = run.add_argument_group("how")
    how.add_argument("--repeats", type=int, default=15, help="timed requests per page (median)")
    how.add_argument("--copy-repeats", type=int, default=3, help="raw COPY runs (median)")
    how.add_argument("--copy-method", choices=["auto", "psql", "psycopg"], default="auto", help="auto: psql if on PATH")
    how.add_argument("--seed", type=int, default=42)
    how.add_argument(
        "--restate",
        action="store_true",
        help="with --reuse-db: export the same days as earlier runs (the ledger holds rows there)",
    )
    how.add_argument("--skip", default="", help="comma-separated: pages,caps,ingest,worker")
    how.add_argument(
        "--ingest-timeout", type=int, default=3600, help="seconds before the ingest statement is cancelled"
    )
    how.add_argument("--rss-limit-mb", type=int, default=8192, help="kill the worker above this RSS (protects the box)")
    how.add_argument("--rss-timeout", type=int, default=3600, help="kill the worker after this many seconds")
    where = run.add_argument_group("where")
    where.add_argument("--db-name", default="tokenboard_bench", help="the bench's own database (must contain 'bench')")
    where.add_argument("--keep-db", action="store_true", help="leave the bench database for inspection")
    where.add_argument(
        "--reuse-db", action="store_true", help="reuse a kept database built with the same size and seed"
    )
    where.add_argument("--work-dir", type=Path, default=WORK_DIR)
    where.add_argument("--out", type=Path, default=RESULTS)
    return root


def apply_preset(args: argparse.Namespace) -> None:
    for key, value in PRESETS.get(args.preset or "", {}).items():
        setattr(args, key, value)


def log(message: str) -> None:
    print(message, flush=True)


def run(args: argparse.Namespace) -> dict:
    apply_preset(args)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    started, wall = time.perf_counter(), datetime.now(UTC)
    load_start = report.load_average()
    server = db.server_url()
    db.check_name(args.db_name, server)
    bench_url = db.with_database(server, args.db_name)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    env = db.django_environment(bench_url, args.work_dir)
    env["DATABASE_CONN_MAX_AGE"] = "3600"  # a warm web worker keeps its connection
    params = {
        "engineers": args.engineers,
        "days": args.days,
        "events": args.events,
        "event_days": min(args.event_days, args.days),
        "big_export_mb": args.big_export_mb,
        "repeats": args.repeats,
        "copy_repeats": args.copy_repeats,
        "ingest_timeout_s": args.ingest_timeout,
        "rss_timeout_s": args.rss_timeout,
        "seed": args.seed,
        "restate": args.restate,
        "preset": args.preset,
        "db_name": args.db_name,
    }
    build_key = {k: params[k] for k in ("engineers", "days", "seed")} | {"built_on": wall.date().isoformat()}
    company = (
        _reused_company(bench_url, build_key) if args.reuse_db and db.database_exists(server, args.db_name) else None
    )
    if company is None:
        log(f"Creating database {args.db_name} …")
        db.database_create(server, args.db_name)
    db.django_setup(env)
    try:
        details = _measure(args, skip, env, bench_url, company)
        facts = {**report.machine(), **db.server_facts(bench_url)}
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            db.database_drop(server, args.db_name)
    results = _summary(details)
    results |= {
        "parameters": params,
        "machine": facts,
        "load_average_start": load_start,
        "load_average_end": report.load_average(),
        "started_at": wall.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - started, 1),
        "details": details,
    }
    results["targets"] = report.targets_met(results)
    return results


def _step(details: dict, name: str, measure_it) -> None:
    """One measurement; a failure (the app is a moving target) is recorded and the run goes on."""
    try:
        details[name] = measure_it()
    except Exception as exc:  # noqa: BLE001 - reported in the JSON and the table, never hidden
        details[name] = {"error": f"{type(exc).__name__}: {exc}"[:1000], "traceback": traceback.format_exc()[-3000:]}
        log(f"  {name} FAILED: {type(exc).__name__}: {str(exc)[:300]}")


def _measure(args: argparse.Namespace, skip: set[str], env: dict, bench_url: str, company: dict | None) -> dict:
    from django.core.management import call_command

    build_s = 0.0
    if company is None:
        call_command("migrate", verbosity=0)
        log(f"Building the synthetic company ({args.engineers:,} engineers × {args.days} days) with COPY …")
        t0 = time.perf_counter()
        built = synth.company_build(url=bench_url, engineers=args.engineers, days=args.days, seed=args.seed, log=log)
        from usage.services.partitions import usage_partitions_ensure

        usage_partitions_ensure()  # as beat does: the built months get their own partitions
        build_s = time.perf_counter() - t0
        key = {"engineers": args.engineers, "days": args.days, "seed": args.seed}
        _remember_company(bench_url, key | {"built_on": datetime.now(UTC).date().isoformat()}, built.as_dict())
        company = built.as_dict()
    else:
        log(f"Reusing {args.db_name} ({company['rollup_rows']:,} rollup rows); applying any new migrations …")
        call_command("migrate", verbosity=0)
    details: dict = {"company": company, "build_s": round(build_s, 1)}
    export_seed = args.seed + 1000 * company.get("reuse", 0)

    def vacuum(before: str) -> None:
        """On a server without autovacuum, what it would have cleaned (measure.vacuum_as_autovacuum_would)."""
        details.setdefault("vacuum", {})[before] = measure.vacuum_as_autovacuum_would(bench_url)

    if "pages" not in skip:
        vacuum("pages")
        log("Leaderboard snapshots: ranking everyone once per preset period and week, as beat does …")
        _step(details, "board_refresh", measure.board_refresh)
        log(f"Pages: / and /me/ as {company['viewer_username']}, {args.repeats} warm requests each …")
        _step(details, "pages", lambda: measure.pages(company=company, repeats=args.repeats))
    if "caps" not in skip:
        vacuum("caps")
        log("Cap check: an org-wide cap, evaluated for everyone, then GET /api/v1/caps/check …")
        repeats = max(200, args.repeats * 40)
        _step(details, "cap_check", lambda: measure.cap_check(company=company, repeats=repeats, seed=args.seed))

    if "ingest" not in skip:
        events_path = args.work_dir / f"events-{args.events}.csv"
        log(f"Writing the event export ({args.events:,} rows) …")
        events = synth.events_write(
            path=events_path,
            engineers=args.engineers,
            days=args.days,
            event_days=args.event_days,
            rows=args.events,
            org_seed=args.seed,
            seed=export_seed + 1,
            # A reused company: the export covers a day no earlier run imported, as a new day's
            # gateway log does (--restate: the same days again, every key probed in the ledger).
            ends_after=0 if args.restate else company.get("reuse", 0),
        )
        method = measure.copy_method(args.copy_method)
        log(f"Raw COPY of {events['bytes'] / 2**20:,.0f} MB into an unindexed table ({method}, {args.copy_repeats}×) …")
        _step(
            details,
            "copy",
            lambda: measure.raw_copy(
                url=bench_url, path=events_path, rows=events["rows"], method=method, repeats=args.copy_repeats
            ),
        )
        if method == "psql":  # the client-side alternative, for reference
            _step(
                details,
                "copy_psycopg",
                lambda: measure.raw_copy(
                    url=bench_url, path=events_path, rows=events["rows"], method="psycopg", repeats=1
                ),
            )
        vacuum("ingest")
        log("Ingest through the pipeline (import_batch_create, then import_batch_process as the task does) …")
        _step(
            details,
            "ingest",
            lambda: measure.ingest(path=events_path, rows=events["rows"], timeout_s=args.ingest_timeout),
        )
        events_path.unlink()

    if "worker" not in skip:
        target = int(args.big_export_mb * 2**20)
        rows = synth.events_rows_for_bytes(
            engineers=args.engineers, days=args.days, event_days=args.event_days, target_bytes=target, seed=args.seed
        )
        big_path = args.work_dir / f"big-export-{args.big_export_mb:g}mb.csv"
        log(f"Writing the big export (~{args.big_export_mb:g} MB, {rows:,} rows) …")
        big = synth.events_write(
            path=big_path,
            engineers=args.engineers,
            days=args.days,
            event_days=args.event_days,
            rows=rows,
            org_seed=args.seed,
            seed=export_seed + 2,
        )
        log("Worker memory: manage.py import_usage in a subprocess …")
        _step(
            details,
            "worker",
            lambda: measure.worker_memory(
                path=big_path, rows=big["rows"], env=env, limit_mb=args.rss_limit_mb, timeout_s=args.rss_timeout
            ),
        )
        big_path.unlink()
    return details


def _summary(d: dict) -> dict:
    pages = d.get("pages") or {}
    ingest, copy, worker, cap = (d.get(k) or {} for k in ("ingest", "copy", "worker", "cap_check"))
    ingest_rps, copy_rps = ingest.get("rows_per_s"), copy.get("rows_per_s")
    lb, me = pages.get("leaderboard") or {}, pages.get("me") or {}
    return {
        "ingest_rows_per_s": ingest_rps,
        "copy_rows_per_s": copy_rps,
        "copy_method": copy.get("method"),
        "ingest_ratio_vs_copy": round(ingest_rps / copy_rps, 4) if ingest_rps and copy_rps else None,
        "ingest_rows_per_s_with_follow_up_tasks": ingest.get("rows_per_s_with_follow_up_tasks"),
        "leaderboard_ms": lb.get("ms"),
        "leaderboard_sql_ms": lb.get("sql_ms"),
        "leaderboard_ratio_vs_sql": lb.get("ratio_vs_sql"),
        "me_ms": me.get("ms"),
        "me_sql_ms": me.get("sql_ms"),
        "me_ratio_vs_sql": me.get("ratio_vs_sql"),
        "finance_ms": (pages.get("finance") or {}).get("ms"),
        "finance_sql_ms": (pages.get("finance") or {}).get("sql_ms"),
        "finance_computed_ms": (pages.get("finance_computed") or {}).get("ms"),
        "empty_page_ms": (pages.get("empty_page") or {}).get("ms"),  # Django's own cost per request
        "worker_peak_rss_mb": worker.get("peak_rss_mb"),
        "worker_export_mb": worker.get("file_mb"),
        "worker_finished": worker.get("finished"),
        "cap_check_p50_ms": cap.get("p50_ms"),
        "cap_check_p99_ms": cap.get("p99_ms"),
    }


def _remember_company(url: str, key: dict, company: dict) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_meta (key jsonb, company jsonb)")
        conn.execute("DELETE FROM bench_meta")
        conn.execute("INSERT INTO bench_meta VALUES (%s, %s)", [json.dumps(key), json.dumps(company)])


def _reused_company(url: str, key: dict) -> dict | None:
    """A kept database is reused only when it was built with the same size and seed, today
    (the usage ends on the day it was built, and the pages show the last 30 days). Each reuse
    counts a run, so its exports differ from the ones earlier runs imported (no duplicate batch)."""
    import psycopg

    with psycopg.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('bench_meta')").fetchone()[0]
        row = conn.execute("SELECT key, company FROM bench_meta").fetchone() if exists else None
        if row is None or row[0] != key:
            return None
        company = row[1] | {"reuse": row[1].get("reuse", 0) + 1}
        conn.execute("UPDATE bench_meta SET company = %s", [json.dumps(company)])
    return company


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    results = run(args)
    report.write(results, args.out)
    print()
    print(report.table(results))
    print(f"\nWrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
