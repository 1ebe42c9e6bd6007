"""Tables of the `plans` service; every business row carries `merchant_id`."""
from sqlalchemy import (Column, Date, DateTime, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, relationship

from common.idempotency import processed_events_table, rpc_calls_table
from common.outbox import outbox_table
from contracts.plans import STATUSES  # noqa: F401 - the column's values

INSTALMENT_STATUSES = ("issued", "collected", "failed", "cancelled")


class Base(DeclarativeBase):
    pass


processed_events = processed_events_table(Base.metadata)
outbox_events = outbox_table(Base.metadata)
rpc_calls = rpc_calls_table(Base.metadata)


class Plan(Base):
    __tablename__ = "plans"

    id = Column(String(32), primary_key=True)
    merchant_id = Column(String(32), nullable=False)
    mandate_id = Column(String(32), nullable=False)
    subscriber_id = Column(String(32), nullable=False)
    label = Column(String(140), nullable=False)
    amount = Column(Integer, nullable=False)  # cents
    currency = Column(String(3), nullable=False, default="EUR")
    frequency = Column(String(20), nullable=False)
    start_date = Column(Date, nullable=False)
    count = Column(Integer)
    end_date = Column(Date)
    day_of_month = Column(Integer)
    status = Column(String(20), nullable=False)
    prenotification_days = Column(Integer, nullable=False, default=14)
    next_sequence = Column(Integer, nullable=False, default=0)  # instalments issued so far
    collected_count = Column(Integer, nullable=False, default=0)
    # Unissued instalments are computed from the anchor: instalment anchor_sequence + 1
    # falls on anchor_date's period. An edit of the frequency, or a resume, moves the anchor.
    anchor_date = Column(Date, nullable=False)
    anchor_sequence = Column(Integer, nullable=False, default=0)
    next_due_date = Column(Date)  # first instalment not yet collected; kept for the filter
    issue_on = Column(Date)  # pre-notification day of the next unissued instalment; the cycle's key
    created_at = Column(DateTime(timezone=True), nullable=False)
    updated_at = Column(DateTime(timezone=True), nullable=False)
    cancelled_at = Column(DateTime(timezone=True))

    instalments = relationship("Instalment", order_by="Instalment.sequence_no", back_populates="plan")
    changes = relationship("PlanChange", order_by="PlanChange.id", back_populates="plan")

    __table_args__ = (
        Index("ix_plans_merchant_id_id", "merchant_id", "id"),
        Index("ix_plans_merchant_id_status_frequency", "merchant_id", "status", "frequency"),
        Index("ix_plans_merchant_id_next_due_date", "merchant_id", "next_due_date"),
        Index("ix_plans_merchant_id_mandate_id", "merchant_id", "mandate_id"),
        # the id last: pages newest first in one range scan (migration 0004)
        Index("ix_plans_merchant_id_subscriber_id_id", "merchant_id", "subscriber_id", "id"),
        Index("ix_plans_merchant_id_frequency_id", "merchant_id", "frequency", "id"),
        Index("ix_plans_status_issue_on", "status", "issue_on"),
    )


class Instalment(Base):
    __tablename__ = "instalments"

    id = Column(String(32), primary_key=True)
    merchant_id = Column(String(32), nullable=False)
    plan_id = Column(String(32), ForeignKey("plans.id"), nullable=False)
    sequence_no = Column(Integer, nullable=False)
    due_date = Column(Date, nullable=False)
    amount = Column(Integer, nullable=False)
    status = Column(String(20), nullable=False)
    issued_at = Column(DateTime(timezone=True), nullable=False)
    # Set when payments confirms it holds the payment: until then the instalment is handed over again.
    acknowledged_at = Column(DateTime(timezone=True))

    plan = relationship(Plan, back_populates="instalments")

    # "{plan_id}:{sequence_no}" is the key payments uses to never debit twice
    __table_args__ = (UniqueConstraint("plan_id", "sequence_no", name="uq_instalments_plan_id_sequence_no"),
                      Index("ix_instalments_unacknowledged", "status", "acknowledged_at"))

    @property
    def key(self):
        return f"{self.plan_id}:{self.sequence_no}"


class PlanChange(Base):
    __tablename__ = "plan_changes"

    id = Column(String(32), primary_key=True)
    merchant_id = Column(String(32), nullable=False)
    plan_id = Column(String(32), ForeignKey("plans.id"), nullable=False)
    at = Column(DateTime(timezone=True), nullable=False)
    actor = Column(String(254))
    changes = Column(Text, nullable=False)  # JSON {field: [old, new]}

    plan = relationship(Plan, back_populates="changes")

    __table_args__ = (Index("ix_plan_changes_plan_id", "merchant_id", "plan_id"),)
