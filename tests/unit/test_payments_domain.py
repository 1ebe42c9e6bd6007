"""The payments' domain without a database or a broker: the moves of a payment and of a
payout, and reconcile() case by case."""
from datetime import date
from types import SimpleNamespace

import pytest

from common import calendar, clock
from payments import domain
from payments.domain import BankTransaction, Decision, IllegalMove, StatusLine

AT = clock.parse("2027-02-03T12:00:00+00:00")
DAY = calendar.next_business_day(date(2027, 2, 3))


def payment(status, amount=2990):
    return SimpleNamespace(id="PM1", status=status, amount=amount)


def payout(status, amount=10_000):
    return SimpleNamespace(id="PO1", status=status, amount=amount)


# --- moves ----------------------------------------------------------------------------------

MOVES = [  # (move, from, to, the instant it stamps)
    (domain.submit, "scheduled", "submitted", "submitted_at"),
    (domain.pay, "submitted", "paid", "paid_at"),
    (domain.reject, "submitted", "rejected", "rejected_at"),
    (domain.reject, "paid", "rejected", "rejected_at"),
    (domain.cancel, "scheduled", "cancelled", "cancelled_at"),
    (domain.send_payout, "pending", "sent", "sent_at"),
]


@pytest.mark.parametrize("move, before, after, stamp", MOVES)
def test_a_legal_move_sets_the_status_and_its_instant(move, before, after, stamp):
    thing = payment(before)
    values = move(thing, AT)
    assert (thing.status, getattr(thing, stamp)) == (after, AT)
    assert values == {"status": after, stamp: AT}


ILLEGAL = [(move, state) for move, states in (
    (domain.submit, ("submitted", "paid", "rejected", "cancelled")),
    (domain.pay, ("scheduled", "paid", "rejected", "cancelled")),
    (domain.reject, ("scheduled", "rejected", "cancelled")),
    (domain.cancel, ("submitted", "paid", "rejected", "cancelled")),
    (domain.send_payout, ("sent", "paid", "failed")),
) for state in states]


@pytest.mark.parametrize("move, state", ILLEGAL)
def test_an_illegal_move_is_refused_with_a_clear_error_and_changes_nothing(move, state):
    thing = payment(state)
    with pytest.raises(IllegalMove, match=f"PM1 is {state}: it cannot"):
        move(thing, AT)
    assert thing.status == state


@pytest.mark.parametrize("state", ["pending", "sent"])
def test_a_payout_in_progress_is_paid_on_its_booking_day(state):
    thing = payout(state)
    assert domain.pay_payout(thing, AT, DAY) == {"status": "paid", "paid_at": AT, "paid_on": DAY}
    assert (thing.status, thing.paid_on) == ("paid", DAY)
    with pytest.raises(IllegalMove):
        domain.pay_payout(thing, AT, DAY)


# --- reconcile ------------------------------------------------------------------------------

def tx(credit_debit="CRDT", amount=2990, status="BOOK", reversal=False, code=None, currency="EUR"):
    return BankTransaction(status=status, credit_debit=credit_debit, reversal=reversal, amount=amount,
                           currency=currency, end_to_end_id="PM1", return_reason_code=code)


CASES = [  # (name, payment or None, transaction, payout or None, decision)
    ("credit of a submitted payment", payment("submitted"), tx(), None,
     Decision("paid", amount=2990, ledger=2990)),
    ("pending credit", payment("submitted"), tx(status="PDNG"), None,
     Decision("information", "entry PDNG: not booked, no money moved yet")),
    ("information-only credit", payment("submitted"), tx(status="INFO"), None,
     Decision("information", "entry INFO: not booked, no money moved yet")),
    ("pending return", payment("paid"), tx("DBIT", code="AM04", status="PDNG"), None,
     Decision("information", "entry PDNG: not booked, no money moved yet")),
    ("credit in another currency", payment("submitted"), tx(currency="CHF"), None,
     Decision("unmatched", "currency CHF: Debito collects in EUR only")),
    ("credit of another amount", payment("submitted"), tx(amount=2500), None,
     Decision("unmatched", "credited 2500 cents, the payment is 2990")),
    ("credit of a paid payment", payment("paid"), tx(), None,
     Decision("unmatched", "credit for a payment that is paid")),
    ("credit of a cancelled payment", payment("cancelled"), tx(), None,
     Decision("unmatched", "credit for a payment that is cancelled")),
    ("credit naming no payment", None, tx(), None, Decision("unmatched", "no payment has this end-to-end id")),
    ("return of a paid payment", payment("paid"), tx("DBIT", code="am04"), None,
     Decision("returned", reason_code="AM04", amount=2990, ledger=-2990)),
    ("return of part of a paid payment", payment("paid"), tx("DBIT", amount=2800, code="AC04"), None,
     Decision("returned", reason_code="AC04", amount=2800, ledger=-2800)),
    ("return of a submitted payment", payment("submitted"), tx("DBIT", reversal=True, code="MS02"), None,
     Decision("returned", reason_code="MS02", amount=2990)),
    ("refund of a paid payment", payment("paid"), tx("DBIT", code="MD06"), None,
     Decision("refunded", reason_code="MD06", amount=2990, ledger=-2990)),
    ("reversed credit", payment("paid"), tx("CRDT", reversal=True, code="XX99"), None,
     Decision("returned", reason_code="XX99", amount=2990, ledger=-2990)),
    ("debit without a reason", payment("paid"), tx("DBIT"), None,
     Decision("unmatched", "a debit without a return reason")),
    ("return of a scheduled payment", payment("scheduled"), tx("DBIT", code="AM04"), None,
     Decision("unmatched", "return of a payment that is scheduled")),
    ("return of a rejected payment", payment("rejected"), tx("DBIT", code="AM04"), None,
     Decision("unmatched", "return of a payment that is rejected")),
    ("payout debited", None, tx("DBIT", amount=10_000), payout("sent"),
     Decision("payout_paid", amount=10_000, ledger=-10_000)),
    ("payout debited another amount", None, tx("DBIT", amount=9_999), payout("sent"),
     Decision("unmatched", "debited 9999 cents, the payout is 10000")),
    ("payout debited twice", None, tx("DBIT", amount=10_000), payout("paid"),
     Decision("unmatched", "debit for a payout that is paid")),
    ("payout debit pending", None, tx("DBIT", amount=10_000, status="PDNG"), payout("sent"),
     Decision("information", "entry PDNG: not booked, no money moved yet")),
    ("reject of a submitted payment", payment("submitted"), StatusLine("RJCT", "ac04"), None,
     Decision("rejected", reason_code="AC04", amount=2990)),
    ("reject without a reason", payment("submitted"), StatusLine("RJCT", None), None,
     Decision("rejected", reason_code="MS03", amount=2990)),
    ("reject of a paid payment", payment("paid"), StatusLine("RJCT", "AM04"), None,
     Decision("unmatched", "reject of a payment that is paid")),
    ("reject naming no payment", None, StatusLine("RJCT", "AM04"), None,
     Decision("unmatched", "no payment has this end-to-end id")),
    ("accepted status", payment("submitted"), StatusLine("ACSC", None), None, Decision("accepted")),
]


@pytest.mark.parametrize("name, the_payment, transaction, the_payout, decision", CASES, ids=[c[0] for c in CASES])
def test_reconcile_decides_what_a_bank_transaction_does(name, the_payment, transaction, the_payout, decision):
    before = (the_payment and the_payment.status, the_payout and the_payout.status)
    assert domain.reconcile(the_payment, transaction, the_payout) == decision
    assert (the_payment and the_payment.status, the_payout and the_payout.status) == before  # pure


def test_a_decision_names_its_r_transaction_type_and_ledger_code():
    assert [(Decision(kind, ledger=ledger).r_transaction_type, Decision(kind, ledger=ledger).ledger_code)
            for kind, ledger in (("paid", 1), ("returned", -1), ("returned", None), ("refunded", -1),
                                 ("rejected", None), ("payout_paid", -1), ("information", None))] == [
        (None, "SDD"), ("return", "RET"), ("return", None), ("refund", "REF"), ("reject", None),
        (None, "PAYOUT"), (None, None)]
