"""Tables of the `signing` service; every business row carries `merchant_id`."""
from sqlalchemy import JSON, Column, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase

from common.idempotency import processed_events_table
from common.outbox import outbox_table
from contracts.signing import METHODS, STATUSES  # noqa: F401 - the columns' values

OPEN_STATUSES = ("pending", "otp_sent")  # what can still be signed, cancelled or expire


class Base(DeclarativeBase):
    pass


processed_events = processed_events_table(Base.metadata)
outbox_events = outbox_table(Base.metadata)


class SignatureOrder(Base):
    """One request to sign a mandate, by emailed link or by an operator."""
    __tablename__ = "signature_orders"

    id = Column(String(32), primary_key=True)
    merchant_id = Column(String(32), nullable=False)
    method = Column(String(10), nullable=False)
    status = Column(String(10), nullable=False)
    lang = Column(String(2), nullable=False)
    # the subscriber as the order knows it: an existing one (subscriber_id) or new details
    subscriber_id = Column(String(32))
    customer_reference = Column(String(100), nullable=False)
    name = Column(String(140), nullable=False)
    email = Column(String(254))
    phone = Column(String(20), nullable=False)
    address = Column(Text)
    # {name, creditor_id, address}: a snapshot, so the text shown never changes under the debtor
    creditor = Column(JSON, nullable=False)
    plan = Column(JSON)
    plan_id = Column(String(32))
    expires_at = Column(DateTime(timezone=True), nullable=False)
    # bank details given by the debtor on the link page, kept until the code is entered
    iban = Column(String(34))
    bic = Column(String(11))
    # sha256 of the current link token's nonce: a resend replaces it, so the old link stops
    token_hash = Column(String(64))
    link_sent_at = Column(DateTime(timezone=True))
    link_sends = Column(Integer, nullable=False, default=0)
    otp_hash = Column(String(64))
    otp_sent_at = Column(DateTime(timezone=True))
    otp_sends = Column(Integer, nullable=False, default=0)
    otp_attempts = Column(Integer, nullable=False, default=0)
    mandate_id = Column(String(32))
    failure_reason = Column(String(255))
    evidence = Column(JSON)
    created_by = Column(String(254))
    created_at = Column(DateTime(timezone=True), nullable=False)
    signed_at = Column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_signature_orders_merchant_id_id", "merchant_id", "id"),
        Index("ix_signature_orders_merchant_id_status_id", "merchant_id", "status", "id"),
        Index("ix_signature_orders_status_expires_at", "status", "expires_at"),
    )
