"""The payments' domain: what a bank transaction says, the states of a payment and of a
payout, the moves between them, and the decision a bank transaction leads to.

Pure: no session, no SQL, no clock read here (the caller gives the instant). The readers
of payments.iso20022 give BankTransaction and StatusReport values; the inbox reconciles
them with `reconcile` and applies the decision with the moves below, which are the only
code that sets a payment's or a payout's status.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from schwifty import IBAN

from common.errors import Conflict

# --- what the bank says -------------------------------------------------------------------

BOOKED = "BOOK"  # camt.054 entry status: booked on the account; PDNG and INFO move no money


@dataclass(frozen=True)
class BankTransactionCode:
    """BkTxCd: the ISO domain, family and sub-family codes, and the bank's proprietary code."""
    domain: str | None = None
    family: str | None = None
    sub_family: str | None = None
    proprietary: str | None = None


@dataclass(frozen=True)
class BankTransaction:
    """One transaction of a camt.054 notification: a TxDtls, or an entry that has none.

    Amounts are positive integer cents; `amount` is the transaction's (TxDtls/Amt, else
    AmtDtls/TxAmt, else AmtDtls/InstdAmt, else the entry's), `entry_amount` the entry's
    whole (a batch-booked credit carries the batch's sum). Dates are the local day the bank
    gives; `booked_at`/`valued_at` the instant when it gives a DtTm (with its offset, if any).
    """
    status: str | None  # BOOK, PDNG, INFO (Sts, or Sts/Cd from 001.08)
    credit_debit: str  # CRDT or DBIT
    reversal: bool
    amount: int | None
    currency: str | None
    entry_amount: int | None = None
    transaction_amount: int | None = None
    instructed_amount: int | None = None
    charges: int | None = None
    end_to_end_id: str | None = None
    instruction_id: str | None = None
    mandate_id: str | None = None
    payment_info_id: str | None = None
    batch_count: int = 1
    booking_date: date | None = None
    booked_at: datetime | None = None
    value_date: date | None = None
    valued_at: datetime | None = None
    entry_reference: str | None = None
    bank_transaction_code: BankTransactionCode | None = None
    return_reason_code: str | None = None
    return_information: str | None = None

    @property
    def booked(self) -> bool:
        return self.status == BOOKED

    @property
    def credit(self) -> bool:
        return self.credit_debit == "CRDT"


@dataclass(frozen=True)
class StatusLine:
    """One line of a pain.002: a transaction's or a whole payment-information block's status."""
    status: str | None  # RJCT, ACCP, ACSC, PDNG...
    reason_code: str | None
    original_end_to_end_id: str | None = None
    original_payment_info_id: str | None = None
    original_amount: int | None = None


@dataclass(frozen=True)
class StatusReport:
    """A pain.002: the bank's status report on one of our files."""
    message_id: str
    original_message_id: str
    group_status: str | None
    group_reason_code: str | None
    payment_infos: tuple[StatusLine, ...] = ()
    transactions: tuple[StatusLine, ...] = ()

    @property
    def rejected_as_a_whole(self) -> bool:
        return self.group_status == "RJCT"


# --- states and moves ---------------------------------------------------------------------

class IllegalMove(Conflict):
    """A move the state of a payment or payout does not allow (a bug, or a race lost)."""


SCHEDULED, SUBMITTED, PAID, REJECTED, CANCELLED = "scheduled", "submitted", "paid", "rejected", "cancelled"
LIVE = (SCHEDULED, SUBMITTED, PAID)  # a debit the debtor's bank has seen or will see
PAYOUT_PENDING, PAYOUT_SENT, PAYOUT_PAID, PAYOUT_FAILED = "pending", "sent", "paid", "failed"
PAYOUT_IN_PROGRESS = (PAYOUT_PENDING, PAYOUT_SENT)  # not yet paid: their money is spoken for

# move: (the states it leaves, the state it reaches, the instant it stamps)
PAYMENT_MOVES = {
    "submit": ((SCHEDULED,), SUBMITTED, "submitted_at"),
    "pay": ((SUBMITTED,), PAID, "paid_at"),
    "reject": ((SUBMITTED, PAID), REJECTED, "rejected_at"),  # a return takes back a paid debit
    "cancel": ((SCHEDULED,), CANCELLED, "cancelled_at"),
}
PAYOUT_MOVES = {
    "send": ((PAYOUT_PENDING,), PAYOUT_SENT, "sent_at"),
    "pay": (PAYOUT_IN_PROGRESS, PAYOUT_PAID, "paid_at"),
}


def _move(kind, moves, name, thing, at) -> dict:
    """Set the move's status and instant on `thing`; the values set (for a bulk write)."""
    sources, target, stamp = moves[name]
    if thing.status not in sources:
        raise IllegalMove(f"{kind} {thing.id} is {thing.status}: it cannot {name} "
                          f"(only from {' or '.join(sources)})", {"status": thing.status})
    values = {"status": target, stamp: at}
    for column, value in values.items():
        setattr(thing, column, value)
    return values


def submit(payment, at) -> dict:
    """In a pain.008 handed to the bank."""
    return _move("payment", PAYMENT_MOVES, "submit", payment, at)


def pay(payment, at) -> dict:
    """Credited on the merchant's account (a booked camt.054 credit)."""
    return _move("payment", PAYMENT_MOVES, "pay", payment, at)


def reject(payment, at) -> dict:
    """An R-transaction arrived: a reject before settlement, a return or refund after."""
    return _move("payment", PAYMENT_MOVES, "reject", payment, at)


def cancel(payment, at) -> dict:
    """Not submitted, and never will be (its mandate revoked or expired)."""
    return _move("payment", PAYMENT_MOVES, "cancel", payment, at)


def send_payout(payout, at) -> dict:
    """Its pain.001 written into the outbox."""
    return _move("payout", PAYOUT_MOVES, "send", payout, at)


def pay_payout(payout, at, booked_on) -> dict:
    """Debited from the collection account (a booked camt.054 debit)."""
    values = _move("payout", PAYOUT_MOVES, "pay", payout, at)
    payout.paid_on = values["paid_on"] = booked_on
    return values


# --- reconciliation -------------------------------------------------------------------------

ACCEPTED = "accepted"  # a pain.002 line that rejects nothing: the credit comes with the camt.054
PAID_DECISION, REJECTED_DECISION, RETURNED, REFUNDED = "paid", "rejected", "returned", "refunded"
INFORMATION, UNMATCHED, PAYOUT_PAID_DECISION = "information", "unmatched", "payout_paid"
REFUND_CODE = "MD06"  # the debtor's refund claim (SDD rulebook): a refund, not a return
R_TRANSACTION_TYPES = {REJECTED_DECISION: "reject", RETURNED: "return", REFUNDED: "refund"}
LEDGER_CODES = {PAID_DECISION: "SDD", RETURNED: "RET", REFUNDED: "REF", PAYOUT_PAID_DECISION: "PAYOUT"}


@dataclass(frozen=True)
class Decision:
    """What a bank transaction does to a payment or payout.

    `kind`: paid, rejected, returned, refunded, payout_paid (the moves to apply), information
    (kept, changes nothing: money not booked), unmatched (kept with `why`), accepted (nothing).
    `reason_code` and `amount` (cents) are the R-transaction's; `ledger` the signed amount
    of the ledger entry to write (None: none)."""
    kind: str
    why: str | None = None
    reason_code: str | None = None
    amount: int | None = None
    ledger: int | None = None

    @property
    def r_transaction_type(self) -> str | None:
        return R_TRANSACTION_TYPES.get(self.kind)

    @property
    def ledger_code(self) -> str | None:
        return LEDGER_CODES.get(self.kind) if self.ledger is not None else None


def _unmatched(why) -> Decision:
    return Decision(UNMATCHED, why)


def reconcile(payment, transaction, payout=None) -> Decision:
    """The decision `transaction` (a camt.054 BankTransaction or a pain.002 StatusLine) leads
    to for the payment its end-to-end id names (None: none), or for `payout` (a camt.054
    debit naming no payment). Pure: nothing is changed here."""
    if isinstance(transaction, StatusLine):
        return _reconcile_status(payment, transaction)
    if not transaction.booked:
        return Decision(INFORMATION, f"entry {transaction.status or 'without status'}: not booked, "
                                     "no money moved yet")
    if transaction.currency != "EUR":
        return _unmatched(f"currency {transaction.currency}: Debito collects in EUR only")
    amount = transaction.amount
    if payment is None and payout is not None:
        if payout.status not in PAYOUT_IN_PROGRESS:
            return _unmatched(f"debit for a payout that is {payout.status}")
        if amount != payout.amount:
            return _unmatched(f"debited {amount} cents, the payout is {payout.amount}")
        return Decision(PAYOUT_PAID_DECISION, amount=payout.amount, ledger=-payout.amount)
    if payment is None:
        return _unmatched("no payment has this end-to-end id")
    if transaction.credit and not transaction.reversal:
        if payment.status != SUBMITTED:
            return _unmatched(f"credit for a payment that is {payment.status}")
        if amount != payment.amount:
            return _unmatched(f"credited {amount} cents, the payment is {payment.amount}")
        return Decision(PAID_DECISION, amount=payment.amount, ledger=payment.amount)
    # a return reaches the creditor as a DBIT, with RvslInd or not depending on the bank, or as
    # a reversed CRDT: all of them take the collected amount back
    code = (transaction.return_reason_code or "").upper()
    if not code:
        return _unmatched("a debit without a return reason")
    if payment.status not in PAYMENT_MOVES["reject"][0]:
        return _unmatched(f"return of a payment that is {payment.status}")
    kind = REFUNDED if code == REFUND_CODE else RETURNED
    amount = amount or payment.amount
    return Decision(kind, reason_code=code, amount=amount, ledger=-amount if payment.status == PAID else None)


def _reconcile_status(payment, line: StatusLine) -> Decision:
    if (line.status or "").upper() != "RJCT":
        return Decision(ACCEPTED)
    if payment is None:
        return _unmatched("no payment has this end-to-end id")
    if payment.status != SUBMITTED:
        return _unmatched(f"reject of a payment that is {payment.status}")
    code = (line.reason_code or "MS03").upper()  # a reject without reason: "not specified"
    return Decision(REJECTED_DECISION, reason_code=code, amount=payment.amount)


# --- the sequence of a debit ---------------------------------------------------------------

def same_bank(old_iban, old_bic, new_iban, new_bic):
    """Whether the debtor stays at the same bank (else the next debit says SMNDA).
    Duplicated from mandates on purpose: services share no package."""
    if old_bic and new_bic:
        return old_bic[:8] == new_bic[:8]
    old, new = IBAN(old_iban), IBAN(new_iban)
    return (old.country_code, old.bank_code) == (new.country_code, new.bank_code)


def sequence_of(mandate, last_account, is_last):
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


def day_of(value):
    """A date from a date, a datetime or an ISO text (None stays None)."""
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(value[:10])
