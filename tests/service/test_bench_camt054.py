"""The camt.054 import benchmark (bench/camt054_import_vs_floor.py) at scale 0.002 (2 000
payments, the minimum of 100 returns), on the real PostgreSQL: its own database, the file
written and checked against the XSD, the import and both parts of its floor timed, the
import's effects checked.
It runs in a process of its own, as the benchmark does (no eventlet there)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_times_the_import_against_its_floor_and_writes_its_json(infrastructure, tmp_path):
    output = tmp_path / "camt054.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.camt054_import_vs_floor", "--scale", "0.002", "--repeat", "2",
         "--database-url", infrastructure.postgres_url, "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "goal" in result.stdout and "floor: lxml iterparse" in result.stdout

    figures = json.loads(output.read_text())
    assert figures["figure"] == "camt054_import_vs_floor" and figures["goal"] == "<= 3.0"
    assert isinstance(figures["goal_met"], bool) and figures["value"] > 0
    assert figures["payments"] == 2000 and figures["returns"] == 100
    assert figures["file"]["entries"] == 100 and figures["file_bytes"] > 100 * 1500
    # every return matched its payment: 100 rejected, an R-transaction each, RET/REF for the paid ones
    assert figures["import_correct"] is True
    effects, expected = figures["import"]["effects"], figures["expected"]
    assert effects["rejected_payments"] == effects["r_transactions"] == 100
    assert effects["ledger_entries"] == expected["returned_paid"] == 100 - expected["returned_submitted"]
    assert 0 < expected["returned_submitted"] < 100
    assert effects["ledger_sum_cents"] == expected["ledger_sum_cents"] < 0
    assert effects["unmatched_entries"] == 0 and effects["bank_files_in"] == 1
    assert figures["outbox_events"] == 2  # payments_rejected and r_transactions_received: 100 items each
    assert len(figures["import_runs_seconds"]) == len(figures["iterparse_fields_runs_seconds"]) == 2
    assert figures["copy_rows"] == 100 + 100 + expected["returned_paid"]  # updated, R-transactions, ledger
    assert figures["floor_seconds"] == figures["iterparse_fields_seconds"] + figures["copy_seconds"]
    assert figures["value"] == figures["import_seconds"] / figures["floor_seconds"]
    assert 20 < figures["peak_rss_mb"]["payments"] < 1000
    assert figures["machine"]["cpus"] >= 1
