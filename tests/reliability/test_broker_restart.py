"""Broker restart (issue 9): RabbitMQ is stopped in the middle of a collection cycle of a few
thousand instalments and started again on the same data. Meanwhile the gateway answers the
API (with the error body) and /healthz with a 503 within seconds, never a 500 nor a hang;
afterwards the services are back on their queues by themselves (restarted neither by the test
nor by the supervisor, which watches them as `make run` does), the gateway answers 200 again, a new collection
completes, every instalment is exactly one payment in exactly one pain.008 file, and
reporting has seen every payment scheduled and submitted once (no event lost).

The cycle is held at a lock of the test's (LOCK TABLE payments) from its first page until the
node has halted: RabbitMQ's orderly stop takes seconds, in which the whole cycle could end.

Reporting is frozen (SIGSTOP) from the start of the cycle until the broker is back, so the
cycle's events wait in its durable queues, as persistent messages, across the restart; thawed,
it reconnects by itself and reads them.

The broker is a private RabbitMQ node of the test's own (tests/harness/broker.py): the
machine's shared one serves other test runs and is never restarted. The figures (down time,
reconnection, 503s and their latency) are printed (`-s`) and attached to the test's report."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import eventlet
import psycopg2
import pytest
import requests
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy

from bench.collection_vs_kombu import AS_OF, CLOCK, MERCHANT
from common.config import SERVICES
from common.service import rpc
from debito.supervisor import Supervisor, cluster_children
from harness import broker as private
from harness.cluster import DEBITO, Cluster
from harness.ports import free_port
from harness.reliability import call, debits_in_files, events_settled, facts, query

pytestmark = [pytest.mark.cluster, pytest.mark.slow,
              pytest.mark.skipif(private.available() is not None, reason=str(private.available()))]

ROOT = Path(__file__).resolve().parents[2]
INSTALMENTS = 8_000
DOWN_FOR = 10  # seconds the node stays halted after its stop returned
FAST = 5.0  # seconds: "within a few seconds"
HANG = 30  # seconds: an answer later than this counts as a hang


class Prober(threading.Thread):
    """GET /api/v1/mandates and /healthz in turn, each answer recorded with its moment and latency."""

    def __init__(self, cluster, api_key):
        super().__init__(daemon=True)
        self.cluster, self.api_key = cluster, api_key
        self.answers, self.halt = [], threading.Event()

    def run(self):
        paths = ("/api/v1/mandates", "/healthz")
        n = 0
        while not self.halt.is_set():
            path = paths[n % 2]
            n += 1
            started = time.monotonic()
            try:
                response = requests.get(self.cluster.url + path, timeout=HANG,
                                        headers={"Authorization": f"Bearer {self.api_key}"})
                status = response.status_code
                try:
                    body = response.json()
                except ValueError:
                    body = response.text[:200]
            except requests.RequestException as error:
                status, body = None, repr(error)
            self.answers.append({"at": started, "path": path, "status": status,
                                 "seconds": time.monotonic() - started, "body": body})
            time.sleep(0.2)

    def stop(self):
        self.halt.set()
        self.join(timeout=HANG + 5)


def queues_consumed(broker):
    """The queues with a consumer, but the reply queues (a caller's own)."""
    return {q["name"] for q in broker.queues() if q["consumers"] and not q["name"].startswith("rpc.reply")}


def reporting_queues(names):
    # its RPC queue and its event queues (nameko's evt-<source>-<event>--<service>.<method>)
    return {name for name in names if name == "rpc-reporting" or "--reporting." in name}


def queued_for_reporting(broker):
    """Messages (ready or unacknowledged) in reporting's event queues."""
    return sum(q["messages"] for q in broker.queues() if reporting_queues([q["name"]]))


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return time.monotonic()


@pytest.mark.timeout(1200)
def test_a_broker_restarted_mid_cycle_loses_nothing_and_the_gateway_answers_503_meanwhile(
        infrastructure, tmp_path, record_property):
    var, logs = tmp_path / "var", tmp_path / "logs"
    figures = {"instalments": INSTALMENTS}
    with private.private_broker(tmp_path / "broker") as broker, infrastructure.database("debito_broker") as url:
        subprocess.run([sys.executable, "-c", f"from bench.collection_vs_kombu import prepare; "
                                              f"prepare({url!r}, {INSTALMENTS})"],
                       check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
        env = {**os.environ, "AMQP_URI": broker.amqp_uri, "DATABASE_URL": url, "DEBITO_VAR": str(var),
               "DEBITO_CLOCK": CLOCK, "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(free_port()),
               "SECRET_KEY": "test-secret-key", "INBOX_INTERVAL": "3600", "SCHEDULER_INTERVAL": "3600",
               "LOG_LEVEL": "INFO", "PYTHONWARNINGS": "ignore::DeprecationWarning"}
        env.pop("DEBITO_CLOCK_FILE", None)
        subprocess.run([DEBITO, "migrate"], env=env, check=True, capture_output=True, timeout=300)
        supervisor = Supervisor(cluster_children(with_scheduler=False, with_sandbox_bank=False), env=env,
                                log_dir=str(logs))
        cluster = Cluster(env, supervisor, logs)
        restarts, watching = [], threading.Event()

        def watch():  # what `make run` does: a child that died is started again
            while not watching.is_set():
                restarts.extend(supervisor.check())
                time.sleep(0.2)

        watcher = threading.Thread(target=watch, daemon=True)
        supervisor.start()
        watcher.start()
        prober = frozen = None
        try:
            cluster.wait_healthy(timeout=120)
            merchant = cluster.create_merchant()  # a second merchant: the gateway's API key
            api = cluster.api(merchant["api_key"])
            assert api.get("/mandates").status_code == 200
            rpc_queues = {f"rpc-{name}" for name in SERVICES}
            wait_until(lambda: rpc_queues <= queues_consumed(broker), 60, "the services' queues have no consumer")
            consumed = queues_consumed(broker)
            assert reporting_queues(consumed), consumed
            durable = {q["name"]: q["durable"] for q in broker.queues() if q["name"] in consumed}
            assert all(durable.values()), durable

            prober = Prober(cluster, merchant["api_key"])
            prober.start()
            cut = {}

            def collect():
                try:
                    cut["answer"] = call(broker.amqp_uri, "payments", "collect", AS_OF.isoformat(), timeout=600)
                except Exception as error:  # noqa: BLE001 - the call the restart cut
                    cut["error"] = repr(error)

            reporting = supervisor.children["reporting"].process
            os.kill(reporting.pid, signal.SIGSTOP)  # the process we started, by its id
            frozen = reporting
            caller = threading.Thread(target=collect, daemon=True)
            caller.start()
            # mid-cycle: payments has scheduled a first page, not yet the last
            wait_until(lambda: query(url, "SELECT count(*) FROM payments.payments WHERE merchant_id = %s",
                                     MERCHANT)[0][0] > 0 or not caller.is_alive(), 120, "the cycle did not start")
            # the cycle waits on a lock of ours while the node stops (an orderly stop takes
            # seconds, long enough for a whole cycle to end), and goes on once it has halted
            holder = psycopg2.connect(url)
            try:
                with holder.cursor() as cursor:
                    cursor.execute("LOCK TABLE payments.payments IN EXCLUSIVE MODE")  # reads go on
                figures["payments_when_stopped"] = query(url, "SELECT count(*) FROM payments.payments "
                                                              "WHERE merchant_id = %s", MERCHANT)[0][0]
                assert caller.is_alive() and figures["payments_when_stopped"] < INSTALMENTS, figures

                figures["events_queued_for_reporting_at_stop"] = queued_for_reporting(broker)
                stopping = time.monotonic()
                figures["stop_seconds"] = broker.stop()
                halted = time.monotonic()
                figures["payments_when_halted"] = dict(query(url, "SELECT status, count(*) FROM payments.payments "
                                                                  "WHERE merchant_id = %s GROUP BY status",
                                                             MERCHANT))
            finally:
                holder.rollback()  # the lock goes: the cycle goes on, the broker away
                holder.close()
            time.sleep(DOWN_FOR)
            starting = time.monotonic()  # from here the node may accept connections again
            figures["start_seconds"] = broker.start()
            up = time.monotonic()
            figures["broker_down_seconds"] = up - stopping
            others = consumed - reporting_queues(consumed)
            reconnected = wait_until(lambda: others <= queues_consumed(broker), 120,
                                     f"services not back on their queues: {others - queues_consumed(broker)}")
            figures["reconnected_after_up_seconds"] = reconnected - up
            figures["events_queued_for_reporting_after_restart"] = queued_for_reporting(broker)
            os.kill(frozen.pid, signal.SIGCONT)
            frozen = None
            thawed = time.monotonic()
            wait_until(lambda: consumed <= queues_consumed(broker), 120,
                       f"reporting not back on its queues: {consumed - queues_consumed(broker)}")
            figures["reporting_reconnected_after_thaw_seconds"] = time.monotonic() - thawed

            def gateway_back():
                recent = [a for a in prober.answers if a["at"] > thawed]
                return {a["path"] for a in recent if a["status"] == 200} == {"/api/v1/mandates", "/healthz"}

            gateway_ok = wait_until(gateway_back, 120, "the gateway did not answer 200 again")
            for path in ("/api/v1/mandates", "/healthz"):  # the first 200 after the broker was up
                figures[f"{path} 200 after up seconds"] = min(
                    a["at"] + a["seconds"] for a in prober.answers if a["at"] > up and a["status"] == 200) - up
            prober.stop()
            caller.join(timeout=HANG)
            figures["cut_collection"] = cut.get("error") or ("still waiting" if caller.is_alive() else "answered")

            # a new collection completes, and finds the rest of the day's work
            answer = call(broker.amqp_uri, "payments", "collect", AS_OF.isoformat(), timeout=600)
            again = call(broker.amqp_uri, "payments", "collect", AS_OF.isoformat(), timeout=600)
            figures["collections_after"] = [answer, again]
            deadline = time.monotonic() + 180  # reporting catches up with what the outboxes publish
            while not (events_settled(url, SERVICES)
                       and facts(url, MERCHANT, "payment_submitted")[0] >= INSTALMENTS
                       and facts(url, MERCHANT, "payment_scheduled")[0] >= INSTALMENTS):
                assert time.monotonic() < deadline, ("reporting did not see every payment",
                                                     facts(url, MERCHANT, "payment_scheduled"),
                                                     facts(url, MERCHANT, "payment_submitted"))
                time.sleep(1)
            time.sleep(2)  # a redelivery, if any, would land now
            seen = {name: facts(url, MERCHANT, name) for name in ("payment_scheduled", "payment_submitted")}
        finally:
            if frozen is not None:
                os.kill(frozen.pid, signal.SIGCONT)
            if prober is not None and prober.is_alive():
                prober.stop()
            watching.set()
            watcher.join()
            supervisor.stop()
        total, instalments, ids = query(url, "SELECT count(*), count(DISTINCT instalment_key), "
                                             "array_agg(end_to_end_id) FROM payments.payments "
                                             "WHERE merchant_id = %s", MERCHANT)[0]
        statuses = dict(query(url, "SELECT status, count(*) FROM payments.payments WHERE merchant_id = %s "
                                   "GROUP BY status", MERCHANT))

    # calls made and answered while the node was surely halted (start() returns some seconds
    # after the node accepts AMQP again: a call in between may rightly be answered 200)
    down = [a for a in prober.answers if halted <= a["at"] and a["at"] + a["seconds"] <= starting]
    around = [a for a in prober.answers if stopping <= a["at"] < gateway_ok]
    outbox = var / "bank" / "outbox"
    in_files = debits_in_files(outbox)
    figures.update(
        calls_while_down=len(down), calls_503_while_down=sum(a["status"] == 503 for a in down),
        max_seconds_while_down=round(max((a["seconds"] for a in down), default=0), 2),
        statuses_around_restart=sorted({(a["path"], a["status"]) for a in around}, key=str),
        max_seconds_around_restart=round(max((a["seconds"] for a in around), default=0), 2),
        restarted_by_supervisor=restarts, payments=total, payment_statuses=statuses,
        files=len(list(outbox.rglob("*.xml"))), debits_in_files=len(in_files), reporting_facts=seen,
        broker_logged_reconnects={name: _reconnect_lines(logs / f"{name}.log") for name in SERVICES})
    for key in ("stop_seconds", "start_seconds", "broker_down_seconds", "reconnected_after_up_seconds",
                "/api/v1/mandates 200 after up seconds", "/healthz 200 after up seconds",
                "reporting_reconnected_after_thaw_seconds"):
        figures[key] = round(figures[key], 2)
    record_property("figures", json.dumps(figures, default=str))
    print("\nbroker restart figures:", json.dumps(figures, indent=1, default=str))

    # the restart cut the cycle: when the node halted, not every payment was submitted yet
    assert figures["payments_when_halted"].get("submitted", 0) < INSTALMENTS, figures
    # while the broker was away: 503s with the error body, quickly; never a 500 nor a hang
    assert len(down) >= 3, figures
    assert all(a["status"] == 503 for a in down), [(a["path"], a["status"], a["body"]) for a in down]
    assert all(isinstance(a["body"], dict) and a["body"]["error"]["code"] == "unavailable"
               for a in down if a["path"].startswith("/api/")), [a["body"] for a in down]
    assert figures["max_seconds_while_down"] < FAST, figures
    assert all(a["status"] in (200, 503) for a in around), figures["statuses_around_restart"]
    # the services came back by themselves
    assert restarts == [], restarts
    # nothing lost, nothing doubled: the events queued across the restart too
    assert 0 < figures["events_queued_for_reporting_at_stop"] <= figures["events_queued_for_reporting_after_restart"]
    assert (total, instalments) == (INSTALMENTS, INSTALMENTS)
    assert statuses == {"submitted": INSTALMENTS}, statuses
    assert len(in_files) == INSTALMENTS and set(in_files) == set(ids)
    assert not [p for p in outbox.rglob("*") if p.is_file() and p.suffix != ".xml"]
    assert seen == {"payment_scheduled": (INSTALMENTS, INSTALMENTS), "payment_submitted": (INSTALMENTS, INSTALMENTS)}
    assert again.get("scheduled", 0) == 0 and not again.get("submitted"), again


def _reconnect_lines(path):
    """How many times the service's log says it could not reach the broker and would retry."""
    if not path.exists():
        return 0
    return sum("Error connecting to broker" in line for line in path.read_text(errors="replace").splitlines())


class NappingService:
    name = "napping"

    @rpc  # the services' own (common.service.rpc)
    def nap(self, seconds):
        eventlet.sleep(seconds)
        return "rested"


@pytest.mark.timeout(300)
def test_a_service_answering_while_the_broker_is_away_survives_its_restart(tmp_path):
    """nameko kills a container whose reply cannot be published (three tries, about 5 s): a
    broker restart would take down every service with a call in flight. The services' `rpc`
    lets the reply wait about a minute for the broker; the container lives on and answers."""
    with private.private_broker(tmp_path / "broker") as broker:
        container = ServiceContainer(NappingService, {"AMQP_URI": broker.amqp_uri})
        container.start()
        try:
            with ClusterRpcProxy({"AMQP_URI": broker.amqp_uri}) as cluster:
                cluster.napping.nap.call_async(6)  # its caller's answer is lost with the caller's connection
                wait_until(lambda: len(container._worker_threads) == 1, 10, "the call did not start")
                broker.stop()  # the nap ends, and its reply is due, while the node is halted
            time.sleep(DOWN_FOR)
            broker.start()
            wait_until(lambda: broker.consumers("rpc-napping") == 1, 60, "the service did not reconnect")
            wait_until(lambda: not container._worker_threads or container._died.ready(), 90, "the reply hung")
            assert not container._died.ready(), "the container died of the unpublished reply"
            with ClusterRpcProxy({"AMQP_URI": broker.amqp_uri}, timeout=30) as cluster:
                assert cluster.napping.nap(0) == "rested"
        finally:
            if broker.process is None:
                broker.start()  # a container cannot stop while its broker is away
            if not container._died.ready():
                container.stop()
