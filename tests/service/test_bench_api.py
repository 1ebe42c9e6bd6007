"""The API benchmark (bench/api_p95_vs_ping.py) at a tiny scale, on the real PostgreSQL and
RabbitMQ: its own database and vhost, the five services and the gateway in child processes,
the list mix and the ping timed, every call answered 200, tenancy checked, its JSON written.
It runs in a process of its own (COPY, and threads of plain requests)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_times_the_list_mix_beside_the_ping_and_writes_its_json(infrastructure, tmp_path):
    output = tmp_path / "api.json"
    env = dict(os.environ, AMQP_URI=infrastructure.amqp_uri, RABBIT_API_URI=infrastructure.rabbit_api_uri)
    result = subprocess.run(
        [sys.executable, "-m", "bench.api_p95_vs_ping", "--scale", "0.002", "--requests", "12", "--clients", "3",
         "--database-url", infrastructure.postgres_url, "--output", str(output)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ratio p95(list mix) / p95(ping)" in result.stdout

    figures = json.loads(output.read_text())
    assert figures["figure"] == "api_p95_vs_ping" and figures["goal"] == "<= 2.0"
    assert figures["error_count"] == 0, figures["errors"]
    assert figures["tenancy_ok"] is True
    assert figures["ping"]["count"] == 2 * 3 * 12 and figures["list_mix"]["count"] == 2 * 3 * 12
    for kind in ("mandates_by_customer_reference", "rejected_payments", "plans_by_frequency", "subscriber_page"):
        assert figures["calls"][kind]["count"] == 18 and figures["calls"][kind]["p95_ms"] > 0
    assert figures["value"] == figures["ratio"] > 0 and isinstance(figures["goal_met"], bool)
    assert figures["rows_listed"] > 0
    assert figures["dataset"]["counts"]["payments.payments"] == 2000
    assert set(figures["peak_rss_mb"]) == {"mandates", "plans", "payments", "signing", "reporting", "gateway"}
    assert all(20 < mb < 1000 for mb in figures["peak_rss_mb"].values())
