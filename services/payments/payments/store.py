"""The inbox's SQL: payments read and locked by end-to-end id, and what a bank file changes
written in bulk (one UPDATE per kind of change; R-transactions and ledger entries by COPY on
PostgreSQL, multi-row INSERTs elsewhere), unmatched entries kept with their reason.

A bank file of 10 000 returns must not cost 10 000 round trips: the payments of a chunk are
read in one query per MATCH_CHUNK end-to-end ids, as plain records (ImportedPayment: every
column, not session objects), and the events are built from those records after the commit.
"""
import dataclasses
import functools
import io
import json
from datetime import date
from types import SimpleNamespace

from sqlalchemy import any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import String

from common import clock
from common.database import copy_in, transaction_rows
from common.ids import IdMaker, new_id
from contracts.payments import reason as reason_of
from payments.models import LedgerEntry, Payment, Payout, RTransaction, UnmatchedEntry

MATCH_CHUNK = 5000


class ImportedPayment(SimpleNamespace):
    """A payment as the import read and changed it: its columns (the report's record, not a
    session object; `session.get(Payment, id)` reads the row)."""


class ImportedRTransaction(SimpleNamespace):
    """An R-transaction as the import inserted it (the report's record, not a session object)."""


def _among(column, values):
    """`column = ANY(:array)`: one parameter, whatever the number of values."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(String)))


def payments_by_e2e(session, end_to_end_ids):
    """{end_to_end_id: ImportedPayment} of the ids that name a payment, locked FOR UPDATE."""
    return _payments(*locked_rows(session, end_to_end_ids))


def locked_rows(session, end_to_end_ids):
    """(columns, rows) of the payments the ids name, locked FOR UPDATE (fetched: the connection
    is free again)."""
    wanted = sorted({e2e for e2e in end_to_end_ids if e2e})
    keys, rows = tuple(Payment.__table__.columns.keys()), []
    for start in range(0, len(wanted), MATCH_CHUNK):  # psycopg2's tuples: SQLAlchemy's rows cost as much
        rows += transaction_rows(session, _locked_rows_sql(), {"ids": wanted[start:start + MATCH_CHUNK]})
    return keys, rows


@functools.cache
def _locked_rows_sql():
    """_locked_rows' query on PostgreSQL, `ids` its parameter (a list: an array)."""
    table = Payment.__table__
    columns = ", ".join('"' + column.name + '"' for column in table.columns)
    return (f"SELECT {columns} FROM {table.name} "
            "WHERE end_to_end_id = ANY(%(ids)s) ORDER BY id FOR UPDATE")


def _payments(keys, rows):
    found = {}
    for row in rows:
        payment = ImportedPayment()
        payment.__dict__.update(zip(keys, row))
        found[payment.end_to_end_id] = payment
    return found


def _q(value):
    """A text field of CSV COPY: quoted (an empty string stays one); None, the unquoted NULL."""
    return "" if value is None else '"' + value.replace('"', '""') + '"'


R_TRANSACTION_COLUMNS = ("id", "merchant_id", "payment_id", "type", "reason_code", "reason", "amount",
                         "received_on", "retryable", "status", "replayed_by", "bank_file_id", "created_at")
LEDGER_COLUMNS = ("id", "merchant_id", "date", "value_date", "code", "reference", "payment_id",
                  "subscriber_name", "label", "amount", "created_at")


def _r_transaction_line(row, created):
    return (f'{_q(row["id"])},{_q(row["merchant_id"])},{_q(row["payment_id"])},{_q(row["type"])},'
            f'{_q(row["reason_code"])},{_q(row["reason"])},{row["amount"]},{row["received_on"].isoformat()},'
            f'{"t" if row["retryable"] else "f"},{_q(row["status"])},{_q(row["replayed_by"])},'
            f'{_q(row["bank_file_id"])},{created}\n')


def _ledger_line(row, created):
    return (f'{_q(row["id"])},{_q(row["merchant_id"])},{row["date"].isoformat()},{row["value_date"].isoformat()},'
            f'{_q(row["code"])},{_q(row["reference"])},{_q(row["payment_id"])},{_q(row["subscriber_name"])},'
            f'{_q(row["label"])},{row["amount"]},{created}\n')


class Writes:
    """What a chunk of a bank file changes, written in bulk by `flush`."""

    def __init__(self, session, bank_file, now, ids=None):
        self.session, self.bank_file, self.now = session, bank_file, now
        self.changed, self.r_transactions, self.ledger = {}, [], []
        self.new_id = (ids or IdMaker()).new

    def record(self, payment, values):
        """The values a move of payments.domain set on `payment` (an ImportedPayment), to write."""
        self.changed.setdefault(payment.id, {}).update(values)

    def r_transaction(self, payment, kind, code, amount, received_on):
        """An R-transaction of `kind` (reject, return, refund) on `payment`."""
        reason = reason_of(code)
        values = dict(id=self.new_id("RT"), merchant_id=payment.merchant_id, payment_id=payment.id,
                      type=kind, reason_code=(code or "").upper(),
                      reason=reason.en, amount=amount, received_on=received_on, retryable=reason.retryable,
                      status="open", replayed_by=None, bank_file_id=self.bank_file.id, created_at=self.now)
        self.r_transactions.append(values)
        return ImportedRTransaction(**values)

    def ledger_entry(self, payment, code, amount, on, value_date=None):
        self.ledger.append(dict(id=self.new_id("LE"), merchant_id=payment.merchant_id, date=on,
                                value_date=value_date or on, code=code, reference=payment.end_to_end_id,
                                payment_id=payment.id, subscriber_name=payment.debtor_name,
                                label=payment.label, amount=amount, created_at=self.now))

    def payout_entry(self, payout, amount, on, value_date=None):
        self.ledger.append(dict(id=self.new_id("LE"), merchant_id=payout.merchant_id, date=on,
                                value_date=value_date or on, code="PAYOUT", reference=payout.end_to_end_id,
                                payment_id=None, subscriber_name=None,
                                label=f"Payout to {payout.creditor_iban}", amount=amount, created_at=self.now))

    def flush(self):
        """Write what was recorded, then forget it."""
        session = self.session
        session.flush()  # what the ORM holds (the bank file's row, unmatched entries, payouts) first
        groups = {}
        for payment_id, values in self.changed.items():
            groups.setdefault(tuple(sorted(values.items())), []).append(payment_id)
        for values, ids in groups.items():
            for start in range(0, len(ids), MATCH_CHUNK):
                session.execute(update(Payment).where(_among(Payment.id, ids[start:start + MATCH_CHUNK]))
                                .values(dict(values)).execution_options(synchronize_session=False))
        created = self.now.isoformat()
        for model, columns, line, rows in ((RTransaction, R_TRANSACTION_COLUMNS, _r_transaction_line,
                                            self.r_transactions),
                                           (LedgerEntry, LEDGER_COLUMNS, _ledger_line, self.ledger)):
            if rows:
                buffer = io.StringIO()
                buffer.writelines([line(row, created) for row in rows])
                buffer.seek(0)
                copy_in(session.connection(), model.__tablename__, columns, buffer)
        self.changed, self.r_transactions, self.ledger = {}, [], []


def payout_by_e2e(session, end_to_end_id):
    """The payout this end-to-end id names, locked FOR UPDATE; None without one."""
    if not end_to_end_id:
        return None
    return session.scalar(select(Payout).where(Payout.end_to_end_id == end_to_end_id).with_for_update())


def payment_by_e2e(session, end_to_end_id):
    """The payment (a session object) this end-to-end id names, locked FOR UPDATE."""
    if not end_to_end_id:
        return None
    return session.scalar(select(Payment).where(Payment.end_to_end_id == end_to_end_id).with_for_update())


def _jsonable(value):
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


def keep_unmatched(session, bank_file, end_to_end_id, amount, why, entry, merchant_id=None):
    """An entry no payment takes (or only information), kept with its reason; `entry` a
    dataclass of payments.domain (its fields are stored as JSON)."""
    row = UnmatchedEntry(id=new_id("UE"), merchant_id=merchant_id, bank_file_id=bank_file.id,
                         end_to_end_id=(end_to_end_id or "")[:35] or None, amount=amount,
                         details=json.dumps({"reason": why, "entry": _jsonable(dataclasses.asdict(entry))}),
                         created_at=clock.now())
    session.add(row)
    return row
