"""Tables of the `payments` service; every business row carries `merchant_id`
(inbox files and unmatched entries may belong to no known merchant yet)."""
from sqlalchemy import (Boolean, Column, Date, DateTime, Index, Integer, String, Text,
                        UniqueConstraint, select, text)
from sqlalchemy.orm import DeclarativeBase

from common.idempotency import processed_events_table, rpc_calls_table
from common.outbox import outbox_table
from contracts.payments import PAYOUT_STATUSES, R_STATUSES, R_TYPES, STATUSES  # noqa: F401 - the columns' values

SEQUENCE_TYPES = ("FRST", "RCUR", "FNAL", "OOFF")
LEDGER_CODES = ("SDD", "REJ", "RET", "REF", "PAYOUT", "FEE")
FILE_KINDS = ("pain.008", "pain.002", "camt.054", "pain.001")


class Base(DeclarativeBase):
    pass


processed_events = processed_events_table(Base.metadata)
outbox_events = outbox_table(Base.metadata)
rpc_calls = rpc_calls_table(Base.metadata)


class Creditor(Base):
    """The merchant as a SEPA creditor, registered by the gateway when the merchant is created."""
    __tablename__ = "creditors"

    merchant_id = Column(String(32), primary_key=True)
    name = Column(String(140), nullable=False)
    creditor_id = Column(String(35), nullable=False)
    iban = Column(String(34), nullable=False)
    bic = Column(String(11))
    automatic_retry = Column(Boolean, nullable=False, default=False)
    first_debit_as_rcur = Column(Boolean, nullable=False, default=False)
    prenotification_days = Column(Integer, nullable=False, default=14)
    availability_delay_days = Column(Integer, nullable=False, default=5)
    updated_at = Column(DateTime(timezone=True), nullable=False)


class Payment(Base):
    __tablename__ = "payments"

    id = Column(String(32), primary_key=True)
    merchant_id = Column(String(32), nullable=False)
    plan_id = Column(String(32))
    # "{plan_id}:{sequence_no}": one payment per instalment, ever (replays have none)
    instalment_key = Column(String(80), unique=True)
    sequence_no = Column(Integer)
    mandate_id = Column(String(32), nullable=False)
    subscriber_id = Column(String(32))
    mandate_reference = Column(String(35), nullable=False)
    mandate_signed_on = Column(Date, nullable=False)
    debtor_name = Column(String(140), nullable=False)
    debtor_email = Column(String(254))
    iban = Column(String(34), nullable=False)
    bic = Column(String(11))
    amendment = Column(Text)  # JSON {original_iban?, original_debtor_agent_smnda}
    amount = Column(Integer, nullable=False)  # cents
    currency = Column(String(3), nullable=False, default="EUR")
    label = Column(String(140))
    due_date = Column(Date, nullable=False)
    sequence_type = Column(String(4), nullable=False)
    end_to_end_id = Column(String(35), nullable=False, unique=True)
    status = Column(String(20), nullable=False)
    replay_of = Column(String(32))
    attempt = Column(Integer, nullable=False, default=1)
    automatic = Column(Boolean, nullable=False, default=False)  # an automatic retry
    bank_file_id = Column(String(32))
    created_at = Column(DateTime(timezone=True), nullable=False)
    submitted_at = Column(DateTime(timezone=True))
    paid_at = Column(DateTime(timezone=True))
    rejected_at = Column(DateTime(timezone=True))
    cancelled_at = Column(DateTime(timezone=True))

    __table_args__ = (
        # the id last: pages newest first in one range scan (migration 0006)
        Index("ix_payments_merchant_id_status_due_date_id", "merchant_id", "status", "due_date", "id"),
        Index("ix_payments_merchant_id_status_id", "merchant_id", "status", "id"),
        Index("ix_payments_merchant_id_subscriber_id_id", "merchant_id", "subscriber_id", "id"),
        Index("ix_payments_merchant_id_id", "merchant_id", "id"),
        # a payment paid or rejected adds no entry to these two (migration 0008)
        Index("ix_payments_scheduled_due_date", "due_date", postgresql_where=text("status = 'scheduled'")),
        Index("ix_payments_merchant_id_mandate_id", "merchant_id", "mandate_id"),
        Index("ix_payments_bank_file_id", "bank_file_id"),
        Index("ix_payments_replay_of", "replay_of", postgresql_where=text("replay_of IS NOT NULL")),
    )


class BankFile(Base):
    __tablename__ = "bank_files"

    id = Column(String(32), primary_key=True)
    merchant_id = Column(String(32))  # none for inbox files: they may span merchants
    direction = Column(String(3), nullable=False)  # out | in
    kind = Column(String(10), nullable=False)
    message_id = Column(String(35), nullable=False)
    filename = Column(String(255), nullable=False)
    status = Column(String(20), nullable=False)  # written | imported
    error = Column(Text)
    created_at = Column(DateTime(timezone=True), nullable=False)

    __table_args__ = (UniqueConstraint("direction", "message_id", name="uq_bank_files_direction_message_id"),)


def take_writing_file(session, file_id):
    """The outbox file `file_id` if it is still `writing` and no other worker is writing it:
    its row locked until the caller commits it `written` (FOR UPDATE SKIP LOCKED), else None.
    Whoever writes a claimed file (its claimer, or a later run after a crash) takes it so: two
    workers never write, nor announce, the same file."""
    return session.scalar(select(BankFile).where(BankFile.id == file_id, BankFile.status == "writing")
                          .with_for_update(skip_locked=True).execution_options(populate_existing=True))


class RTransaction(Base):
    __tablename__ = "r_transactions"

    id = Column(String(32), primary_key=True)
    merchant_id = Column(String(32), nullable=False)
    payment_id = Column(String(32), nullable=False)
    type = Column(String(30), nullable=False)
    reason_code = Column(String(4), nullable=False)
    reason = Column(String(140), nullable=False)
    amount = Column(Integer, nullable=False)
    received_on = Column(Date, nullable=False)
    retryable = Column(Boolean, nullable=False)
    status = Column(String(20), nullable=False)
    replayed_by = Column(String(32))
    bank_file_id = Column(String(32))
    created_at = Column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        Index("ix_r_transactions_merchant_id_id", "merchant_id", "id"),
        Index("ix_r_transactions_merchant_id_status", "merchant_id", "status"),
        Index("ix_r_transactions_payment_id", "payment_id"),
    )


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    id = Column(String(32), primary_key=True)
    merchant_id = Column(String(32), nullable=False)
    date = Column(Date, nullable=False)
    value_date = Column(Date)  # always set since 0004 (the booking date when the bank gives none)
    code = Column(String(10), nullable=False)
    reference = Column(String(35))
    payment_id = Column(String(32))
    subscriber_name = Column(String(140))
    label = Column(String(140))
    amount = Column(Integer, nullable=False)  # signed cents: credits > 0, debits < 0
    created_at = Column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_ledger_entries_merchant_id_date_id", "merchant_id", "date", "id"),
                      Index("ix_ledger_entries_merchant_id_value_date", "merchant_id", "value_date"))


class Payout(Base):
    """A credit transfer of available funds to the merchant's own account (pain.001)."""
    __tablename__ = "payouts"

    id = Column(String(32), primary_key=True)
    merchant_id = Column(String(32), nullable=False)
    amount = Column(Integer, nullable=False)  # cents
    currency = Column(String(3), nullable=False, default="EUR")
    status = Column(String(20), nullable=False)  # pending -> sent -> paid | failed
    end_to_end_id = Column(String(35), nullable=False, unique=True)
    creditor_name = Column(String(140), nullable=False)
    creditor_iban = Column(String(34), nullable=False)
    creditor_bic = Column(String(11))
    execution_date = Column(Date, nullable=False)
    bank_file_id = Column(String(32))
    created_at = Column(DateTime(timezone=True), nullable=False)
    sent_at = Column(DateTime(timezone=True))
    paid_at = Column(DateTime(timezone=True))
    paid_on = Column(Date)  # the bank's booking date
    failed_reason = Column(String(140))

    __table_args__ = (
        Index("ix_payouts_merchant_id_id", "merchant_id", "id"),
        Index("ix_payouts_merchant_id_status", "merchant_id", "status"),
    )


class UnmatchedEntry(Base):
    """A bank entry that matched no payment: kept and shown, never dropped."""
    __tablename__ = "unmatched_entries"

    id = Column(String(32), primary_key=True)
    merchant_id = Column(String(32))  # when the entry names a known payment
    bank_file_id = Column(String(32), nullable=False)
    end_to_end_id = Column(String(35))
    amount = Column(Integer)
    details = Column(Text, nullable=False)  # JSON: the entry and why it matched nothing
    created_at = Column(DateTime(timezone=True), nullable=False)
