"""Replicas (issue 9): three instances each of payments and plans run at once on one broker
and one PostgreSQL database, as `docker compose up --scale payments=3 --scale plans=3` runs
them, and three collections of the same day are asked at the same moment (each one lands on
some replica). Every instalment becomes exactly one payment, every payment is in exactly one
pain.008 file, and a fourth collection finds nothing left to do."""
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg2
import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from bench.collection_vs_kombu import AS_OF, CLOCK, MERCHANT
from harness.reliability import debits_in_files, wait_for_consumers

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
DEBITO = str(Path(sys.executable).parent / "debito")
INSTALMENTS = 4500  # more than two of payments' pages (COLLECT_PAGE = 2000)
REPLICAS = {"mandates": 1, "reporting": 1, "payments": 3, "plans": 3}


def start(names, env, logs):
    processes = []
    for name, count in names.items():
        for n in range(count):
            log = open(logs / f"{name}-{n}.log", "wb")
            processes.append(subprocess.Popen([DEBITO, "service", name], env=env, stdout=log,
                                              stderr=subprocess.STDOUT, cwd=ROOT))
    return processes


def collect(amqp, answers, errors):
    try:
        with ClusterRpcProxy({"AMQP_URI": amqp}, timeout=600) as cluster:
            answers.append(cluster.payments.collect(AS_OF.isoformat()))
    except Exception as error:  # noqa: BLE001 - asserted below
        errors.append(repr(error))


def test_three_replicas_collect_each_instalment_exactly_once(infrastructure, tmp_path):
    with infrastructure.database("debito_replicas") as url, infrastructure.vhost() as amqp:
        subprocess.run([sys.executable, "-c", f"from bench.collection_vs_kombu import prepare; "
                                              f"prepare({url!r}, {INSTALMENTS})"],
                       check=True, cwd=ROOT, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)}, timeout=300)
        env = {**__import__("os").environ, "AMQP_URI": amqp, "DATABASE_URL": url, "DEBITO_VAR": str(tmp_path / "var"),
               "DEBITO_CLOCK": CLOCK, "INBOX_INTERVAL": "3600", "LOG_LEVEL": "WARNING",
               "PYTHONWARNINGS": "ignore::DeprecationWarning"}
        env.pop("DEBITO_CLOCK_FILE", None)
        processes = start(REPLICAS, env, tmp_path)
        try:
            wait_for_consumers(infrastructure, amqp, REPLICAS)
            answers, errors = [], []
            threads = [threading.Thread(target=collect, args=(amqp, answers, errors)) for _ in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == [] and len(answers) == 3
            again, errors = [], []
            collect(amqp, again, errors)
            assert errors == []
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)
        connection = psycopg2.connect(url)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*), count(DISTINCT instalment_key), count(DISTINCT plan_id), "
                               "count(*) FILTER (WHERE status = 'submitted') FROM payments.payments "
                               "WHERE merchant_id = %s", (MERCHANT,))
                total, instalments, plans, submitted = cursor.fetchone()
                cursor.execute("SELECT end_to_end_id FROM payments.payments WHERE merchant_id = %s", (MERCHANT,))
                ids = {row[0] for row in cursor.fetchall()}
                cursor.execute("SELECT count(*) FROM plans.instalments WHERE merchant_id = %s", (MERCHANT,))
                issued = cursor.fetchone()[0]
        finally:
            connection.close()
    assert (total, instalments, plans, submitted, issued) == (INSTALMENTS,) * 5
    in_files = debits_in_files(tmp_path / "var" / "bank" / "outbox")
    assert len(in_files) == INSTALMENTS and set(in_files) == ids  # each payment in exactly one file
    assert sum(answer.get("scheduled", 0) for answer in answers) == INSTALMENTS, answers
    assert again[0].get("scheduled", 0) == 0 and not again[0].get("submitted"), again
