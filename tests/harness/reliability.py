"""What the reliability tests share: waiting for a service's consumers, the debits in the outbox's files,
an RPC call, a query, reporting's facts and the services' outboxes."""
import time
from pathlib import Path

import psycopg2
import requests
from lxml import etree
from nameko.standalone.rpc import ClusterRpcProxy

PAIN008 = "{urn:iso:std:iso:20022:tech:xsd:pain.008.001.02}"


def wait_for_consumers(infrastructure, amqp, replicas, timeout=90):
    """Until each service has `replicas[name]` consumers on its RPC queue."""
    vhost = amqp.rsplit("/", 1)[1]
    api = infrastructure.rabbit_api_uri.rstrip("/")
    deadline = time.monotonic() + timeout
    while True:
        counts = {}
        for name, count in replicas.items():
            response = requests.get(f"{api}/api/queues/{vhost}/rpc-{name}", timeout=5)
            counts[name] = response.json().get("consumers", 0) if response.ok else 0
        if all(counts[name] >= count for name, count in replicas.items()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout}s for consumers on the RPC queues {replicas}; "
                                 f"they have {counts}")
        time.sleep(0.5)


def debits_in_files(outbox):
    found = []
    for path in sorted(Path(outbox).rglob("*.xml")):
        tree = etree.parse(str(path))
        found += [e.text for e in tree.iter(f"{PAIN008}EndToEndId")]
    return found


def call(amqp, service, method, *args, timeout=60):
    with ClusterRpcProxy({"AMQP_URI": amqp}, timeout=timeout) as cluster:
        return getattr(getattr(cluster, service), method)(*args)


def query(url, sql, *args):
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall()
    finally:
        connection.close()


def facts(url, merchant_id, name):
    """(facts, distinct payments) reporting holds of the merchant's `name` events."""
    return query(url, "SELECT count(*), count(DISTINCT payload::json->>'payment_id') FROM reporting.facts "
                      "WHERE merchant_id = %s AND name = %s", merchant_id, name)[0]


def events_settled(url, services):
    """None of `services` has an event left in its outbox."""
    return all(query(url, f"SELECT count(*) FROM {name}.outbox_events")[0][0] == 0 for name in services)
