"""Payments as the merchant reads them: creditor profiles, lists with keyset
pages, a payment with its R-transactions and replay chain, unmatched bank
entries. Plain functions taking a session; the caller commits."""

from sqlalchemy import Date, bindparam, cast, func, literal_column, select, true

from common import clock
from common.sepa import bic_from_iban
from common.database import ListQuery, merchant_list_query
from common.json_pages import json_page, quoted
from contracts.payments import REASONS, UNKNOWN
from payments.collection import find_payment
from payments.models import Creditor, Payment, RTransaction, UnmatchedEntry
from contracts.payments import PaymentOut, RTransactionOut



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


def list_payments_json(session, merchant_id, filters):
    """A keyset page of payments, newest first (PaymentFiltersIn data; from/to: due date), as JSON
    text (common.json_pages): the list's one read path."""
    query, filters = payments_query(merchant_id, filters)
    return json_page(session, query, Payment.id, filters, PaymentOut, "payments t", _PAYMENT_JSON)


_PAYMENT_JSON = {"amendment": "CASE WHEN coalesce(t.amendment, '') = '' THEN NULL ELSE t.amendment::json END"}
_PAYMENT_FILTERS = {"status": Payment.status, "plan_id": Payment.plan_id, "mandate_id": Payment.mandate_id,
                    "subscriber_id": Payment.subscriber_id}


def payments_query(merchant_id, filters):
    """The list's query (a ListQuery) and the filters its keyset page takes."""
    params = {"merchant_id": merchant_id}
    params.update((name, filters[name]) for name in ("status", "plan_id", "mandate_id", "subscriber_id",
                                                    "from_", "to") if filters.get(name))
    window = "status" in params and ("from_" in params or "to" in params) and not any(
        name in params for name in ("plan_id", "mandate_id", "subscriber_id"))
    by_day = window and "from_" in params and "to" in params and (params["to"] - params["from_"]).days <= MAX_DAYS
    if window:
        if filters.get("cursor"):
            params["cursor"] = filters["cursor"]
        filters = {**filters, "cursor": None}
    shape, limit = tuple(params), filters["limit"]

    def make():
        conditions = [Payment.merchant_id == bindparam("merchant_id")]
        conditions += [column == bindparam(name) for name, column in _PAYMENT_FILTERS.items() if name in shape]
        if "cursor" in shape:
            conditions.append(Payment.id < bindparam("cursor"))
        if by_day:
            return _due_days_query(conditions, limit)
        if "from_" in shape:
            conditions.append(Payment.due_date >= bindparam("from_"))
        if "to" in shape:
            conditions.append(Payment.due_date <= bindparam("to"))
        if window:
            return _due_window_query(conditions, limit)
        return select(Payment).where(*conditions)
    return ListQuery(("payments", window and (limit, by_day), shape), params, make), filters


MAX_DAYS = 400  # a longer window is read whole (_due_window_query) rather than day by day


def _due_window_query(conditions, limit):
    """A status in a due-date window: the window's rows come from (merchant_id, status, due_date)
    and only then are ordered by id. Walking the (merchant_id, status, id) index newest first,
    as PostgreSQL would for `ORDER BY id DESC LIMIT`, reads every newer row of that status
    before the window (seconds for a month a year back). Costs what the window holds."""
    window = select(Payment.id).where(*conditions).cte("window").prefix_with("MATERIALIZED")
    newest = select(window.c.id).order_by(window.c.id.desc()).limit(limit + 1)
    return select(Payment).where(Payment.merchant_id == bindparam("merchant_id"), Payment.id.in_(newest))


def _due_days_query(conditions, limit):
    """_due_window_query on PostgreSQL for a window of at most MAX_DAYS: each day's newest
    `limit + 1` (one backward range scan of (merchant_id, status, due_date, id) per day), then
    the newest of those. A month of rejected payments: some 1 000 ids sorted instead of the
    4 500 of the window, a third of the time."""
    days = func.generate_series(cast(bindparam("from_"), Date), cast(bindparam("to"), Date),
                                literal_column("interval '1 day'")).table_valued("day").render_derived("days")
    each_day = (select(Payment.id).where(*conditions, Payment.due_date == cast(days.c.day, Date))
                .order_by(Payment.id.desc()).limit(limit + 1).lateral("each_day"))
    newest = (select(each_day.c.id).select_from(days).join(each_day, true())
              .order_by(each_day.c.id.desc()).limit(limit + 1))
    return select(Payment).where(Payment.merchant_id == bindparam("merchant_id"), Payment.id.in_(newest))


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


def list_r_transactions_json(session, merchant_id, filters):
    """A keyset page of R-transactions, newest first (from/to: the day received), as JSON text
    (common.json_pages): the list's one read path."""
    return json_page(session, r_transactions_query(merchant_id, filters), RTransaction.id, filters,
                     RTransactionOut, "r_transactions t", _R_TRANSACTION_JSON)


_R_TRANSACTION_JSON = {"reason_fr": "CASE upper(t.reason_code) " + " ".join(
    f"WHEN {quoted(code)} THEN {quoted(reason.fr)}" for code, reason in REASONS.items())
    + f" ELSE {quoted(UNKNOWN.fr)} END"}


def r_transactions_query(merchant_id, filters):
    """The list's query (a ListQuery); from/to: the day received."""
    params = {"merchant_id": merchant_id}
    params.update((name, filters[name]) for name in ("type", "status", "from_", "to") if filters.get(name))
    if filters.get("reason_code"):
        params["reason_code"] = filters["reason_code"].upper()
    return merchant_list_query(RTransaction, RTransaction.received_on, params, ("type", "status", "reason_code"))


def list_unmatched(session, merchant_id=None, limit=200):
    """Bank entries that matched no payment, newest first; with a merchant, its own ones."""
    query = select(UnmatchedEntry)
    if merchant_id is not None:
        query = query.where(UnmatchedEntry.merchant_id == merchant_id)
    return session.scalars(query.order_by(UnmatchedEntry.id.desc()).limit(limit)).all()
