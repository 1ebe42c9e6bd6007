"""A camt.054 notification applied to the payments in one pass (issue 8: 10 000 returns
in a file must not cost 10 000 round trips).

The decisions are those of the entry-by-entry import, taken in the file's order on the
payments read into memory, so that an entry sees what the entries before it did (a credit
then a return of the same debit, the same return twice): a credit makes a `submitted`
payment `paid` (SDD entry); a return, refund or reversed credit makes a `submitted` or
`paid` one `rejected` with its R-transaction (and a RET/REF entry when it was paid); a
payout debited is booked; anything else is kept as an unmatched entry with its reason.

What changes is how it reaches the database: the payments of the file are read (as rows,
not ORM objects) and locked in one query per MATCH_CHUNK end-to-end ids, their new status
is written by one UPDATE per kind of change, the R-transactions and ledger entries by COPY
on PostgreSQL (bulk INSERTs elsewhere). The report's payments and R-transactions are plain
records of what was written (ImportedPayment, ImportedRTransaction: every column, read by
the events built after the commit without a query each). The import's batch events are
written as JSON text from those records as each decision is taken (events.ImportEvents, a
chunk at a time while PostgreSQL writes the chunk before; `part.events`, staged by
events.announce_import). One instant (`clock.now()`) stamps the whole file.

The file is applied while it is read (import_streamed): camt054.parse_plain (or, for a file
that is not plain, camt054.parse_camt054) runs in a thread (read_in_thread) handing over
chunks of CHUNK transactions, each matched, decided and written (_Applier) while the parse
of the next goes on, PostgreSQL's work (the UPDATE, the COPY) on the other CPU. On
PostgreSQL a chunk's writes run in a thread of their own while the next chunk is decided.
One transaction still covers the whole file: a refusal found after the first chunks rolls
them back, and the file is failed with the reason the whole read would give; a file found
not plain after its first chunks is rolled back and read again by parse_camt054.
"""
import functools
import io
import time
from functools import partial
from types import SimpleNamespace

from sqlalchemy import any_, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import String

from common import clock
from common.database import copy_in, transaction_rows
from common.ids import IdMaker, new_id
from payments import ledger, reason_codes
from payments.events import ImportEvents
from payments.models import LedgerEntry, Payment, RTransaction

MATCH_CHUNK = 5000
class ImportedPayment(SimpleNamespace):
    """A payment as the import read and changed it: its columns (the report's record, not a
    session object; `session.get(Payment, id)` reads the row)."""


class ImportedRTransaction(SimpleNamespace):
    """An R-transaction as the import inserted it (the report's record, not a session object)."""


def _postgresql(session):
    return session.get_bind().dialect.name == "postgresql"


def _among(column, values, postgresql):
    """`column = ANY(:array)` on PostgreSQL (one parameter), `column IN (...)` elsewhere."""
    if postgresql:
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))
    return column.in_(list(values))


def payments_by_e2e(session, end_to_end_ids):
    """{end_to_end_id: ImportedPayment} of the ids that name a payment, locked FOR UPDATE."""
    return _payments(*_locked_rows(session, end_to_end_ids))


def _locked_rows(session, end_to_end_ids):
    """(columns, rows) of the payments the ids name, locked FOR UPDATE (fetched: the connection
    is free again)."""
    wanted = sorted({e2e for e2e in end_to_end_ids if e2e})
    postgresql, keys, rows = _postgresql(session), tuple(Payment.__table__.columns.keys()), []
    table = Payment.__table__
    if postgresql:  # psycopg2's tuples: SQLAlchemy's rows cost as much as PostgreSQL's work here
        for start in range(0, len(wanted), MATCH_CHUNK):
            rows += transaction_rows(session, _locked_rows_sql(), {"ids": wanted[start:start + MATCH_CHUNK]})
        return keys, rows
    for start in range(0, len(wanted), MATCH_CHUNK):
        chunk = wanted[start:start + MATCH_CHUNK]
        result = session.execute(select(table).where(_among(table.c.end_to_end_id, chunk, postgresql))
                                 .order_by(table.c.id).with_for_update())
        keys = tuple(result.keys())
        rows += result.all()
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


class _Writes:
    """What the file changes, written at the end in bulk."""

    def __init__(self, session, bank_file, now, ids=None):
        self.session, self.bank_file, self.now = session, bank_file, now
        self.changed, self.r_transactions, self.ledger = {}, [], []
        self.new_id = (ids or IdMaker()).new

    def set(self, payment, **values):
        payment.__dict__.update(values)
        self.changed.setdefault(payment.id, {}).update(values)

    def r_transaction(self, payment, kind, code, amount, received_on):
        reason = reason_codes.reason(code)
        values = dict(id=self.new_id("RT"), merchant_id=payment.merchant_id, payment_id=payment.id,
                      type=reason_codes.r_transaction_type(kind, code), reason_code=(code or "").upper(),
                      reason=reason.en, amount=amount, received_on=received_on, retryable=reason.retryable,
                      status="open", replayed_by=None, bank_file_id=self.bank_file.id, created_at=self.now)
        self.r_transactions.append(values)
        return ImportedRTransaction(**values)

    def ledger_entry(self, payment, code, amount, on, value_date=None):
        self.ledger.append(dict(id=self.new_id("LE"), merchant_id=payment.merchant_id, date=on,
                                value_date=value_date or on, code=code, reference=payment.end_to_end_id,
                                payment_id=payment.id, subscriber_name=payment.debtor_name,
                                label=payment.label, amount=amount, created_at=self.now))

    def flush(self):
        """Write what was decided, now."""
        if _postgresql(self.session):
            self.session.flush()  # what the ORM holds (the inbox file's row, unmatched entries) first
            self.prepare()(self.session.connection())
            return
        session = self.session
        for values, ids in self._groups():
            for start in range(0, len(ids), MATCH_CHUNK):
                session.execute(update(Payment).where(_among(Payment.id, ids[start:start + MATCH_CHUNK], False))
                                .values(dict(values)).execution_options(synchronize_session=False))
        for model, rows in ((RTransaction, self.r_transactions), (LedgerEntry, self.ledger)):
            if rows:
                session.execute(insert(model), rows)

    def _groups(self):
        groups = {}
        for payment_id, values in self.changed.items():
            groups.setdefault(tuple(sorted(values.items())), []).append(payment_id)
        return groups.items()

    def prepare(self):
        """PostgreSQL: the statements and COPY texts built here (Python), and a function running
        them on a connection (the database's work alone: _Applier runs it in a thread)."""
        updates = [update(Payment).where(_among(Payment.id, ids[start:start + MATCH_CHUNK], True))
                   .values(dict(values)).execution_options(synchronize_session=False)
                   for values, ids in self._groups() for start in range(0, len(ids), MATCH_CHUNK)]
        created, copies = self.now.isoformat(), []
        for model, columns, line, rows in ((RTransaction, R_TRANSACTION_COLUMNS, _r_transaction_line,
                                            self.r_transactions),
                                           (LedgerEntry, LEDGER_COLUMNS, _ledger_line, self.ledger)):
            if rows:
                buffer = io.StringIO()
                buffer.writelines([line(row, created) for row in rows])
                buffer.seek(0)
                copies.append((model.__tablename__, columns, buffer))

        def write(connection):
            for statement in updates:
                connection.execute(statement)
            for table, columns, buffer in copies:
                copy_in(connection, table, columns, buffer)
        return write


def apply_camt054(session, bank_file, transactions, part, as_of):
    """Apply the notification's transactions (camt054.parse_camt054's) in their order;
    fills `part` (an Imported) as the entry-by-entry import did. The caller commits."""
    applier = _Applier(session, bank_file, part, as_of)
    try:
        applier.apply(transactions)
    except BaseException:
        applier.stop()
        raise
    applier.finish()


class _Applier:
    """apply_camt054 chunk by chunk, in the file's order: the payments of each chunk's
    end-to-end ids not read yet are read (and locked), then its decisions are taken on all
    the payments read so far and written (flush)."""

    def __init__(self, session, bank_file, part, as_of):
        self.session, self.bank_file, self.part, self.as_of = session, bank_file, part, as_of
        self.payments, self.looked_up = {}, set()
        self.now = clock.now()
        self.postgresql = _postgresql(session)
        self.ids = IdMaker()
        self.events = part.events = ImportEvents()  # their JSON text, for events.announce_import
        self.decided = None  # PostgreSQL: the last chunk's writes (_Writes.prepare), run while the next is decided
        self.writing = None  # the thread running them

    def apply(self, transactions):
        """Read (lock) the chunk's payments, decide, write. On PostgreSQL a chunk's writes run in a
        thread while the next chunk is decided (the connection is never used by both at once:
        the next read waits for them), so PostgreSQL's UPDATE and COPY overlap this Python;
        `finish` writes the last chunk's."""
        from payments.collection import _field

        transactions = list(transactions)
        wanted = {_field(t, "end_to_end_id") for t in transactions} - self.looked_up
        self.wait()
        locked = _locked_rows(self.session, wanted)
        writes = _Writes(self.session, self.bank_file, self.now, self.ids)
        if self.decided is not None:  # PostgreSQL: the previous chunk's writes from now on
            self.session.flush()  # what the ORM holds (the inbox file's row, unmatched entries) first
            self._write(self.decided)
        self.payments.update(_payments(*locked))
        self.looked_up |= wanted
        self._decide(transactions, writes)
        self.events.build()  # while the previous chunk's writes may run
        if self.postgresql:
            self.decided = writes.prepare()  # while the previous chunk's writes may still run
        else:
            writes.flush()

    def _write(self, write):
        import threading

        connection, failed = self.session.connection(), []

        def run():
            try:
                write(connection)
            except BaseException as error:  # noqa: BLE001 - raised in the applying thread by wait
                failed.append(error)
        self.writing = threading.Thread(target=run, name="camt054-write", daemon=True)
        self.writing.failed = failed
        self.writing.start()
        # Let it send its UPDATE now: a thread waits for the GIL otherwise (up to the switch
        # interval), and under eventlet a green thread runs only when this one yields.
        time.sleep(0)

    def wait(self):
        """The writes running in their thread, finished; their error raised here."""
        writing, self.writing = self.writing, None
        if writing is not None:
            writing.join()
            if writing.failed:
                raise writing.failed[0]

    def write_now(self):
        """The last chunk's writes started, if they wait (nothing else to do meanwhile)."""
        if self.decided is not None and self.writing is None:
            self.session.flush()
            decided, self.decided = self.decided, None
            self._write(decided)

    def stop(self):
        """The writes running in their thread, finished, whatever they did (before a rollback)."""
        writing, self.writing = self.writing, None
        if writing is not None:
            writing.join()

    def finish(self):
        """Every decision written (the caller then commits, or rolls back on an error)."""
        self.wait()
        decided, self.decided = self.decided, None
        if decided is not None:
            self.session.flush()
            decided(self.session.connection())

    def _decide(self, transactions, writes):
        from payments.collection import _cents, _day, _field, _unmatched

        session, bank_file, part, as_of, payments, events = (self.session, self.bank_file, self.part, self.as_of,
                                                             self.payments, self.events)
        for transaction in transactions:
            # the readers' transactions are dicts (collection._field also reads objects)
            get = transaction.get if type(transaction) is dict else partial(_field, transaction)
            end_to_end_id = get("end_to_end_id")
            currency = get("currency") or "EUR"
            try:
                amount = _cents(get("amount"))
            except (TypeError, ValueError):
                amount = None
            payment = payments.get(end_to_end_id) if end_to_end_id else None
            merchant_id = payment.merchant_id if payment else None
            booked = _day(get("booking_date")) or as_of
            value_date = _day(get("value_date"))
            credit = (get("credit_debit") or "").upper() == "CRDT"
            reversal = bool(get("reversal"))
            payout = None
            if payment is None and not credit and not reversal:  # a payout the bank executed
                self.wait()  # a query: the connection free first
                payout = ledger.payout_by_e2e(session, end_to_end_id)
                merchant_id = payout.merchant_id if payout else None

            def refuse(why):
                _unmatched(session, bank_file, part, end_to_end_id, amount, why, transaction, merchant_id)

            if currency != "EUR":
                refuse(f"currency {currency}: Debito collects in EUR only")
                continue
            if payout is not None:
                why = ledger.book_payout_paid(session, payout, amount, booked, value_date)
                if why:
                    refuse(why)
                else:
                    part.payouts_paid.append(payout)
                continue
            if payment is None:
                refuse("no payment has this end-to-end id")
                continue
            if credit and not reversal:
                if payment.status != "submitted":
                    refuse(f"credit for a payment that is {payment.status}")
                elif amount != payment.amount:
                    refuse(f"credited {amount} cents, the payment is {payment.amount}")
                else:
                    writes.set(payment, status="paid", paid_at=writes.now)
                    writes.ledger_entry(payment, "SDD", payment.amount, booked, value_date)
                    part.paid.append(payment)
                    events.paid(payment)
                continue
            # a return reaches the creditor as a DBIT, with RvslInd or not depending on the bank,
            # or as a reversed CRDT: all of them take the collected amount back
            code = get("return_reason_code")
            if not code:
                refuse("a debit without a return reason")
                continue
            if payment.status not in ("submitted", "paid"):
                refuse(f"return of a payment that is {payment.status}")
                continue
            was_paid = payment.status == "paid"
            writes.set(payment, status="rejected", rejected_at=writes.now)
            r_transaction = writes.r_transaction(payment, "camt.054", code, amount or payment.amount, booked)
            part.r_transactions.append(r_transaction)
            events.r_transaction(r_transaction, payment)
            if was_paid:  # the credit was booked: the return takes it back
                writes.ledger_entry(payment, "REF" if r_transaction.type == "refund" else "RET",
                                    -(amount or payment.amount), booked, value_date)
            part.rejected.append(payment)
            events.rejected(payment)


# --- the file read while its first chunks are applied --------------------------------------

CHUNK = 1000  # transactions applied at a time while the rest of the file is read
FIRST_CHUNK = 200  # the first one smaller: PostgreSQL starts while the rest is read


def read_in_thread(path, plain=True):
    """Yield ("message", message_id) then ("transactions", [...]) chunks of CHUNK, in the
    file's order (and ("waiting", None) before waiting for the next one), from
    camt054.parse_plain (`plain`) or camt054.parse_camt054 running in a thread; the latter's
    refusal is raised where it comes, after the chunks read before it, and the former's
    camt054.NotPlain likewise (the file is then read by parse_camt054). A thread: while this
    one waits on PostgreSQL (applying a chunk), the parse goes on (libxml2, and psycopg2,
    leave the GIL); under eventlet the thread is a green one, which runs while this one
    waits on PostgreSQL."""
    import queue
    import threading

    from payments import camt054

    items, stop = queue.Queue(maxsize=4), threading.Event()

    class Stopped(Exception):
        pass

    def put(item):
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return
            except queue.Full:
                continue
        raise Stopped

    def work():
        pending = []

        chunks = []

        def batch(transactions):
            pending.extend(transactions)
            if len(pending) >= (CHUNK if chunks else min(FIRST_CHUNK, CHUNK)):
                chunks.append(len(pending))
                put(("transactions", pending[:]))
                pending.clear()
        try:
            with open(path, "rb") as file:  # a file, as collection.read_bank_file reads it
                parse = camt054.parse_plain if plain else camt054.parse_camt054
                parse(file, on_message=lambda message_id: put(("message", message_id)), on_batch=batch)
            if pending:
                put(("transactions", pending))
            put(("end", None))
        except Stopped:
            pass
        except BaseException as error:  # noqa: BLE001 - handed over to the reading side
            try:
                put(("error", error))
            except Stopped:
                pass

    thread = threading.Thread(target=work, name="camt054-read", daemon=True)
    thread.start()
    try:
        while True:
            try:
                kind, value = items.get_nowait()
            except queue.Empty:
                yield "waiting", None  # nothing read yet: the caller may use the time
                kind, value = items.get()
            if kind == "error":
                raise value
            if kind == "end":
                return
            yield kind, value
    finally:
        stop.set()
        thread.join()


def import_streamed(session, path, report, as_of):
    """collection.import_file of a camt.054 (its root read already), the file applied chunk by
    chunk while it is read: the same checks, refusals, transaction and report. Nothing is
    committed unless the whole file was read and applied; a refusal found late rolls back
    what its first chunks did. The file is read by camt054.parse_plain, and again by
    camt054.parse_camt054 when it is not plain (what the first reading did is rolled back)."""
    from payments import camt054

    try:
        _import_streamed(session, path, report, as_of, plain=True)
    except camt054.NotPlain:
        session.rollback()
        _import_streamed(session, path, report, as_of, plain=False)


def _import_streamed(session, path, report, as_of, plain):
    from payments import camt054
    from payments.collection import Imported, _commit_keeping, _move, log
    from payments.models import BankFile
    from sqlalchemy.exc import IntegrityError

    part, seen, applier, early = Imported(), False, None, []
    stream = read_in_thread(path, plain)

    def rollback():
        if applier is not None:
            applier.stop()  # no write left running on the connection
        session.rollback()

    try:
        while True:
            try:
                kind, value = next(stream)
            except StopIteration:
                break
            except camt054.NotPlain:
                rollback()
                raise
            except FileNotFoundError:  # another worker (the inbox timer, a replica) took it first
                rollback()
                return
            except Exception as error:  # noqa: BLE001 - as collection.import_file: kept aside with it
                rollback()
                reason = getattr(error, "reason", None) or str(error) or type(error).__name__
                log.error("bank file %s cannot be imported: %s", path.name, reason)
                _move(path, "failed", reason)
                report.failed.append((path.name, reason))
                return
            if kind == "waiting":
                if applier is not None:
                    applier.write_now()  # PostgreSQL works while the next chunk is read
                continue
            try:
                if kind == "message":
                    message_id = value
                    seen = session.scalar(select(BankFile.id).where(BankFile.direction == "in",
                                                                    BankFile.message_id == value))
                    if seen:  # read to its end all the same: a broken file is failed, not skipped
                        continue
                    bank_file = BankFile(id=new_id("BF"), direction="in", kind="camt.054",
                                         message_id=value, filename=path.name, status="imported",
                                         created_at=clock.now())
                    session.add(bank_file)
                    session.flush()
                    applier = _Applier(session, bank_file, part, as_of)
                    for transactions in early:
                        applier.apply(transactions)
                    early = []
                elif applier is not None:
                    applier.apply(value)
                elif not seen:
                    early.append(value)  # entries before the GrpHdr: applied once it is read
            except IntegrityError:  # another replica imported the same message meanwhile
                rollback()
                stream.close()
                _move(path, "processed")
                report.skipped.append(path.name)
                return
            except Exception as error:
                rollback()
                stream.close()
                log.exception("bank file %s failed", path.name)
                _move(path, "failed", f"{type(error).__name__}: {error}")
                report.failed.append((path.name, str(error)))
                return
        if seen:
            log.info("bank file %s (message %s) was imported already", path.name, message_id)
            _move(path, "processed")
            report.skipped.append(path.name)
            return
        try:
            if applier is not None:
                applier.finish()
            report.announce(part)
            _commit_keeping(session, part.paid + part.rejected)
        except IntegrityError:
            rollback()
            _move(path, "processed")
            report.skipped.append(path.name)
            return
        except Exception as error:
            rollback()
            log.exception("bank file %s failed", path.name)
            _move(path, "failed", f"{type(error).__name__}: {error}")
            report.failed.append((path.name, str(error)))
            return
    finally:
        stream.close()
    _move(path, "processed")
    report.files.append(bank_file)
    for name in ("paid", "rejected", "r_transactions", "unmatched", "payouts_paid"):
        getattr(report, name).extend(getattr(part, name))
