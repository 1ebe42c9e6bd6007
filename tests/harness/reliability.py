"""What the reliability tests share: waiting for a service's consumers, the debits in the outbox's files."""
import time
from pathlib import Path

import requests
from lxml import etree

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
            raise AssertionError(f"replicas not all up: {counts}")
        time.sleep(0.5)


def debits_in_files(outbox):
    found = []
    for path in sorted(Path(outbox).rglob("*.xml")):
        tree = etree.parse(str(path))
        found += [e.text for e in tree.iter(f"{PAIN008}EndToEndId")]
    return found
