"""At-least-once delivery made harmless: a handler records each event id it
has processed, in the same transaction as its work (spec §1)."""
import uuid

from sqlalchemy import Column, DateTime, String, Table, insert, select

from common import clock


def processed_events_table(metadata):
    return Table(
        "processed_events",
        metadata,
        Column("event_id", String(64), primary_key=True),
        Column("handler", String(100), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    )


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


def create_processed_events(op):
    """The migration step every service's first revision runs."""
    import sqlalchemy as sa

    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("handler", sa.String(100), primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    )
