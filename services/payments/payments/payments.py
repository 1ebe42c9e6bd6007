"""Payments as the merchant reads them: creditor profiles, lists with keyset
pages, a payment with its R-transactions and replay chain, unmatched bank
entries. Plain functions taking a session; the caller commits."""

from sqlalchemy import select

from common import clock
from common.sepa import bic_from_iban
from common.database import keyset_page
from common.json_pages import json_page, quoted
from payments import reason_codes
from payments.collection import find_payment
from payments.models import Creditor, Payment, RTransaction, UnmatchedEntry
from payments.schemas import PaymentOut, RTransactionOut



def register_creditor(session, merchant_id, profile):
    """Create or update the merchant's creditor profile (CreditorIn data); idempotent."""
    creditor = session.get(Creditor, merchant_id, with_for_update=True)
    if creditor is None:
        creditor = Creditor(merchant_id=merchant_id, automatic_retry=False, first_debit_as_rcur=False,
                            prenotification_days=14,
                            availability_delay_days=5)
        session.add(creditor)
    for name, value in profile.items():
        if name not in ("merchant_id", "email"):
            setattr(creditor, name, value)
    if not creditor.bic and creditor.iban:  # the pain.008 names the creditor's bank
        creditor.bic = bic_from_iban(creditor.iban)
    creditor.updated_at = clock.now()
    session.flush()
    return creditor


def list_payments(session, merchant_id, filters):
    """A keyset page of payments, newest first (PaymentFiltersIn data; from/to: due date)."""
    query, filters = payments_query(merchant_id, filters)
    return keyset_page(session, query, Payment.id, filters)


def list_payments_json(session, merchant_id, filters):
    """The same page as JSON text (common.json_pages), for the API."""
    query, filters = payments_query(merchant_id, filters)
    return json_page(session, query, Payment.id, filters, PaymentOut, "payments t", {
        "amendment": "CASE WHEN coalesce(t.amendment, '') = '' THEN NULL ELSE t.amendment::json END"})


def payments_query(merchant_id, filters):
    """The list's query and the filters its keyset page takes."""
    conditions = [Payment.merchant_id == merchant_id]
    for name in ("status", "plan_id", "mandate_id", "subscriber_id"):
        if filters.get(name):
            conditions.append(getattr(Payment, name) == filters[name])
    if filters.get("from_"):
        conditions.append(Payment.due_date >= filters["from_"])
    if filters.get("to"):
        conditions.append(Payment.due_date <= filters["to"])
    if filters.get("status") and (filters.get("from_") or filters.get("to")) and not any(
            filters.get(name) for name in ("plan_id", "mandate_id", "subscriber_id")):
        return _due_window_query(merchant_id, conditions, filters)
    return select(Payment).where(*conditions), filters


def _due_window_query(merchant_id, conditions, filters):
    """A status in a due-date window: the window's rows come from (merchant_id, status, due_date)
    and only then are ordered by id. Walking the (merchant_id, status, id) index newest first,
    as PostgreSQL would for `ORDER BY id DESC LIMIT`, reads every newer row of that status
    before the window (seconds for a month a year back). Costs what the window holds."""
    if filters.get("cursor"):
        conditions = [*conditions, Payment.id < filters["cursor"]]
    window = (select(Payment.id).where(*conditions).cte("window")
              .prefix_with("MATERIALIZED", dialect="postgresql"))
    newest = select(window.c.id).order_by(window.c.id.desc()).limit(filters["limit"] + 1)
    query = select(Payment).where(Payment.merchant_id == merchant_id, Payment.id.in_(newest))
    return query, {**filters, "cursor": None}


def payment_detail(session, payment):
    """The payment with its R-transactions and its replay chain (first presentation first)."""
    chain, first = [], payment
    while first.replay_of:
        first = session.scalar(select(Payment).where(Payment.merchant_id == payment.merchant_id,
                                                     Payment.id == first.replay_of))
    current = first
    while current is not None:
        chain.append({"id": current.id, "attempt": current.attempt, "status": current.status,
                      "due_date": current.due_date.isoformat(), "automatic": current.automatic})
        current = session.scalar(select(Payment).where(Payment.merchant_id == payment.merchant_id,
                                                       Payment.replay_of == current.id))
    r_transactions = session.scalars(select(RTransaction).where(
        RTransaction.merchant_id == payment.merchant_id, RTransaction.payment_id == payment.id)
        .order_by(RTransaction.id)).all()
    replayed_by = next((step["id"] for step in chain if step["attempt"] == payment.attempt + 1), None)
    return {**PaymentOut().dump(payment), "replayed_by": replayed_by,
            "r_transactions": RTransactionOut(many=True).dump(r_transactions), "replays": chain}


def get_payment(session, merchant_id, payment_id):
    return payment_detail(session, find_payment(session, merchant_id, payment_id))


def list_r_transactions(session, merchant_id, filters):
    """A keyset page of R-transactions, newest first (from/to: the day received)."""
    return keyset_page(session, r_transactions_query(merchant_id, filters), RTransaction.id, filters)


def list_r_transactions_json(session, merchant_id, filters):
    """The same page as JSON text (common.json_pages), for the API."""
    reason_fr = ("CASE upper(t.reason_code) " + " ".join(
        f"WHEN {quoted(code)} THEN {quoted(reason.fr)}" for code, reason in reason_codes.REASONS.items())
        + f" ELSE {quoted(reason_codes.UNKNOWN.fr)} END")
    return json_page(session, r_transactions_query(merchant_id, filters), RTransaction.id, filters,
                     RTransactionOut, "r_transactions t", {"reason_fr": reason_fr})


def r_transactions_query(merchant_id, filters):
    query = select(RTransaction).where(RTransaction.merchant_id == merchant_id)
    for name in ("type", "status"):
        if filters.get(name):
            query = query.where(getattr(RTransaction, name) == filters[name])
    if filters.get("reason_code"):
        query = query.where(RTransaction.reason_code == filters["reason_code"].upper())
    if filters.get("from_"):
        query = query.where(RTransaction.received_on >= filters["from_"])
    if filters.get("to"):
        query = query.where(RTransaction.received_on <= filters["to"])
    return query


def list_unmatched(session, merchant_id=None, limit=200):
    """Bank entries that matched no payment, newest first; with a merchant, its own ones."""
    query = select(UnmatchedEntry)
    if merchant_id is not None:
        query = query.where(UnmatchedEntry.merchant_id == merchant_id)
    return session.scalars(query.order_by(UnmatchedEntry.id.desc()).limit(limit)).all()
