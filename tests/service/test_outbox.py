"""The transactional outbox (common.outbox) on the real broker and PostgreSQL: an event is
published only if the work it announces committed, an event committed by a process that
died before publishing it is published by the next one, and replicas relaying one outbox
publish each event once."""
import time
import uuid

import pytest
from nameko.events import event_handler
from nameko.rpc import rpc
from nameko.testing.services import entrypoint_hook
from sqlalchemy import MetaData, func, insert, select

from common.database import Database, ensure_schema, make_engine
from common.outbox import Outbox, outbox_table, row

metadata = MetaData()
outbox_events = outbox_table(metadata)
received = []


class Probe:
    name = "outbox_probe"
    db = Database()
    dispatch = Outbox(outbox_events)

    @rpc
    def emit(self, count, then):
        """`count` events, then "commit", "rollback", "raise" or "commit_then_dispatch"."""
        ids = [uuid.uuid4().hex for _ in range(count)]
        for event_id in ids:
            self.dispatch("probed", {"event_id": event_id})
        if then == "raise":
            raise RuntimeError("the work failed")
        if then == "rollback":
            self.db.rollback()
        else:
            self.db.commit()
        if then == "commit_then_dispatch":
            self.dispatch("probed", {"event_id": "late"})
        return ids


class Listener:
    name = "outbox_listener"

    @event_handler("outbox_probe", "probed")
    def on_probed(self, payload):
        received.append(payload["event_id"])


@pytest.fixture
def engine(postgres_database, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_database)
    engine = make_engine("outbox_probe", postgres_database)
    with engine.begin() as connection:
        ensure_schema(connection, "outbox_probe")
        metadata.create_all(connection)
        connection.execute(outbox_events.delete())
    received.clear()
    yield engine
    engine.dispose()


def waiting(engine):
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(outbox_events))


def wait_for(predicate, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def start(container_factory, rabbit_config, *classes):
    containers = [container_factory(cls, rabbit_config) for cls in classes]
    for container in containers:
        container.start()
    return containers


def test_only_committed_events_are_published(engine, container_factory, rabbit_config, caplog):
    probe, _ = start(container_factory, rabbit_config, Probe, Listener)
    with entrypoint_hook(probe, "emit") as emit:
        committed = emit(120, "commit")  # more than a relay batch and a write batch
    with entrypoint_hook(probe, "emit") as emit:
        emit(5, "rollback")
    with entrypoint_hook(probe, "emit") as emit, pytest.raises(RuntimeError):
        emit(5, "raise")
    with entrypoint_hook(probe, "emit") as emit:
        late = emit(3, "commit_then_dispatch")
    assert wait_for(lambda: len(received) >= 123)
    time.sleep(1.5)  # a relay period: nothing else comes
    assert sorted(received) == sorted(committed + late)
    assert waiting(engine) == 0
    assert "1 event(s) dispatched after the worker's last commit were dropped" in caplog.text


def test_events_committed_by_a_dead_process_are_published_at_start(engine, container_factory, rabbit_config):
    ids = [uuid.uuid4().hex for _ in range(70)]
    with engine.begin() as connection:  # what a worker committed before its process was killed
        connection.execute(insert(outbox_events), [row("probed", {"event_id": i}) for i in ids])
    start(container_factory, rabbit_config, Listener)
    time.sleep(1)
    assert received == []  # no one has published them
    start(container_factory, rabbit_config, Probe)
    assert wait_for(lambda: len(received) >= 70)
    assert received == ids  # in the order they were committed
    # the relay deletes a batch after the broker confirmed it: a listener may see it first
    assert wait_for(lambda: waiting(engine) == 0)


def test_replicas_publish_each_event_once(engine, container_factory, rabbit_config):
    ids = [uuid.uuid4().hex for _ in range(600)]
    with engine.begin() as connection:
        connection.execute(insert(outbox_events), [row("probed", {"event_id": i}) for i in ids])
    start(container_factory, rabbit_config, Listener, Probe, Probe, Probe)
    assert wait_for(lambda: len(received) >= 600)
    time.sleep(1.5)
    assert len(received) == 600 and set(received) == set(ids)
    assert waiting(engine) == 0
