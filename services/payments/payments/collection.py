"""The collection cycle, as plain functions taking a session: payments
scheduled once per instalment, submitted on D-1 in pain.008 files, the
bank's answers imported, replays and cancellations. The caller commits,
except `import_inbox`, which commits once per file (each file is atomic).
"""
import json
import logging
import os
import shutil
from collections import namedtuple
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from schwifty import IBAN
from sqlalchemy import exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from common import clock
from common.calendar import following_business_day, is_business_day, next_business_day
from common.errors import Conflict, Invalid, NotFound
from common.ids import new_id
from common.money import from_decimal, parse_amount
from payments import reason_codes
from payments.models import (BankFile, Creditor, Payment, RTransaction, take_writing_file,
                             UnmatchedEntry)

log = logging.getLogger(__name__)

DEFAULT_PRENOTIFICATION_DAYS = 14
MAX_AUTOMATIC_RETRIES = 2  # spec §3: retryable codes only, at most twice
STREAM_ROWS = 2000
LIVE = ("scheduled", "submitted", "paid")  # a debit the debtor's bank has seen or will see


def _day(value):
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(value[:10])


def _cents(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        return from_decimal(value)
    return parse_amount(str(value))


def same_bank(old_iban, old_bic, new_iban, new_bic):
    """Whether the debtor stays at the same bank (else the next debit says SMNDA).
    Duplicated from mandates on purpose: services share no package."""
    if old_bic and new_bic:
        return old_bic[:8] == new_bic[:8]
    old, new = IBAN(old_iban), IBAN(new_iban)
    return (old.country_code, old.bank_code) == (new.country_code, new.bank_code)


def amendment_of(payment):
    return json.loads(payment.amendment) if payment.amendment else None


# --- 1. scheduling ----------------------------------------------------------

def _sequence(mandate, last_account, is_last):
    """(sequence type, amendment) of the next debit on `mandate` (spec §3): the account it
    was last debited on tells whether the bank details changed since."""
    if mandate.get("sequence") == "one_off":
        return "OOFF", None
    if last_account is None:
        return "FRST", None  # the debtor's bank has never seen this mandate: no amendment to tell
    following = "FNAL" if is_last else "RCUR"
    old_iban, old_bic = last_account
    if old_iban == mandate["iban"]:
        return following, None
    if not same_bank(old_iban, old_bic, mandate["iban"], mandate.get("bic")):
        return "FRST", {"original_iban": None, "original_debtor_agent_smnda": True}
    return following, {"original_iban": old_iban, "original_debtor_agent_smnda": False}


def schedule_due(session, instalments, mandates_by_id, as_of=None):
    """One `scheduled` payment per instalment key, ever (instalments as plans.due_instalments
    gives them; mandates as mandates.get_mandate gives them, by id).

    An instalment whose mandate is missing or not active gets no payment. Returns the
    payments created by this call. A page of instalments costs a few statements, not a few
    per instalment: see payments.scheduling."""
    from payments.scheduling import schedule_due as schedule_page

    return schedule_page(session, instalments, mandates_by_id, as_of)


# --- 2. submission ----------------------------------------------------------

Submission = namedtuple("Submission", "bank_file count total_cents")

_DEBIT_COLUMNS = (Payment.end_to_end_id, Payment.amount, Payment.mandate_reference,
                  Payment.mandate_signed_on, Payment.debtor_name, Payment.iban, Payment.bic,
                  Payment.label, Payment.amendment)


def submission_cutoff(as_of):
    """The last due date submitted on `as_of`: a debit leaves on D-1 (TARGET2), so every
    due date whose previous business day is on or before `as_of`."""
    return following_business_day(as_of)


def _creditor_dict(creditor):
    return {"name": creditor.name, "iban": creditor.iban, "bic": creditor.bic,
            "creditor_id": creditor.creditor_id}


def _debits(session, bank_file_id, due_date, sequence_type):
    rows = session.execute(
        select(*_DEBIT_COLUMNS).where(Payment.bank_file_id == bank_file_id, Payment.due_date == due_date,
                                      Payment.sequence_type == sequence_type)
        .order_by(Payment.id).execution_options(yield_per=STREAM_ROWS))
    for row in rows:
        yield {"end_to_end_id": row.end_to_end_id, "amount": row.amount,
               "mandate_reference": row.mandate_reference, "mandate_signed_on": row.mandate_signed_on,
               "debtor_name": row.debtor_name, "debtor_iban": row.iban, "debtor_bic": row.bic,
               "remittance": row.label, "amendment": json.loads(row.amendment) if row.amendment else None}


def _batches(session, bank_file_id, message_id, groups):
    for number, group in enumerate(groups, 1):
        yield {"payment_info_id": f"{message_id}-{number}", "due_date": group.due_date,
               "sequence_type": group.sequence_type, "count": group.count, "total": int(group.total),
               "debits": _debits(session, bank_file_id, group.due_date, group.sequence_type)}


def submit_due(session, as_of, outbox_dir, writer=None, announce=None):
    """Every `scheduled` payment due by D-1 goes into one pain.008 file per merchant
    (a payment-information block per due date and sequence type); they become `submitted`.

    Never twice, even across a crash: the claim (payments `submitted`, their file
    recorded as `writing`) is committed before the file is written, and a file still
    `writing` is written again from its payments at the next run; the write itself is
    atomic. Rows are claimed with FOR UPDATE SKIP LOCKED, so two replicas never take
    the same payment, and a file is written by the worker holding its row's lock
    (models.take_writing_file), so two workers never write nor announce the same file;
    totals come from SQL and debits are streamed. Commits as it goes;
    returns a Submission per file written. `announce(bank_file)` stages the events of a
    file in the commit that marks it written."""
    if writer is None:
        from payments.pain008 import build_pain008_file as writer
    outbox = Path(outbox_dir)
    cutoff, now = submission_cutoff(as_of), clock.now()
    due = (Payment.status == "scheduled", Payment.due_date <= cutoff)
    merchants = session.scalars(select(Payment.merchant_id).where(*due).distinct()).all()
    for merchant_id in sorted(merchants):
        creditor = session.get(Creditor, merchant_id)
        if creditor is None:
            log.error("merchant %s has no creditor profile: its payments wait", merchant_id)
            continue
        _claim(session, creditor, due, now)
    unwritten = session.scalars(select(BankFile.id).where(
        BankFile.direction == "out", BankFile.kind == "pain.008", BankFile.status == "writing")
        .order_by(BankFile.id)).all()
    submissions = []
    for file_id in unwritten:
        bank_file = take_writing_file(session, file_id)
        if bank_file is not None:  # else written meanwhile, or being written by another worker
            submissions.append(_write_claimed(session, bank_file, outbox, writer, announce))
    return submissions


def _claim(session, creditor, due, now):
    """Mark the merchant's due payments `submitted` in a new file `writing`; commit."""
    merchant_id, file_id = creditor.merchant_id, new_id("BF")
    claim = (select(Payment.id).where(Payment.merchant_id == merchant_id, *due)
             .with_for_update(skip_locked=True).scalar_subquery())
    claimed = session.execute(
        update(Payment).where(Payment.id.in_(claim))
        .values(status="submitted", submitted_at=now, bank_file_id=file_id)
        .execution_options(synchronize_session=False)).rowcount
    if claimed and creditor.first_debit_as_rcur:
        # Since the 2016 rulebook banks accept RCUR for a first debit: the merchant's choice.
        session.execute(update(Payment).where(Payment.bank_file_id == file_id, Payment.sequence_type == "FRST")
                        .values(sequence_type="RCUR").execution_options(synchronize_session=False))
    if claimed:
        session.add(BankFile(id=file_id, merchant_id=merchant_id, direction="out", kind="pain.008",
                             message_id=file_id, filename=f"pain008-{merchant_id}-{file_id}.xml",
                             status="writing", created_at=now))
    session.commit()


def _write_claimed(session, bank_file, outbox, writer, announce=None):
    """Write the pain.008 of a claimed file (again, after a crash) and mark it `written`."""
    file_id = bank_file.id
    groups = session.execute(
        select(Payment.due_date, Payment.sequence_type, func.count().label("count"),
               func.sum(Payment.amount).label("total"))
        .where(Payment.bank_file_id == file_id)
        .group_by(Payment.due_date, Payment.sequence_type)
        .order_by(Payment.due_date, Payment.sequence_type)).all()
    totals = (sum(g.count for g in groups), sum(int(g.total) for g in groups))
    outbox.mkdir(parents=True, exist_ok=True)
    writer(outbox / bank_file.filename, message_id=file_id, created_at=bank_file.created_at,
           creditor=_creditor_dict(session.get(Creditor, bank_file.merchant_id)),
           batches=_batches(session, file_id, file_id, groups), totals=totals)
    bank_file.status = "written"
    if announce is not None:
        announce(bank_file)
    session.commit()
    session.expire_all()  # the bulk update bypassed the identity map
    return Submission(bank_file, *totals)


def submitted_payments(session, bank_file_id):
    """The payments of an outbox file, streamed (for their events)."""
    return session.scalars(select(Payment).where(Payment.bank_file_id == bank_file_id)
                           .order_by(Payment.id).execution_options(yield_per=STREAM_ROWS))


# --- 3. the bank's answers --------------------------------------------------

class Imported:
    """What an import did, for the calls made after the commit. `announce(part)` is called
    with each file's part just before the file's commit, to stage its events in it."""

    def __init__(self, announce=None):
        self.files, self.failed, self.skipped = [], [], []
        self.paid, self.rejected, self.r_transactions, self.unmatched = [], [], [], []
        self.payouts_paid = []
        self.announce = announce or (lambda part: None)


def _field(item, name, default=None):
    if isinstance(item, dict):
        return item.get(name, default)
    return getattr(item, name, default)


def read_bank_file(path, streamed=False):
    """(kind, parsed) of an inbox file, by its message name; xsd.InvalidFile otherwise.
    The name comes from the root element alone; a camt.054 is then read as a stream
    (`streamed`: not read here, ("camt.054", None): camt054_import.import_streamed reads it)."""
    from payments import camt054, pain002, xsd

    with open(path, "rb") as file:  # FileNotFoundError: another worker took it first
        message = _message_name(file) or ""
        file.seek(0)
        if message.startswith("pain.002"):
            return "pain.002", pain002.parse_pain002(file.read())
        if message.startswith("camt.054"):
            return "camt.054", None if streamed else camt054.parse_camt054(file)
    raise xsd.InvalidFile(f"neither a pain.002 nor a camt.054 file ({message or 'unknown message'})")


def _message_name(file):
    """The ISO message name of the <Document> at the head of `file`, read up to its root."""
    from lxml import etree

    from payments import xsd

    if os.fstat(file.fileno()).st_size == 0:
        raise xsd.InvalidFile("empty file")
    try:
        for _, root in etree.iterparse(file, events=("start",), resolve_entities=False, no_network=True,
                                       load_dtd=False, huge_tree=False):
            docinfo = root.getroottree().docinfo
            if docinfo.doctype or docinfo.internalDTD is not None:
                raise xsd.InvalidFile("DOCTYPE declarations are not accepted in bank files")
            return xsd.message_of(root)
    except etree.XMLSyntaxError as error:
        raise xsd.InvalidFile(f"not well-formed XML: {error}") from None
    return None


def _move(path, folder, reason=None):
    folder = path.parent / folder
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}-{new_id('')}{path.suffix}"
    try:
        shutil.move(str(path), str(target))
    except FileNotFoundError:  # another replica moved it first
        return None
    if reason is not None:
        reason_file = target.with_name(target.name + ".reason.txt")
        temporary = reason_file.with_name(reason_file.name + ".tmp")
        temporary.write_text(reason + "\n", encoding="utf-8")
        os.replace(temporary, reason_file)
    return target


def _inbox_files(inbox):
    return sorted(p for p in inbox.iterdir()
                  if p.is_file() and not p.name.startswith(".") and not p.name.endswith((".tmp", ".part")))


def import_inbox(session, inbox_dir, as_of=None, announce=None):
    """Import every file of the inbox once, one transaction (and commit) per file; moves
    each to processed/ (failed/ with a .reason.txt when it cannot be read). Returns Imported
    (see it for `announce`)."""
    inbox, report, as_of = Path(inbox_dir), Imported(announce), as_of or clock.today()
    if not inbox.is_dir():
        return report
    for path in _inbox_files(inbox):
        import_file(session, path, report, as_of)
    return report


def import_file(session, path, report, as_of):
    path = Path(path)
    try:
        kind, parsed = read_bank_file(path, streamed=True)
        message_id = _field(parsed, "message_id") if parsed is not None else None
        if parsed is not None and not message_id:
            raise ValueError("the file has no message id")
    except FileNotFoundError:  # another worker (the inbox timer, a replica) took it first
        return
    except Exception as error:  # noqa: BLE001 - whatever the reason, the file is kept aside with it
        reason = getattr(error, "reason", None) or str(error) or type(error).__name__
        log.error("bank file %s cannot be imported: %s", path.name, reason)
        _move(path, "failed", reason)
        report.failed.append((path.name, reason))
        return
    if parsed is None:  # a camt.054: applied chunk by chunk while the rest of it is read
        from payments.camt054_import import import_streamed

        return import_streamed(session, path, report, as_of)
    seen = session.scalar(select(BankFile.id).where(BankFile.direction == "in",
                                                    BankFile.message_id == message_id))
    if seen:
        log.info("bank file %s (message %s) was imported already", path.name, message_id)
        _move(path, "processed")
        report.skipped.append(path.name)
        return
    part = Imported()
    try:
        bank_file = BankFile(id=new_id("BF"), direction="in", kind=kind, message_id=message_id,
                             filename=path.name, status="imported", created_at=clock.now())
        session.add(bank_file)
        session.flush()
        if kind == "pain.002":
            _apply_pain002_report(session, bank_file, parsed, part, as_of)
        else:
            from payments.camt054_import import apply_camt054

            apply_camt054(session, bank_file, _field(parsed, "transactions") or (), part, as_of)
        report.announce(part)
        _commit_keeping(session, part.paid + part.rejected)
    except IntegrityError:  # another replica imported the same message meanwhile
        session.rollback()
        _move(path, "processed")
        report.skipped.append(path.name)
        return
    except Exception as error:
        session.rollback()
        log.exception("bank file %s failed", path.name)
        _move(path, "failed", f"{type(error).__name__}: {error}")
        report.failed.append((path.name, str(error)))
        return
    _move(path, "processed")
    report.files.append(bank_file)
    for name in ("paid", "rejected", "r_transactions", "unmatched", "payouts_paid"):
        getattr(report, name).extend(getattr(part, name))


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


def _as_dict(entry):
    if isinstance(entry, dict):
        return entry
    if hasattr(entry, "_asdict"):
        return entry._asdict()
    if hasattr(entry, "__dataclass_fields__"):
        return {name: getattr(entry, name) for name in entry.__dataclass_fields__}
    return dict(vars(entry))


def _unmatched(session, bank_file, part, end_to_end_id, amount, why, entry, merchant_id=None):
    details = {key: (value.isoformat() if isinstance(value, date) else
                     str(value) if isinstance(value, Decimal) else value)
               for key, value in _as_dict(entry).items()}
    row = UnmatchedEntry(id=new_id("UE"), merchant_id=merchant_id, bank_file_id=bank_file.id,
                         end_to_end_id=(end_to_end_id or "")[:35] or None,
                         amount=amount, details=json.dumps({"reason": why, "entry": details}),
                         created_at=clock.now())
    session.add(row)
    part.unmatched.append(row)
    return row


def _payment_by_e2e(session, end_to_end_id):
    if not end_to_end_id:
        return None
    return session.scalar(select(Payment).where(Payment.end_to_end_id == end_to_end_id).with_for_update())


def _r_transaction(session, payment, bank_file, kind, code, amount, received_on, part):
    reason = reason_codes.reason(code)
    r_transaction = RTransaction(
        id=new_id("RT"), merchant_id=payment.merchant_id, payment_id=payment.id,
        type=reason_codes.r_transaction_type(kind, code), reason_code=(code or "").upper(),
        reason=reason.en, amount=amount, received_on=received_on, retryable=reason.retryable,
        status="open", bank_file_id=bank_file.id, created_at=clock.now())
    session.add(r_transaction)
    part.r_transactions.append(r_transaction)
    return r_transaction


def _block_payments(session, original, payment_info_id):
    """The payments of one payment-information block of an outbox file (`{message_id}-{n}`,
    numbered in the order submit_due wrote them)."""
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


def _apply_pain002_report(session, bank_file, report, part, as_of):
    """Rejects per transaction, and whole blocks or files rejected without transaction detail."""
    transactions = list(_field(report, "transactions") or ())
    named = {_field(t, "original_end_to_end_id") for t in transactions}
    original = session.scalar(select(BankFile).where(
        BankFile.direction == "out", BankFile.message_id == _field(report, "original_message_id")))
    if original is not None:
        for info in _field(report, "payment_infos") or ():
            if (_field(info, "status") or "").upper() == "RJCT":
                block = _block_payments(session, original, _field(info, "original_payment_info_id"))
                transactions += [{"original_end_to_end_id": e2e, "status": "RJCT",
                                  "reason_code": _field(info, "reason_code")}
                                 for e2e in block if e2e not in named]
        if (_field(report, "group_status") or "").upper() == "RJCT" and not transactions:
            transactions = [{"original_end_to_end_id": e2e, "status": "RJCT",
                             "reason_code": _field(report, "group_reason_code")}
                            for e2e in session.scalars(select(Payment.end_to_end_id).where(
                                Payment.bank_file_id == original.id, Payment.status == "submitted"))]
    for transaction in transactions:
        _apply_pain002(session, bank_file, transaction, part, as_of)


def _apply_pain002(session, bank_file, transaction, part, as_of):
    if (_field(transaction, "status") or "").upper() != "RJCT":
        return  # accepted: the credit will come with the camt.054
    end_to_end_id = _field(transaction, "original_end_to_end_id")
    code = _field(transaction, "reason_code") or "MS03"  # a reject without reason: "not specified"
    payment = _payment_by_e2e(session, end_to_end_id)
    if payment is None:
        _unmatched(session, bank_file, part, end_to_end_id, None, "no payment has this end-to-end id",
                   transaction)
        return
    if payment.status != "submitted":
        _unmatched(session, bank_file, part, end_to_end_id, payment.amount,
                   f"reject of a payment that is {payment.status}", transaction, payment.merchant_id)
        return
    payment.status, payment.rejected_at = "rejected", clock.now()
    _r_transaction(session, payment, bank_file, "pain.002", code, payment.amount, as_of, part)
    part.rejected.append(payment)


# --- 4. replays -------------------------------------------------------------

def find_payment(session, merchant_id, payment_id, lock=False):
    query = select(Payment).where(Payment.merchant_id == merchant_id, Payment.id == payment_id)
    payment = session.scalar(query.with_for_update() if lock else query)
    if payment is None:
        raise NotFound(f"no payment {payment_id}", {"payment_id": "not found"})
    return payment


def prenotification_days(session, merchant_id):
    creditor = session.get(Creditor, merchant_id)
    return creditor.prenotification_days if creditor else DEFAULT_PRENOTIFICATION_DAYS


def first_possible_due_date(session, merchant_id, as_of):
    """The first TARGET2 business day the debtor can still be pre-notified for."""
    return next_business_day(as_of + timedelta(days=prenotification_days(session, merchant_id)))


def replay(session, merchant_id, payment_id, mandate, due_date=None, as_of=None, automatic=False):
    """Present a rejected payment again: a new `scheduled` payment, `replay_of` it, attempt + 1,
    with the mandate's current bank details (`mandate` as mandates.get_mandate gives it).

    Conflict unless the payment is rejected, the mandate active and no replay exists yet;
    Invalid when `due_date` is not a business day or too early for the pre-notification."""
    as_of = as_of or clock.today()
    payment = find_payment(session, merchant_id, payment_id, lock=True)
    if payment.status != "rejected":
        raise Conflict(f"payment {payment_id} is {payment.status}: only a rejected payment is replayed",
                       {"status": f"the payment is {payment.status}, not rejected"})
    if (mandate or {}).get("status") != "active":
        status = (mandate or {}).get("status", "unknown")
        raise Conflict(f"mandate {payment.mandate_id} is {status}",
                       {"mandate_id": f"the mandate is {status}, not active"})
    replayed_by = session.scalar(select(Payment.id).where(Payment.replay_of == payment.id))
    if replayed_by:
        raise Conflict(f"payment {payment_id} was already replayed by {replayed_by}",
                       {"replayed_by": replayed_by})
    earliest = first_possible_due_date(session, merchant_id, as_of)
    if due_date is None:
        due_date = earliest
    elif not is_business_day(due_date):
        raise Invalid("due_date: not a TARGET2 business day", {"due_date": "not a TARGET2 business day"})
    elif due_date < earliest:
        message = f"on or after {earliest.isoformat()}, for the debtor's pre-notification"
        raise Invalid(f"due_date: {message}", {"due_date": message})
    sequence_type, amendment = payment.sequence_type, amendment_of(payment)
    if mandate.get("iban") and mandate["iban"] != payment.iban:
        moved = not same_bank(payment.iban, payment.bic, mandate["iban"], mandate.get("bic"))
        amendment = ({"original_iban": None, "original_debtor_agent_smnda": True} if moved else
                     {"original_iban": payment.iban, "original_debtor_agent_smnda": False})
        if moved and sequence_type != "OOFF":
            sequence_type = "FRST"
    new_payment_id = new_id("PM")
    again = Payment(
        id=new_payment_id, merchant_id=merchant_id, plan_id=payment.plan_id, instalment_key=None,
        sequence_no=payment.sequence_no, mandate_id=payment.mandate_id, subscriber_id=payment.subscriber_id,
        mandate_reference=payment.mandate_reference, mandate_signed_on=payment.mandate_signed_on,
        debtor_name=payment.debtor_name, debtor_email=payment.debtor_email,
        iban=mandate.get("iban") or payment.iban, bic=mandate.get("bic") or payment.bic,
        amendment=json.dumps(amendment) if amendment else None, amount=payment.amount,
        currency=payment.currency, label=payment.label, due_date=due_date, sequence_type=sequence_type,
        end_to_end_id=new_payment_id, status="scheduled", replay_of=payment.id,
        attempt=payment.attempt + 1, automatic=automatic, created_at=clock.now())
    session.add(again)
    for r_transaction in session.scalars(select(RTransaction).where(
            RTransaction.payment_id == payment.id, RTransaction.status == "open")):
        r_transaction.status, r_transaction.replayed_by = "replayed", again.id
    session.flush()
    return again


def should_retry(session, payment, r_transaction):
    """Automatic retry (per merchant, off by default): retryable codes only, at most twice."""
    creditor = session.get(Creditor, payment.merchant_id)
    return bool(creditor and creditor.automatic_retry and r_transaction.retryable
                and payment.attempt <= MAX_AUTOMATIC_RETRIES and payment.status == "rejected"
                and not session.scalar(select(exists().where(Payment.replay_of == payment.id))))


# --- 5. the mandate's life --------------------------------------------------

def cancel_for_mandate(session, merchant_id, mandate_id):
    """A revoked or expired mandate: its `scheduled` payments are cancelled. Returns them."""
    payments = session.scalars(select(Payment).where(
        Payment.merchant_id == merchant_id, Payment.mandate_id == mandate_id,
        Payment.status == "scheduled").with_for_update()).all()
    now = clock.now()
    for payment in payments:
        payment.status, payment.cancelled_at = "cancelled", now
    session.flush()
    return payments


def amend_for_mandate(session, merchant_id, mandate_id, amended):
    """New bank details (a mandates.mandate_amended payload) on the `scheduled` payments of the
    mandate. The next debit carries the amendment (AmdmntInd with the original IBAN, or SMNDA
    and FRST again when the debtor changed bank) unless the debtor's bank never saw the
    mandate. Returns the payments changed."""
    payments = session.scalars(select(Payment).where(
        Payment.merchant_id == merchant_id, Payment.mandate_id == mandate_id,
        Payment.status == "scheduled").order_by(Payment.due_date, Payment.id).with_for_update()).all()
    if not payments:
        return []
    moved = amended.get("same_bank") is False or (amended.get("same_bank") is None and not same_bank(
        amended["old_iban"], amended.get("old_bic"), amended["new_iban"], amended.get("new_bic")))
    seen_by_bank = session.scalar(select(exists().where(
        Payment.merchant_id == merchant_id, Payment.mandate_id == mandate_id,
        Payment.status.in_(("submitted", "paid")))))
    for number, payment in enumerate(payments):
        payment.iban, payment.bic = amended["new_iban"], amended.get("new_bic")
        if number > 0 or not seen_by_bank:
            payment.amendment = None  # only the next debit tells the bank, and only a bank that knew
            continue
        previous = amendment_of(payment) or {}
        if moved or previous.get("original_debtor_agent_smnda"):
            payment.amendment = json.dumps({"original_iban": None, "original_debtor_agent_smnda": True})
            if payment.sequence_type != "OOFF":
                payment.sequence_type = "FRST"
        else:  # the bank knows the mandate under its first IBAN: keep the oldest
            payment.amendment = json.dumps({"original_iban": previous.get("original_iban") or amended["old_iban"],
                                            "original_debtor_agent_smnda": False})
    session.flush()
    return payments
