"""A bank file's life in the inbox, the same for every message type: receive it, identify it
(its root element), parse it (payments.iso20022), reconcile each transaction with its
payment or payout (domain.reconcile), apply the decisions in chunks (domain's moves,
payments.store's bulk writes), record the file, commit, then move it to processed/, or to
failed/ with its reason. One transaction per file: a refusal found after the first chunks
(a camt.054 is read as a stream) rolls them back.

A file is imported once (its message id); a file another worker imported meanwhile is
skipped (the unique message id), a file another worker took away is left to it.
"""
import logging
import os
import shutil
from pathlib import Path

from lxml import etree
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from common import clock
from common.ids import IdMaker, new_id
from payments import domain, store
from payments.events import ImportEvents
from payments.iso20022 import camt054, pain002, xsd
from payments.models import BankFile, Payment

log = logging.getLogger(__name__)

CHUNK = 1000  # transactions of a camt.054 applied at a time while the rest of it is read


class Imported:
    """What an import did, for the calls made after the commit. `announce(part)` is called
    with each file's part just before the file's commit, to stage its events in it."""

    def __init__(self, announce=None):
        self.files, self.failed, self.skipped = [], [], []
        self.paid, self.rejected, self.r_transactions, self.unmatched = [], [], [], []
        self.payouts_paid = []
        self.events = ImportEvents()  # the decisions their events state, for events.announce_import
        self.announce = announce or (lambda part: None)

    def add(self, part):
        for name in ("paid", "rejected", "r_transactions", "unmatched", "payouts_paid"):
            getattr(self, name).extend(getattr(part, name))


def import_inbox(session, inbox_dir, as_of=None, announce=None):
    """Import every file of the inbox once, one transaction (and commit) per file; moves
    each to processed/ (failed/ with a .reason.txt when it cannot be imported). Returns
    Imported (see it for `announce`)."""
    inbox, report, as_of = Path(inbox_dir), Imported(announce), as_of or clock.today()
    if not inbox.is_dir():
        return report
    for path in sorted(p for p in inbox.iterdir()
                       if p.is_file() and not p.name.startswith(".") and not p.name.endswith((".tmp", ".part"))):
        import_file(session, path, report, as_of)
    return report


def message_name(file) -> str:
    """The ISO message name of the <Document> at the head of `file`, read up to its root
    (the file is left at its start); xsd.InvalidFile unless a pain.002 or a camt.054."""
    if os.fstat(file.fileno()).st_size == 0:
        raise xsd.InvalidFile("empty file")
    message = None
    try:
        for _, root in etree.iterparse(file, events=("start",), resolve_entities=False, no_network=True,
                                       load_dtd=False, huge_tree=False):
            xsd.refuse_doctype(root.getroottree())
            message = xsd.message_of(root)
            break
    except etree.XMLSyntaxError as error:
        raise xsd.InvalidFile(f"not well-formed XML: {error}") from None
    file.seek(0)
    if not (message or "").startswith(("pain.002", "camt.054")):
        raise xsd.InvalidFile(f"neither a pain.002 nor a camt.054 file ({message or 'unknown message'})")
    return message


def read_bank_file(path):
    """(kind, message) of an inbox file read whole: a domain.StatusReport or a camt054.Camt054."""
    with open(path, "rb") as file:
        kind = message_name(file)[:8]
        return kind, (pain002.parse_pain002(file) if kind == "pain.002" else camt054.parse_camt054(file))


def import_file(session, path, report, as_of):
    """One inbox file: identified, parsed, reconciled, applied and recorded in one transaction,
    then moved (see the module)."""
    path, part = Path(path), Imported()
    try:
        with open(path, "rb") as file:  # FileNotFoundError: another worker took it first
            kind = message_name(file)[:8]
            message = pain002.parse_pain002(file) if kind == "pain.002" else camt054.open_camt054(file)
            if _imported_already(session, message.message_id):
                if kind == "camt.054":
                    for _ in message:  # read to its end all the same: a broken file is failed, not skipped
                        pass
                log.info("bank file %s (message %s) was imported already", path.name, message.message_id)
                _finish(path, report, skipped=True)
                return
            bank_file = BankFile(id=new_id("BF"), direction="in", kind=kind, message_id=message.message_id,
                                 filename=path.name, status="imported", created_at=clock.now())
            session.add(bank_file)
            session.flush()
            if kind == "pain.002":
                apply_status_report(session, bank_file, message, part, as_of)
            else:
                apply_notification(session, bank_file, message, part, as_of)
            report.announce(part)
            _commit_keeping(session, part.paid + part.rejected)
    except FileNotFoundError:
        session.rollback()
        return
    except IntegrityError:  # another worker imported the same message meanwhile
        session.rollback()
        _finish(path, report, skipped=True)
        return
    except Exception as error:  # noqa: BLE001 - whatever the reason, the file is kept aside with it
        session.rollback()
        reason = error.reason if isinstance(error, xsd.InvalidFile) else f"{type(error).__name__}: {error}"
        if not isinstance(error, xsd.InvalidFile):
            log.exception("bank file %s failed", path.name)
        log.error("bank file %s cannot be imported: %s", path.name, reason)
        _finish(path, report, failed=reason)
        return
    report.files.append(bank_file)
    report.add(part)
    _finish(path, report)


def _imported_already(session, message_id):
    return session.scalar(select(BankFile.id).where(BankFile.direction == "in", BankFile.message_id == message_id))


def _finish(path, report, skipped=False, failed=None):
    """The file moved to processed/ (failed/ with its reason) and counted."""
    if failed is not None:
        _move(path, "failed", failed)
        report.failed.append((path.name, failed))
        return
    _move(path, "processed")
    if skipped:
        report.skipped.append(path.name)


def _move(path, folder, reason=None):
    folder = path.parent / folder
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}-{new_id('')}{path.suffix}"
    try:
        shutil.move(str(path), str(target))
    except FileNotFoundError:  # another worker moved it first
        return None
    if reason is not None:
        reason_file = target.with_name(target.name + ".reason.txt")
        temporary = reason_file.with_name(reason_file.name + ".tmp")
        temporary.write_text(reason + "\n", encoding="utf-8")
        os.replace(temporary, reason_file)
    return target


def _commit_keeping(session, payments):
    """Commit, expiring every object as a commit does but `payments`: what they hold is what
    was just written, and their events are built from them (10 000 reloads otherwise)."""
    kept = {id(payment) for payment in payments}
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire
    if expire:
        for instance in list(session.identity_map.values()):
            if id(instance) not in kept:
                session.expire(instance)


# --- camt.054 -----------------------------------------------------------------------------

def apply_notification(session, bank_file, transactions, part, as_of):
    """A camt.054's transactions (BankTransactions, in the file's order), CHUNK at a time: the
    chunk's payments read and locked in one query, each transaction reconciled with its
    payment as the transactions before it left it, the decisions written in bulk."""
    applier = _Notification(session, bank_file, part, as_of)
    chunk = []
    for transaction in transactions:
        chunk.append(transaction)
        if len(chunk) >= CHUNK:
            applier.apply(chunk)
            chunk = []
    if chunk:
        applier.apply(chunk)


class _Notification:
    def __init__(self, session, bank_file, part, as_of):
        self.session, self.bank_file, self.part, self.as_of = session, bank_file, part, as_of
        self.payments, self.looked_up = {}, set()  # every payment read so far, by end-to-end id
        self.writes = store.Writes(session, bank_file, clock.now(), IdMaker())  # one instant stamps the file

    def apply(self, transactions):
        wanted = {t.end_to_end_id for t in transactions if t.end_to_end_id} - self.looked_up
        self.payments.update(store.payments_by_e2e(self.session, wanted))
        self.looked_up |= wanted
        for transaction in transactions:
            self.decide(transaction)
        self.writes.flush()

    def decide(self, transaction):
        session, part, writes, events = self.session, self.part, self.writes, self.part.events
        payment = self.payments.get(transaction.end_to_end_id) if transaction.end_to_end_id else None
        payout = None
        if payment is None and transaction.booked and not transaction.credit and not transaction.reversal:
            payout = store.payout_by_e2e(session, transaction.end_to_end_id)  # a payout the bank executed
        decision = domain.reconcile(payment, transaction, payout)
        booked = transaction.booking_date or self.as_of
        if decision.kind in (domain.UNMATCHED, domain.INFORMATION):
            owner = payment or payout
            part.unmatched.append(store.keep_unmatched(
                session, self.bank_file, transaction.end_to_end_id, transaction.amount, decision.why, transaction,
                owner.merchant_id if owner is not None else None))
        elif decision.kind == domain.PAYOUT_PAID_DECISION:
            domain.pay_payout(payout, writes.now, booked)
            writes.payout_entry(payout, decision.ledger, booked, transaction.value_date)
            part.payouts_paid.append(payout)
        elif decision.kind == domain.PAID_DECISION:
            writes.record(payment, domain.pay(payment, writes.now))
            writes.ledger_entry(payment, decision.ledger_code, decision.ledger, booked, transaction.value_date)
            part.paid.append(payment)
            events.paid(payment)
        else:  # returned or refunded
            writes.record(payment, domain.reject(payment, writes.now))
            r_transaction = writes.r_transaction(payment, decision.r_transaction_type, decision.reason_code,
                                                 decision.amount, booked)
            part.r_transactions.append(r_transaction)
            events.r_transaction(r_transaction, payment)
            if decision.ledger is not None:  # the credit was booked: the return takes it back
                writes.ledger_entry(payment, decision.ledger_code, decision.ledger, booked, transaction.value_date)
            part.rejected.append(payment)
            events.rejected(payment)


# --- pain.002 ------------------------------------------------------------------------------

def apply_status_report(session, bank_file, report, part, as_of):
    """Rejects per transaction, and whole blocks or files rejected without transaction detail."""
    lines = list(report.transactions)
    named = {line.original_end_to_end_id for line in lines}
    original = session.scalar(select(BankFile).where(BankFile.direction == "out",
                                                     BankFile.message_id == report.original_message_id))
    if original is not None:
        for info in report.payment_infos:
            if (info.status or "").upper() == "RJCT":
                lines += [domain.StatusLine("RJCT", info.reason_code, original_end_to_end_id=e2e)
                          for e2e in _block_payments(session, original, info.original_payment_info_id)
                          if e2e not in named]
        if report.rejected_as_a_whole and not lines:
            lines = [domain.StatusLine("RJCT", report.group_reason_code, original_end_to_end_id=e2e)
                     for e2e in session.scalars(select(Payment.end_to_end_id).where(
                         Payment.bank_file_id == original.id, Payment.status == domain.SUBMITTED))]
    writes = store.Writes(session, bank_file, clock.now())
    for line in lines:
        if (line.status or "").upper() != "RJCT":
            continue  # accepted: the credit will come with the camt.054 (no payment to read)
        payment = store.payment_by_e2e(session, line.original_end_to_end_id)
        decision = domain.reconcile(payment, line)
        if decision.kind == domain.UNMATCHED:
            part.unmatched.append(store.keep_unmatched(
                session, bank_file, line.original_end_to_end_id, payment.amount if payment else None, decision.why,
                line, payment.merchant_id if payment else None))
            continue
        domain.reject(payment, writes.now)  # a session object: written by the session's flush
        r_transaction = writes.r_transaction(payment, decision.r_transaction_type, decision.reason_code,
                                             decision.amount, as_of)
        part.r_transactions.append(r_transaction)
        part.events.r_transaction(r_transaction, payment)
        part.rejected.append(payment)
        part.events.rejected(payment)
    writes.flush()


def _block_payments(session, original, payment_info_id):
    """The payments of one payment-information block of an outbox file (`{message_id}-{n}`,
    numbered in the order collection.submit_due wrote them)."""
    groups = session.execute(select(Payment.due_date, Payment.sequence_type).where(
        Payment.bank_file_id == original.id).group_by(Payment.due_date, Payment.sequence_type)
        .order_by(Payment.due_date, Payment.sequence_type)).all()
    prefix, _, number = (payment_info_id or "").rpartition("-")
    if prefix != original.message_id or not number.isdigit() or not 0 < int(number) <= len(groups):
        return []
    due_date, sequence_type = groups[int(number) - 1]
    return session.scalars(select(Payment.end_to_end_id).where(
        Payment.bank_file_id == original.id, Payment.due_date == due_date,
        Payment.sequence_type == sequence_type)).all()
