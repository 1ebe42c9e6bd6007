"""Tables of the `reporting` service; every business row carries `merchant_id`.

`facts` is the append-only log of every event received: the read models
(`daily_figures`, `counters`) are derived from it and can be rebuilt from it.
`export_jobs` are the CSV exports asked for (see reporting.exports).
"""
from sqlalchemy import JSON, BigInteger, Column, Date, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase

from common.idempotency import processed_events_table
from common.outbox import outbox_table


class Base(DeclarativeBase):
    pass


processed_events = processed_events_table(Base.metadata)
outbox_events = outbox_table(Base.metadata)


class Fact(Base):
    __tablename__ = "facts"

    # Arrival order: a rebuild replays the facts in it.
    id = Column(Integer, primary_key=True, autoincrement=True)
    event_id = Column(String(64), nullable=False)
    service = Column(String(40), nullable=False)
    name = Column(String(60), nullable=False)
    merchant_id = Column(String(32), nullable=False)
    occurred_on = Column(Date, nullable=False)
    payload = Column(Text, nullable=False)  # the event as received, JSON
    received_at = Column(DateTime(timezone=True), nullable=False)

    __table_args__ = (UniqueConstraint("event_id", name="uq_facts_event_id"),
                      Index("ix_facts_merchant_id_occurred_on", "merchant_id", "occurred_on"))


class DailyFigures(Base):
    __tablename__ = "daily_figures"

    merchant_id = Column(String(32), primary_key=True)
    day = Column(Date, primary_key=True)
    collected_count = Column(Integer, nullable=False, default=0)
    collected_amount = Column(BigInteger, nullable=False, default=0)  # cents
    rejected_count = Column(Integer, nullable=False, default=0)
    rejected_amount = Column(BigInteger, nullable=False, default=0)  # cents
    mandates_signed = Column(Integer, nullable=False, default=0)
    paid_out_amount = Column(BigInteger, nullable=False, default=0)  # cents


class Counters(Base):
    __tablename__ = "counters"

    merchant_id = Column(String(32), primary_key=True)
    mandates_signed = Column(Integer, nullable=False, default=0)  # active: +signed -revoked -expired
    payments_rejected = Column(Integer, nullable=False, default=0)
    plans_active = Column(Integer, nullable=False, default=0)  # +created -cancelled -completed
    updated_at = Column(DateTime(timezone=True), nullable=False)


class ExportJob(Base):
    __tablename__ = "export_jobs"

    id = Column(String(32), primary_key=True)  # EX…
    merchant_id = Column(String(32), nullable=False)
    section = Column(String(20), nullable=False)
    filters = Column(JSON, nullable=False)
    decimal = Column(String(1), nullable=False)
    status = Column(String(10), nullable=False)  # pending, running, done, failed
    rows_done = Column(Integer, nullable=False, default=0)
    rows_total = Column(Integer)  # known when the last page has arrived
    error = Column(Text)
    filename = Column(String(80))  # the name the download is offered under
    created_at = Column(DateTime(timezone=True), nullable=False)
    finished_at = Column(DateTime(timezone=True))
    heartbeat_at = Column(DateTime(timezone=True))  # clock.wall() at each page of a running job

    __table_args__ = (Index("ix_export_jobs_merchant_id_created_at", "merchant_id", "created_at"),
                      Index("ix_export_jobs_created_at", "created_at"))
