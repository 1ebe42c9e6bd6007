"""The statement export benchmark (bench/statement_export_vs_copy.py) at 2 000 entries,
on the real PostgreSQL and RabbitMQ: its own database and vhost, the real payments and
reporting services in child processes, both contenders timed, the same closing balance.
It runs in a process of its own: psycopg2 is green under the suite, and COPY is not."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_times_the_export_job_beside_copy_and_writes_its_json(infrastructure, tmp_path):
    output = tmp_path / "statement.json"
    env = dict(os.environ, AMQP_URI=infrastructure.amqp_uri, RABBIT_API_URI=infrastructure.rabbit_api_uri)
    result = subprocess.run(
        [sys.executable, "-m", "bench.statement_export_vs_copy", "--count", "2000", "--repeat", "1",
         "--database-url", infrastructure.postgres_url, "--output", str(output)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "goal" in result.stdout and "COPY" in result.stdout

    figures = json.loads(output.read_text())
    assert figures["entries"] == 2000 and figures["export_rows"] == 2002
    assert figures["export_file_lines"] == 2003 and figures["copy_rows"] == 2000  # header, opening, closing
    assert figures["closing_balance_matches_copy"] and figures["closing_balance_cents"] != 0
    assert figures["export_seconds"] > 0 and figures["copy_seconds"] > 0 and figures["ratio"] > 0
    assert 20 < figures["peak_rss_mb"]["payments"] < 1000 and 20 < figures["peak_rss_mb"]["reporting"] < 1000
    assert isinstance(figures["goal_met"], bool)
