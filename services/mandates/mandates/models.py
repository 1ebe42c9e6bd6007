"""Tables of the `mandates` service; every business row carries `merchant_id`."""
from sqlalchemy import (JSON, Boolean, Column, Date, DateTime, ForeignKey, Index, LargeBinary, String,
                        Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, relationship

from common.idempotency import processed_events_table, rpc_calls_table
from common.outbox import outbox_table
from contracts.mandates import IMPORT_METHODS, SEQUENCES, STATUSES  # noqa: F401 - the columns' values

SIGNATURE_METHODS = ("electronic", "paper", "phone", "web")


class Base(DeclarativeBase):
    pass


processed_events = processed_events_table(Base.metadata)
outbox_events = outbox_table(Base.metadata)
rpc_calls = rpc_calls_table(Base.metadata)


class Subscriber(Base):
    __tablename__ = "subscribers"

    id = Column(String(32), primary_key=True)
    merchant_id = Column(String(32), nullable=False)
    customer_reference = Column(String(100), nullable=False)
    name = Column(String(140), nullable=False)
    email = Column(String(254))
    phone = Column(String(20))
    address = Column(Text)
    # lower-case, accent-stripped name + email + customer reference: what `q` searches
    search_text = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)

    mandates = relationship("Mandate", back_populates="subscriber", order_by="Mandate.id.desc()")

    __table_args__ = (
        UniqueConstraint("merchant_id", "customer_reference", name="uq_subscribers_customer_reference"),
        Index("ix_subscribers_merchant_id_id", "merchant_id", "id"),
        # LIKE 'prefix%' uses a btree only with the pattern operator class (non-C collations)
        Index("ix_subscribers_customer_reference_prefix", "merchant_id", "customer_reference",
              postgresql_ops={"customer_reference": "varchar_pattern_ops"}),
        # substring search (`q`): trigram GIN (migration 0002 creates pg_trgm)
        Index("ix_subscribers_search_text_trgm", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"}),
    )


class Mandate(Base):
    __tablename__ = "mandates"

    id = Column(String(32), primary_key=True)
    merchant_id = Column(String(32), nullable=False)
    subscriber_id = Column(String(32), ForeignKey("subscribers.id"), nullable=False)
    reference = Column(String(35), nullable=False)
    iban = Column(String(34), nullable=False)
    bic = Column(String(11))
    signature_method = Column(String(20), nullable=False)
    signed_at = Column(DateTime(timezone=True))
    signed_place = Column(String(140))
    sequence = Column(String(20), nullable=False, default="recurrent")
    status = Column(String(20), nullable=False)
    last_collected_on = Column(Date)
    # last collection (or signature) + 36 months: the day dormancy expires it
    dormant_on = Column(Date)
    revoked_at = Column(DateTime(timezone=True))
    revocation_reason = Column(String(140))
    expired_at = Column(DateTime(timezone=True))
    created_at = Column(DateTime(timezone=True), nullable=False)
    scan_filename = Column(String(255))
    scan_content_type = Column(String(50))
    # electronic signature: {signed_at, ip_address, user_agent, phone, order_id, document_hash}
    evidence = Column(JSON)
    signing_order_id = Column(String(32))

    subscriber = relationship(Subscriber, back_populates="mandates")
    amendments = relationship("MandateAmendment", order_by="MandateAmendment.id",
                              back_populates="mandate")

    __table_args__ = (
        UniqueConstraint("merchant_id", "reference", name="uq_mandates_reference"),
        UniqueConstraint("merchant_id", "signing_order_id", name="uq_mandates_signing_order_id"),
        Index("ix_mandates_merchant_id_id", "merchant_id", "id"),
        Index("ix_mandates_merchant_id_status_signed_at", "merchant_id", "status", "signed_at"),
        Index("ix_mandates_merchant_id_subscriber_id", "merchant_id", "subscriber_id"),
        Index("ix_mandates_status_dormant_on", "status", "dormant_on"),
    )

    @property
    def has_scan(self):
        return self.scan_filename is not None


class MandateScan(Base):
    """The scan's bytes, apart so that listing mandates never reads them."""
    __tablename__ = "mandate_scans"

    mandate_id = Column(String(32), ForeignKey("mandates.id"), primary_key=True)
    merchant_id = Column(String(32), nullable=False)
    content = Column(LargeBinary, nullable=False)


class MandateAmendment(Base):
    __tablename__ = "mandate_amendments"

    id = Column(String(32), primary_key=True)
    merchant_id = Column(String(32), nullable=False)
    mandate_id = Column(String(32), ForeignKey("mandates.id"), nullable=False)
    at = Column(DateTime(timezone=True), nullable=False)
    old_iban = Column(String(34), nullable=False)
    new_iban = Column(String(34), nullable=False)
    old_bic = Column(String(11))
    new_bic = Column(String(11))
    # payments sets it once the next debit carried AmdmntInd
    applied_to_debit = Column(Boolean, nullable=False, default=False)

    mandate = relationship(Mandate, back_populates="amendments")

    __table_args__ = (Index("ix_mandate_amendments_mandate_id", "merchant_id", "mandate_id"),)
