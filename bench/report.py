"""The machine the numbers came from, the summary table, and bench/results/latest.json."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

TARGETS = {
    # key: (description, test)
    "ingest_ratio_vs_copy": (">= 0.3x raw COPY", lambda v: v >= 0.3),
    "leaderboard_ratio_vs_sql": ("<= 1.5x its SQL", lambda v: v <= 1.5),
    "leaderboard_ms": ("< 150 ms (at 50,000 engineers)", lambda v: v < 150),
    "worker_peak_rss_mb": ("< 500 MB", lambda v: v < 500),
    "cap_check_p99_ms": ("< 20 ms", lambda v: v < 20),
}


def machine() -> dict:
    facts = {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    try:
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        total_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
        facts["ram_gb"] = round(total_kb / 2**20, 1)
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
        facts["cpu"] = cpu
    except (OSError, StopIteration):
        pass
    import django

    facts["django"] = django.get_version()
    return facts


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def targets_met(results: dict) -> dict:
    met = {}
    for key, (text, test) in TARGETS.items():
        value = results.get(key)
        met[key] = {"target": text, "value": value, "met": None if value is None else bool(test(value))}
    return met


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and value < 100:
        return f"{value:,.2f}{unit}"
    return f"{value:,.0f}{unit}"


def table(results: dict) -> str:
    p = results["parameters"]
    m = results["machine"]
    d = results["details"]
    lines = [
        f"Tokenboard bench — {p['engineers']:,} engineers × {p['days']} days, {p['events']:,} events; "
        f"{m['cores']} cores, {m.get('ram_gb', '?')} GB RAM, PostgreSQL {m['postgresql_version']}; "
        f"load average {results.get('load_average_start')} → {results.get('load_average_end')}",
        "",
        f"{'measure':<34} {'measured':>14} {'its floor':>14} {'ratio':>8}   target",
    ]

    def row(name, value, floor, ratio, target_key):
        target = results["targets"].get(target_key, {}) if target_key else {}
        verdict = "" if not target or target["met"] is None else ("  ok" if target["met"] else "  MISSED")
        lines.append(f"{name:<34} {value:>14} {floor:>14} {ratio:>8}   {target.get('target', '')}{verdict}")

    ingest = d.get("ingest") or {}
    copy = d.get("copy") or {}
    row(
        "ingest, rows/s (vs raw COPY)",
        _fmt(results.get("ingest_rows_per_s")),
        _fmt(results.get("copy_rows_per_s")),
        _fmt(results.get("ingest_ratio_vs_copy")),
        "ingest_ratio_vs_copy",
    )
    row("  seconds for the export", _fmt(ingest.get("seconds"), " s"), _fmt(copy.get("seconds"), " s"), "", None)
    with_caps = ingest.get("rows_per_s_with_follow_up_tasks")
    if with_caps and ingest.get("follow_up_tasks_s"):
        ratio = with_caps / results["copy_rows_per_s"] if results.get("copy_rows_per_s") else None
        row("  incl. the tasks it queues (eager)", _fmt(with_caps), "", _fmt(ratio), None)
    row(
        "/ leaderboard, ms (vs its SQL)",
        _fmt(results.get("leaderboard_ms")),
        _fmt(results.get("leaderboard_sql_ms")),
        _fmt(results.get("leaderboard_ratio_vs_sql")),
        "leaderboard_ratio_vs_sql",
    )
    row("", "", "", "", "leaderboard_ms")
    row(
        "/me/, ms (vs its SQL)",
        _fmt(results.get("me_ms")),
        _fmt(results.get("me_sql_ms")),
        _fmt(results.get("me_ratio_vs_sql")),
        None,
    )
    empty = (d.get("pages") or {}).get("empty_page") or {}
    row("empty page behind login, ms (Django)", _fmt(empty.get("ms")), _fmt(empty.get("sql_ms")), "", None)
    top = (d.get("pages") or {}).get("leaderboard_as_top_manager") or {}
    row("/ as the top manager, ms", _fmt(top.get("ms")), _fmt(top.get("sql_ms")), _fmt(top.get("ratio_vs_sql")), None)
    for key, label in (
        ("leaderboard_filtered", "/?product=claude_code (ranked live), ms"),
        ("leaderboard_own_team", "/?team= the viewer's team (live), ms"),
        ("finance_computed", "/finance/ computed, ms"),
        ("finance", "/finance/ from its cache, ms"),
        ("impact_computed", "/impact/ as finance, computed, ms"),
        ("impact", "/impact/ as finance, from its cache, ms"),
        ("team_board", "/?tab=teams, ms"),
        ("team_page_root_computed", "/teams/1/ (everyone) computed, ms"),
        ("team_page_root", "/teams/1/ from its cache, ms"),
        ("efficiency", "/efficiency/, ms"),
    ):
        info = (d.get("pages") or {}).get(key) or {}
        if info.get("ms"):
            row(label, _fmt(info["ms"]), _fmt(info.get("sql_ms")), _fmt(info.get("ratio_vs_sql")), None)
    refresh = d.get("board_refresh") or {}
    if refresh.get("seconds"):
        new_day = refresh.get("new_day") or {}
        row(
            "boards' refresh: all / a new day's, s",
            f"{_fmt(refresh['seconds'])} / {_fmt(new_day.get('seconds'))}",
            "",
            "",
            None,
        )
    worker = d.get("worker") or {}
    row(
        f"worker peak RSS, MB ({_fmt(worker.get('file_mb'))} MB file)",
        _fmt(results.get("worker_peak_rss_mb")),
        "",
        "",
        "worker_peak_rss_mb",
    )
    cap = d.get("cap_check") or {}
    row("cap check p50 / p99, ms", f"{_fmt(cap.get('p50_ms'))} / {_fmt(cap.get('p99_ms'))}", "", "", "cap_check_p99_ms")
    for name in ("pages", "cap_check", "copy", "copy_psycopg", "ingest", "worker"):
        step = d.get(name) or {}
        if step.get("error") and "status" not in step:  # a measurement that raised
            lines.append(f"  {name} FAILED: {step['error'][:300]}")
    for name, info in (d.get("pages") or {}).items():
        if isinstance(info, dict) and info.get("error"):
            lines.append(f"  page {info.get('path')} ({name}) FAILED: {info['error'][:300]}")
    if cap.get("reason"):
        lines.append(f"  cap check: {cap['reason']}")
    if worker.get("stopped"):
        lines.append(f"  worker: {worker['stopped']}")
    if ingest.get("status") and ingest["status"] != "done":  # unfinished, failed, duplicate
        lines.append(f"  ingest: batch {ingest['status']}: {ingest.get('error')}")
    vacuums = {phase: v for phase, v in (d.get("vacuum") or {}).items() if v.get("autovacuum") == "off"}
    if vacuums:
        done = ", ".join(
            f"{len(v.get('vacuumed', {}))} before {phase} ({_fmt(v.get('seconds'), ' s')})"
            for phase, v in vacuums.items()
        )
        lines.append(f"  autovacuum is off on this server: tables vacuumed as it would have: {done}")
    if ingest.get("breakdown_s"):
        lines.append("")
        lines.append(f"Where the ingest time went ({_fmt(ingest.get('seconds'), ' s')} in all):")
        for label, seconds in ingest["breakdown_s"].items():
            lines.append(f"  {seconds:>9.2f} s  {label}")
    for key in ("leaderboard", "me", "leaderboard_as_top_manager", "finance_computed", "finance"):
        info = (d.get("pages") or {}).get(key)
        if info and not info.get("error"):
            lines.append("")
            lines.append(f"{info['path']} ({key}): {info['queries']} queries; slowest:")
            for statement in info["slowest_statements"]:
                lines.append(f"  {statement['ms']:>9.2f} ms  {statement['sql'][:110]}")
    lines.append("")
    lines.append(
        f"Build of the synthetic company: {_fmt(d.get('build_s'), ' s')}; whole run {_fmt(results['duration_s'], ' s')}"
    )
    return "\n".join(lines)


def write(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
