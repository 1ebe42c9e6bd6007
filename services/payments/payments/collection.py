"""The collection cycle, as plain functions taking a session: payments
scheduled once per instalment, submitted on D-1 in pain.008 files, replays
and cancellations (the bank's answers: payments.inbox). The caller commits,
except `submit_due`, which commits as it goes.
"""
import json
import logging
from collections import namedtuple
from datetime import timedelta
from pathlib import Path

from sqlalchemy import exists, func, select, update

from common import clock
from common.calendar import following_business_day, is_business_day, next_business_day
from common.errors import Conflict, Invalid, NotFound
from common.ids import new_id
from payments import domain, scheduling
from payments.domain import same_bank
from payments.iso20022.pain008 import build_pain008_file
from payments.models import BankFile, Creditor, Payment, RTransaction, take_writing_file

log = logging.getLogger(__name__)

DEFAULT_PRENOTIFICATION_DAYS = 14
MAX_AUTOMATIC_RETRIES = 2  # spec §3: retryable codes only, at most twice
STREAM_ROWS = 2000


def amendment_of(payment):
    return json.loads(payment.amendment) if payment.amendment else None


# --- 1. scheduling ----------------------------------------------------------

def schedule_due(session, instalments, mandates_by_id, as_of=None):
    """One `scheduled` payment per instalment key, ever (instalments as plans.due_instalments
    gives them; mandates as mandates.get_mandate gives them, by id).

    An instalment whose mandate is missing or not active gets no payment. Returns the
    payments created by this call. A page of instalments costs a few statements, not a few
    per instalment: see payments.scheduling."""
    return scheduling.schedule_due(session, instalments, mandates_by_id, as_of)


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
    writer = writer or build_pain008_file
    outbox = Path(outbox_dir)
    cutoff, now = submission_cutoff(as_of), clock.now()
    due = (Payment.status.in_(domain.PAYMENT_MOVES["submit"][0]), Payment.due_date <= cutoff)
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
    _, submitted, stamp = domain.PAYMENT_MOVES["submit"]  # domain.submit, in bulk (the claim's WHERE)
    claimed = session.execute(
        update(Payment).where(Payment.id.in_(claim))
        .values({"status": submitted, stamp: now, "bank_file_id": file_id})
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
    if payment.status != domain.REJECTED:
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
        end_to_end_id=new_payment_id, status=domain.SCHEDULED, replay_of=payment.id,
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
                and payment.attempt <= MAX_AUTOMATIC_RETRIES and payment.status == domain.REJECTED
                and not session.scalar(select(exists().where(Payment.replay_of == payment.id))))


# --- 5. the mandate's life --------------------------------------------------

def cancel_for_mandate(session, merchant_id, mandate_id):
    """A revoked or expired mandate: its `scheduled` payments are cancelled. Returns them."""
    payments = session.scalars(select(Payment).where(
        Payment.merchant_id == merchant_id, Payment.mandate_id == mandate_id,
        Payment.status == domain.SCHEDULED).with_for_update()).all()
    now = clock.now()
    for payment in payments:
        domain.cancel(payment, now)
    session.flush()
    return payments


def amend_for_mandate(session, merchant_id, mandate_id, amended):
    """New bank details (a mandates.mandate_amended payload) on the `scheduled` payments of the
    mandate. The next debit carries the amendment (AmdmntInd with the original IBAN, or SMNDA
    and FRST again when the debtor changed bank) unless the debtor's bank never saw the
    mandate. Returns the payments changed."""
    payments = session.scalars(select(Payment).where(
        Payment.merchant_id == merchant_id, Payment.mandate_id == mandate_id,
        Payment.status == domain.SCHEDULED).order_by(Payment.due_date, Payment.id).with_for_update()).all()
    if not payments:
        return []
    moved = amended.get("same_bank") is False or (amended.get("same_bank") is None and not same_bank(
        amended["old_iban"], amended.get("old_bic"), amended["new_iban"], amended.get("new_bic")))
    seen_by_bank = session.scalar(select(exists().where(
        Payment.merchant_id == merchant_id, Payment.mandate_id == mandate_id,
        Payment.status.in_((domain.SUBMITTED, domain.PAID)))))
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
