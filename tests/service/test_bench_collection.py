"""The collection benchmark (bench/collection_vs_kombu.py) at its smallest (200 instalments)
on the real PostgreSQL and RabbitMQ: its own database and vhost, the four real services in
child processes, the cycle timed until reporting holds both facts of every payment, beside
raw kombu. It runs in a process of its own (psycopg2 is green under the suite).

And the reporting service on the real broker: a payments_submitted batch event stores one
fact per payment, and its redelivery stores nothing more."""
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.database import make_engine
from common.migrations import upgrade

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_times_the_cycle_beside_kombu_and_writes_its_json(infrastructure, tmp_path):
    output = tmp_path / "collection.json"
    env = dict(os.environ, AMQP_URI=infrastructure.amqp_uri, RABBIT_API_URI=infrastructure.rabbit_api_uri)
    env.pop("BENCH_SCALE", None)
    result = subprocess.run(
        [sys.executable, "-m", "bench.collection_vs_kombu", "--scale", "0.001",
         "--database-url", infrastructure.postgres_url, "--output", str(output)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "kombu" in result.stdout and "goal" in result.stdout

    figures = json.loads(output.read_text())
    assert figures["figure"] == "collection_vs_kombu" and figures["goal"] == ">= 0.25"
    assert figures["instalments"] == 200  # the minimum
    assert figures["payment_statuses"] == {"submitted": 200} and figures["pain008_debits"] == 200
    assert figures["reporting_facts"] == {"payment_scheduled": 200, "payment_submitted": 200}
    assert figures["instalments_acknowledged"] == 200 and figures["consistent"] is True
    assert figures["collect_report"]["scheduled"] == 200 and figures["collect_report"]["submitted"] == 200
    assert figures["kombu_messages"] == 200
    assert 0 < figures["collect_rpc_seconds"] <= figures["cycle_seconds"]
    assert figures["value"] == pytest.approx(
        figures["instalments_per_second"] / figures["kombu_messages_per_second"])
    assert set(figures["peak_rss_mb"]) == {"mandates", "plans", "payments", "reporting"}
    assert all(20 < mb < 1000 for mb in figures["peak_rss_mb"].values())
    assert isinstance(figures["goal_met"], bool) and figures["machine"]["cpus"] >= 1


@pytest.fixture
def reporting(container_factory, rabbit_config, postgres_database, monkeypatch):
    from reporting.service import ReportingService

    monkeypatch.setenv("DATABASE_URL", postgres_database)
    upgrade("reporting", make_engine("reporting", postgres_database))
    container = container_factory(ReportingService, rabbit_config)
    container.start()
    return container, make_engine("reporting", postgres_database)


def test_a_batch_event_stores_one_fact_per_payment_and_its_redelivery_nothing(reporting, rabbit_config):
    from reporting.models import Fact

    container, engine = reporting
    merchant = "ME" + uuid.uuid4().hex[:20].upper()
    batch = {"event_id": uuid.uuid4().hex, "merchant_id": merchant, "payments": [
        {"event_id": uuid.uuid4().hex, "merchant_id": merchant, "payment_id": f"PM{n}", "amount": 1000 + n,
         "currency": "EUR", "due_date": "2030-01-08", "status": "submitted", "at": "2030-01-07T06:00:00+00:00"}
        for n in range(25)]}
    dispatch = event_dispatcher(rabbit_config)
    for expected in (25, 0):  # the redelivery stores nothing
        with entrypoint_waiter(container, "on_payments_submitted") as waiter:
            dispatch("payments", "payments_submitted", batch)
        assert waiter.get() == expected
    with Session(engine) as session:
        names = session.execute(select(Fact.name, func.count()).where(Fact.merchant_id == merchant)
                                .group_by(Fact.name)).all()
    assert [tuple(row) for row in names] == [("payment_submitted", 25)]
