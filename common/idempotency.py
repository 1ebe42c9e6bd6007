"""At-least-once delivery made harmless: a handler records each event id it
has processed, in the same transaction as its work (spec §1); a call that moves
money records its idempotency key with what it made (`remembered`, `remember`).

A call's key is the client's `Idempotency-Key`, or one the gateway makes for the
request: RabbitMQ delivers an RPC request again when the service's connection drops
before the reply (a broker restart), and the same key then finds the first call's
work instead of doing it twice (a second payout, a second one-off debit)."""
import json
import uuid

from sqlalchemy import Column, DateTime, String, Text, insert, select

from common import clock
from common.database import shared_table


def _processed_events_columns():
    return (Column("event_id", String(64), primary_key=True),
            Column("handler", String(100), primary_key=True),
            Column("processed_at", DateTime(timezone=True), nullable=False))


# the models' table, and the migration step every service's first revision runs
processed_events_table, create_processed_events = shared_table("processed_events", _processed_events_columns)


def new_event_id():
    return uuid.uuid4().hex


def first_delivery(session, table, event_id, handler):
    """True the first time (`event_id`, `handler`) is seen; records it.

    Call inside the handler's transaction: if the work rolls back, so does the
    record, and a redelivery does the work again.
    """
    seen = session.execute(
        select(table.c.event_id).where(table.c.event_id == event_id, table.c.handler == handler)
    ).first()
    if seen:
        return False
    session.execute(insert(table).values(event_id=event_id, handler=handler, processed_at=clock.now()))
    return True


def _rpc_calls_columns():
    return (Column("merchant_id", String(32), primary_key=True),
            Column("method", String(100), primary_key=True),
            Column("key", String(255), primary_key=True),
            Column("result", Text, nullable=False),
            Column("created_at", DateTime(timezone=True), nullable=False))


# the models' table, and the migration step that gives a service its rpc_calls
rpc_calls_table, create_rpc_calls = shared_table("rpc_calls", _rpc_calls_columns)


def remembered(session, table, merchant_id, method, key):
    """What `remember` stored for the call (`merchant_id`, `method`, `key`), or None."""
    if not key:
        return None
    found = session.execute(select(table.c.result).where(
        table.c.merchant_id == merchant_id, table.c.method == method, table.c.key == key)).first()
    return json.loads(found.result) if found else None


def remember(session, table, merchant_id, method, key, result):
    """Record the call's `result` (JSON) in the caller's transaction, before its commit: a second
    call with the key running meanwhile fails that commit on the primary key (IntegrityError:
    roll back, then read `remembered`)."""
    if key:
        session.execute(insert(table).values(merchant_id=merchant_id, method=method, key=key,
                                             result=json.dumps(result), created_at=clock.now()))


def remembered_after_conflict(session, table, merchant_id, method, key):
    """In the `except IntegrityError` of a call whose `remember` lost to another call with the
    same key (committed first): the work rolled back, and what the other call remembered;
    the IntegrityError raised again if it was not that."""
    session.rollback()
    previous = remembered(session, table, merchant_id, method, key)
    if previous is None:
        raise  # noqa: PLE0704 - the IntegrityError being handled: another constraint than the key's
    return previous
