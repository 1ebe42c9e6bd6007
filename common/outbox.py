"""Transactional outbox: an event is never lost between a commit and its dispatch.

`Outbox` takes the place of nameko's `EventDispatcher` (same `self.dispatch(type, payload)`
in the service), but the event is written as a row of the service's `outbox_events` table in
the worker's own session: it is committed with the work it announces, or rolled back with it.
A relay green thread of each service process then publishes committed rows to the service's
events exchange (persistent messages, publisher confirms) in id order and deletes them. The
relay runs as soon as a session commits rows, every `OUTBOX_INTERVAL` seconds otherwise, and
when the process starts: a row committed by a process killed before publishing it is
published by the next one (or by a replica). Replicas take rows with `FOR UPDATE SKIP
LOCKED`, so a row is published by one of them. Publishing then dying before the delete
commits publishes it again: delivery is at least once, and every handler records the
`event_id`s it has processed (common.idempotency).

So: call `self.dispatch(...)` before `self.db.commit()`: the worker's events are written in
multi-row INSERTs (up to WRITE_ROWS rows or WRITE_BYTES of payloads each) into its
transaction, as JSON text (a payload is a dict).
An event dispatched and never committed is dropped with its transaction, and logged as an
error if the worker ended normally.
"""
import logging
import time

import eventlet
import eventlet.event
from kombu.utils.json import dumps
from nameko.events import EventDispatcher
from sqlalchemy import BigInteger, Column, DateTime, String, Text, delete, event, insert, select

from common import clock
from common.config import env
from common.database import Database, shared_table

log = logging.getLogger(__name__)
OUTBOX_INTERVAL = float(env("OUTBOX_INTERVAL", "1"))
RELAY_BATCH = 50  # rows per relay transaction (a batch event holds 1 000 payments)
WRITE_ROWS, WRITE_BYTES = 1000, 1 << 20  # a worker's staged rows are INSERTed when either is reached


def _columns():
    return (Column("id", BigInteger, primary_key=True, autoincrement=True),
            Column("event_type", String(100), nullable=False),
            Column("payload", Text, nullable=False),
            Column("created_at", DateTime(timezone=True), nullable=False))


# the models' table, and the migration step that gives a service its outbox
outbox_table, create_outbox_events = shared_table("outbox_events", _columns)


def row(event_type, payload):
    return {"event_type": event_type, "payload": dumps(payload), "created_at": clock.now()}


def relay(connection, table, publish, limit=RELAY_BATCH):
    """Publish up to `limit` committed events, oldest first, and delete them, in one
    transaction of `connection`; how many were published. `publish(event_type, payload)`
    gets the payload as stored: its JSON text."""
    with connection.begin():
        rows = connection.execute(
            select(table.c.id, table.c.event_type, table.c.payload)
            .order_by(table.c.id).limit(limit).with_for_update(skip_locked=True)
        ).all()
        for event_row in rows:
            publish(event_row.event_type, event_row.payload)
        if rows:
            connection.execute(delete(table).where(table.c.id.in_([event_row.id for event_row in rows])))
    return len(rows)


class Staged:
    """A worker's events: written (multi-row INSERTs) when WRITE_ROWS rows or WRITE_BYTES of
    payloads wait, and just before its session commits; forgotten if it rolls back; the relay
    is woken when they are committed."""

    def __init__(self, session, table, wake=lambda: None):
        self.session, self.table, self.wake = session, table, wake
        self.rows, self.written, self.size = [], 0, 0
        event.listen(session, "before_commit", self.write)
        event.listen(session, "after_commit", self.committed)
        event.listen(session, "after_rollback", self.rolled_back)

    @property
    def uncommitted(self):
        return len(self.rows) + self.written

    def add(self, event_row):
        self.rows.append(event_row)
        self.size += len(event_row["payload"])
        if len(self.rows) >= WRITE_ROWS or self.size >= WRITE_BYTES:  # memory stays flat
            self.write(self.session)

    def write(self, session):
        if self.rows:
            rows, self.rows, self.size = self.rows, [], 0
            session.execute(insert(self.table), rows)
            self.written += len(rows)

    def committed(self, _session):
        if self.written:
            self.written = 0
            self.wake()

    def rolled_back(self, _session):
        self.rows, self.written, self.size = [], 0, 0


class Outbox(EventDispatcher):
    """`dispatch = Outbox(outbox_events)`: see the module's docstring."""

    def __init__(self, table, **options):
        super().__init__(**options)
        self.table = table

    def setup(self):
        super().setup()
        self.database = next(d for d in self.container.dependencies if isinstance(d, Database))
        self._staged = {}  # worker_ctx -> Staged
        self._wake = eventlet.event.Event()
        self._relay_thread = None

    def start(self):
        self._relay_thread = self.container.spawn_managed_thread(self._relay_forever)

    def stop(self):
        """Stop the relay, then publish what the last workers committed. nameko stops the
        dependencies side by side: the database's engine may be disposed already, so the
        connections this opened are closed here too (a test run starts and stops hundreds
        of containers; left open, they exhausted PostgreSQL's max_connections)."""
        if self._relay_thread is not None:
            self._relay_thread.kill()
            self._relay_thread = None
            try:
                self.publish_committed()
            except Exception:  # noqa: BLE001 - left for the next start
                log.exception("outbox of %s left unpublished at stop", self.container.service_name)
            finally:
                self.database.engine.dispose()

    def kill(self):
        if self._relay_thread is not None:
            self._relay_thread.kill()
            self._relay_thread = None
            self.database.engine.dispose()

    def get_dependency(self, worker_ctx):
        def staged():
            found = self._staged.get(worker_ctx)
            if found is None:
                found = self._staged[worker_ctx] = Staged(self.database.session_of(worker_ctx), self.table,
                                                          self.wake)
            return found

        def dispatch(event_type, event_data):
            staged().add(row(event_type, event_data))
        return dispatch

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        staged = self._staged.pop(worker_ctx, None)
        if staged is not None and staged.uncommitted and exc_info is None:
            log.error("%s: %d event(s) dispatched after the worker's last commit were dropped",
                      worker_ctx.call_id, staged.uncommitted)

    def wake(self):
        if not self._wake.ready():
            self._wake.send(True)

    def _publish(self, event_type, payload_json):
        """The stored JSON text is the message's body as it is (content type given, so kombu
        does not serialize it again): decoding and encoding it again cost the relay of a
        collection of 100 000 payments about 1 s of CPU."""
        self.publisher.publish(payload_json, exchange=self.exchange, routing_key=event_type, extra_headers={},
                               content_type="application/json", content_encoding="utf-8")

    def publish_committed(self):
        """Publish every committed event of the outbox; how many (also run by the relay)."""
        total = 0
        with self.database.engine.connect() as connection:
            while True:
                count = relay(connection, self.table, self._publish)
                total += count
                if count < RELAY_BATCH:
                    return total

    def _relay_forever(self):
        logged_at = None  # while the broker or the database is away the rows wait: logged once a minute
        while True:
            self._wake = eventlet.event.Event()  # a commit from now on wakes the next wait
            try:
                self.publish_committed()
                if logged_at is not None:
                    log.warning("outbox relay of %s publishing again", self.container.service_name)
                    logged_at = None
            except Exception:  # noqa: BLE001
                if logged_at is None or time.monotonic() - logged_at >= 60:
                    log.exception("outbox relay of %s cannot publish; its events wait in the outbox",
                                  self.container.service_name)
                    logged_at = time.monotonic()
            with eventlet.Timeout(OUTBOX_INTERVAL, False):
                self._wake.wait()
