"""The benchmark harness runs end to end at its smallest size and writes the JSON it promises.

It runs as a subprocess (`python -m bench run --tiny`) in its own database on the same server
as the tests, so it never shares state with them. No test asserts a time: only that every
number was measured.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUMMARY_KEYS = (
    "ingest_rows_per_s",
    "copy_rows_per_s",
    "ingest_ratio_vs_copy",
    "leaderboard_ms",
    "leaderboard_sql_ms",
    "leaderboard_ratio_vs_sql",
    "me_ms",
    "me_sql_ms",
    "empty_page_ms",
    "finance_ms",
    "finance_sql_ms",
    "worker_peak_rss_mb",
)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("bench")
    out = work / "latest.json"
    command = [sys.executable, "-m", "bench", "run", "--tiny", "--db-name", f"tokenboard_bench_smoke_{os.getpid()}"]
    command += ["--work-dir", str(work), "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL")}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return json.loads(out.read_text())


def test_the_bench_reports_every_summary_number_as_positive(results):
    for key in SUMMARY_KEYS:
        assert key in results, key
        assert isinstance(results[key], int | float) and results[key] > 0, (key, results[key])


def test_the_bench_records_its_parameters_and_the_machine(results):
    assert results["parameters"]["engineers"] == 40
    assert results["parameters"]["preset"] == "tiny"
    assert results["machine"]["cores"] >= 1
    assert results["machine"]["ram_gb"] > 0
    assert results["machine"]["postgresql_version"]


def test_the_ingest_stored_every_row_of_the_export(results):
    ingest = results["details"]["ingest"]
    assert ingest["status"] == "done"
    assert ingest["rows_accepted"] + ingest["rows_rejected"] == ingest["rows_in_file"]
    assert ingest["ledger_rows_added"] == ingest["rows_accepted"]


def test_the_worker_import_finished_and_the_cap_check_is_a_number_or_explained(results):
    assert results["details"]["worker"]["finished"] is True
    cap = results["details"]["cap_check"]
    assert cap["p99_ms"] is not None or cap["reason"]
