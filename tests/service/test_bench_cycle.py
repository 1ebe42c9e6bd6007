"""The benchmark of the list mix during the daily cycle (bench/api_p95_during_cycle.py) at a tiny
scale, on the real PostgreSQL and RabbitMQ: its own database and vhost, the five services and
the gateway in child processes, the mix timed idle and while the collection (200 instalments)
and the camt.054 import (100 returns) run; the loaded requests really overlapped both.
It runs in a process of its own (COPY, threads of plain requests)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KINDS = {"mandates_by_customer_reference", "rejected_payments", "plans_by_frequency", "subscriber_page"}


def test_the_benchmark_times_the_mix_idle_and_during_the_cycle_and_writes_its_json(infrastructure, tmp_path):
    output = tmp_path / "cycle.json"
    env = dict(os.environ, AMQP_URI=infrastructure.amqp_uri, RABBIT_API_URI=infrastructure.rabbit_api_uri)
    env.pop("BENCH_SCALE", None)
    result = subprocess.run(
        [sys.executable, "-m", "bench.api_p95_during_cycle", "--scale", "0.002", "--requests", "12",
         "--clients", "3", "--database-url", infrastructure.postgres_url, "--output", str(output)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ratio p95(loaded) / p95(idle)" in result.stdout

    figures = json.loads(output.read_text())
    assert figures["figure"] == "api_p95_during_cycle" and figures["goal"] == "<= 2.0"
    assert isinstance(figures["goal_met"], bool) and figures["error_count"] == 0, figures["errors"]
    assert figures["value"] == figures["ratio"] == pytest.approx(
        figures["loaded"]["p95_ms"] / figures["idle"]["p95_ms"])
    # both p95s over a non-trivial number of list calls, every kind of the mix in each
    assert figures["idle"]["count"] == 2 * 3 * 12
    assert figures["loaded"]["count"] >= 12
    assert set(figures["idle"]["by_kind"]) == KINDS and len(figures["loaded"]["by_kind"]) >= 3
    # the cycle really ran, in full, while the loaded requests were sent
    assert figures["collection"]["instalments"] == 200
    assert figures["collection"]["payment_statuses"] == {"submitted": 200}
    assert figures["collection"]["reporting_facts"] == {"payment_scheduled": 200, "payment_submitted": 200}
    assert figures["import"]["returns"] == 100 and figures["import"]["report"]["rejected"] == 100
    assert figures["import"]["report"]["imported_files"] == 1 and figures["import"]["processed"]
    assert figures["consistent"] is True
    windows = figures["windows_seconds"]
    for task in ("collection", "import"):
        start, end = windows[task]
        assert windows["loaded_clients"][0] <= start < end <= windows["loaded_clients"][1] + 0.001
        assert windows["idle_before"][1] <= start and end <= windows["idle_after"][0]
        assert figures["loaded_requests_during"][task] >= 1
    assert figures["loaded_requests_during"]["collection"] >= 12
    # the loaded phase is the union of both tasks; the idle rounds are outside it
    assert windows["load"] == [min(windows["collection"][0], windows["import"][0]),
                               max(windows["collection"][1], windows["import"][1])]
    cpu = figures["cpu_seconds"]
    assert set(cpu) == {"idle_before", "loaded", "idle_after"} and cpu["loaded"]["payments"] > 0
    assert set(figures["peak_rss_mb"]) == {"mandates", "plans", "payments", "signing", "reporting", "gateway"}
    assert all(20 < mb < 1000 for mb in figures["peak_rss_mb"].values())
