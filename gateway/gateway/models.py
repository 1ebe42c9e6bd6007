"""The gateway's own tables: merchants, their dashboard users and API keys."""
from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(140))
    creditor_id: Mapped[str] = mapped_column(String(35))
    iban: Mapped[str] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str | None] = mapped_column(String(280))
    availability_delay_days: Mapped[int] = mapped_column(Integer, default=5)
    prenotification_days: Mapped[int] = mapped_column(Integer, default=14)
    automatic_retry: Mapped[bool] = mapped_column(Boolean, default=False)
    first_debit_as_rcur: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[object] = mapped_column(DateTime(timezone=True))


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[object] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    # The public part of the key, to find the row; the secret is only hashed.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(100), default="default")
    created_at: Mapped[object] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[object | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[object | None] = mapped_column(DateTime(timezone=True))


class IdempotencyKey(Base):
    """The answer given to a money-moving POST, replayed for the same key (spec §6)."""

    __tablename__ = "idempotency_keys"

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[object] = mapped_column(DateTime(timezone=True))


class FailedAttempt(Base):
    """A failed login or API key (gateway/throttle.py): the hash of what it was counted against
    (an email, an address), never the email, the password or the key tried."""

    __tablename__ = "failed_attempts"
    __table_args__ = (Index("ix_failed_attempts_kind_key_at", "kind", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[object] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """A sensitive action that succeeded (gateway/audit.py): who, what, on which object, when."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_merchant_id_id", "merchant_id", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # AU…, time-ordered
    merchant_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[object] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(254))  # a dashboard user's email, "api" or "cli"
    action: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)  # JSON: the action's few fields, IBANs masked
