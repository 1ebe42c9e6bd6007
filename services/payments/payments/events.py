"""Payloads of the events `payments` emits (`payments.<name>`): facts, each
with its own `event_id` so that handlers can drop a redelivery.

payment_cancelled (and payment_paid, payment_rejected from a single-payment path): `payment_event`;
payments_scheduled, payments_submitted, payments_paid, payments_rejected: `payments_events`, a
batch of payment_event payloads (each keeping its own event_id) per merchant;
r_transactions_received: `r_transactions_events`, a batch of `r_transaction_received` payloads;
payout_requested, payout_paid: `payout_event`.

A bank file's import announces its paid and rejected payments and its R-transactions in
batches (`announce_import`), the collection its scheduled and submitted payments
(`announce_payments`, `announce_file`). On PostgreSQL the database builds those payloads
from the rows just written (`payments_events_sql`, `r_transactions_events_sql`: the same
JSON as the Python builders, which SQLite uses), staged in the outbox by one INSERT … SELECT:
a camt.054 of 10 000 returns makes 20 events of 1 000 items, and no Python object per item.
"""
from common.idempotency import new_event_id
from common.schemas import to_utc

PAYMENT_EVENTS = {"scheduled": "payment_scheduled", "submitted": "payment_submitted",
                  "paid": "payment_paid", "rejected": "payment_rejected", "cancelled": "payment_cancelled"}


def _instant(value):
    return to_utc(value).isoformat() if value else None


def payment_event(payment, event_id=None, **fields):
    return {"event_id": event_id or new_event_id(), "merchant_id": payment.merchant_id, "payment_id": payment.id,
            "plan_id": payment.plan_id, "mandate_id": payment.mandate_id,
            "subscriber_id": payment.subscriber_id, "amount": payment.amount, "currency": payment.currency,
            "due_date": payment.due_date.isoformat(), "sequence_type": payment.sequence_type,
            "end_to_end_id": payment.end_to_end_id, "status": payment.status,
            "replay_of": payment.replay_of, "attempt": payment.attempt,
            "bank_file_id": payment.bank_file_id, "at": _instant(
                payment.cancelled_at or payment.rejected_at or payment.paid_at or payment.submitted_at
                or payment.created_at), **fields}


def payments_events(payments, size):
    """Batch events of `payments` (any iterable, consumed once): {event_id, merchant_id,
    payments: [payment_event, ...]}, at most `size` payments of one merchant each. Each
    payment's own event_id is the call's random prefix and its rank: unique, and cheaper
    than a uuid4 each."""
    return _batches(payments, size, "payments", payment_event)


def r_transactions_events(r_transactions, payments, size):
    """Batch events of `r_transactions` ({payment id: payment} gives their payments):
    {event_id, merchant_id, r_transactions: [r_transaction_received, ...]}, as payments_events."""
    return _batches(r_transactions, size, "r_transactions",
                    lambda r, event_id: r_transaction_received(r, payments[r.payment_id], event_id))


def _batches(items, size, key, make):
    batches, prefix = {}, new_event_id()
    for rank, item in enumerate(items):
        batch = batches.setdefault(item.merchant_id, [])
        batch.append(make(item, f"{prefix}-{rank}"))
        if len(batch) == size:
            yield {"event_id": new_event_id(), "merchant_id": item.merchant_id, key: batch}
            batches[item.merchant_id] = []
    for merchant_id, batch in batches.items():
        if batch:
            yield {"event_id": new_event_id(), "merchant_id": merchant_id, key: batch}


def r_transaction_received(r_transaction, payment, event_id=None):
    return {"event_id": event_id or new_event_id(), "merchant_id": r_transaction.merchant_id,
            "r_transaction_id": r_transaction.id, "payment_id": r_transaction.payment_id,
            "plan_id": payment.plan_id, "mandate_id": payment.mandate_id,
            "subscriber_id": payment.subscriber_id, "type": r_transaction.type,
            "reason_code": r_transaction.reason_code, "reason": r_transaction.reason,
            "retryable": r_transaction.retryable, "amount": r_transaction.amount,
            "received_on": r_transaction.received_on.isoformat(), "status": r_transaction.status}


def payout_event(payout):
    return {"event_id": new_event_id(), "merchant_id": payout.merchant_id, "payout_id": payout.id,
            "amount": payout.amount, "currency": payout.currency, "status": payout.status,
            "end_to_end_id": payout.end_to_end_id, "paid_on": payout.paid_on.isoformat() if payout.paid_on else None,
            "at": _instant(payout.paid_at or payout.sent_at or payout.created_at)}


# --- the same payloads, built by PostgreSQL -------------------------------------------

def _iso_instant(column):
    """SQL: the UTC ISO 8601 text of a timestamptz, as `_instant` writes it (microseconds
    only when there are some)."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN date_part('microseconds', {column})::bigint "
            f"% 1000000 = 0 THEN '' ELSE to_char({utc}, '.US') END || '+00:00'")


_PAYMENT_ITEM = ("json_build_object('event_id', :prefix || '-' || rank, 'merchant_id', merchant_id, "
                 "'payment_id', id, 'plan_id', plan_id, 'mandate_id', mandate_id, 'subscriber_id', subscriber_id, "
                 "'amount', amount, 'currency', currency, 'due_date', due_date, 'sequence_type', sequence_type, "
                 "'end_to_end_id', end_to_end_id, 'status', status, 'replay_of', replay_of, 'attempt', attempt, "
                 "'bank_file_id', bank_file_id, 'at', "
                 + _iso_instant("coalesce(cancelled_at, rejected_at, paid_at, submitted_at, created_at)") + ")")

_R_TRANSACTION_ITEM = ("json_build_object('event_id', :prefix || '-' || rank, 'merchant_id', merchant_id, "
                       "'r_transaction_id', id, 'payment_id', payment_id, 'plan_id', plan_id, "
                       "'mandate_id', mandate_id, 'subscriber_id', subscriber_id, 'type', type, "
                       "'reason_code', reason_code, 'reason', reason, 'retryable', retryable, 'amount', amount, "
                       "'received_on', received_on, 'status', status)")


def _batches_sql(items, key, item):
    """Batches of `item` over `items` (rows with a `rank`, 0 up, and a `merchant_id`): at most
    `:size` items each, of one merchant (a file's few merchants may leave some batches short).
    Neither the batches nor their items are sorted: no consumer needs an order, and sorting
    megabytes of JSON would cost more than building it."""
    return (f"SELECT json_build_object('event_id', :prefix || '-b' || min(rank), 'merchant_id', merchant_id, "
            f"'{key}', json_agg({item}))::text AS payload "
            f"FROM ({items}) AS items GROUP BY merchant_id, rank / :size")


def payments_events_sql(payment_ids, size):
    """(query, params): payments_events of the payments `payment_ids` as PostgreSQL reads them
    (one row, `payload`, per batch: for Outbox's `dispatch.select`), each found by its key."""
    items = ("SELECT payments.*, wanted.rank - 1 AS rank "
             "FROM unnest(CAST(:ids AS text[])) WITH ORDINALITY AS wanted(id, rank) JOIN payments USING (id)")
    return _batches_sql(items, "payments", _PAYMENT_ITEM), {"ids": list(payment_ids), "size": size,
                                                            "prefix": new_event_id()}


def file_payments_events_sql(bank_file_id, size):
    """(query, params): payments_events of an outbox file's payments, as payments_events_sql."""
    items = ("SELECT payments.*, row_number() OVER () - 1 AS rank FROM payments "
             "WHERE bank_file_id = :bank_file_id")
    return _batches_sql(items, "payments", _PAYMENT_ITEM), {"bank_file_id": bank_file_id, "size": size,
                                                            "prefix": new_event_id()}


def announce_payments(dispatch, session, event_type, payments, size):
    """Stage `event_type` (payments_scheduled) batch events of `payments` just written:
    built by PostgreSQL from their rows, by Python on SQLite."""
    if not payments:
        return
    if _postgresql(session):
        dispatch.select(event_type, *payments_events_sql([payment.id for payment in payments], size))
    else:
        for event in payments_events(payments, size):
            dispatch(event_type, event)


def announce_file(dispatch, session, bank_file_id, size, rows):
    """Stage the payments_submitted batch events of an outbox file's payments: built by
    PostgreSQL from their rows, by Python from `rows()` (their event columns) on SQLite."""
    if _postgresql(session):
        dispatch.select("payments_submitted", *file_payments_events_sql(bank_file_id, size))
    else:
        for event in payments_events(rows(), size):
            dispatch("payments_submitted", event)


def _postgresql(session):
    return session.get_bind().dialect.name == "postgresql"


def r_transactions_events_sql(r_transactions, size):
    """(query, params): r_transactions_events of `r_transactions` (objects with `id` and
    `payment_id`), as payments_events_sql."""
    items = ("SELECT r.id, r.merchant_id, r.payment_id, p.plan_id, p.mandate_id, p.subscriber_id, r.type, "
             "r.reason_code, r.reason, r.retryable, r.amount, r.received_on, r.status, wanted.rank - 1 AS rank "
             "FROM unnest(CAST(:ids AS text[]), CAST(:payment_ids AS text[])) WITH ORDINALITY "
             "AS wanted(id, payment_id, rank) "
             "JOIN r_transactions r ON r.id = wanted.id JOIN payments p ON p.id = wanted.payment_id")
    return _batches_sql(items, "r_transactions", _R_TRANSACTION_ITEM), {
        "ids": [r.id for r in r_transactions], "payment_ids": [r.payment_id for r in r_transactions],
        "size": size, "prefix": new_event_id()}


def announce_import(dispatch, session, part, size):
    """Stage the events of a bank file's import (collection.Imported `part`) before its commit:
    payments_paid, payments_rejected and r_transactions_received in batches of `size`, built
    by PostgreSQL from the rows just written (by Python on SQLite); payout_paid one each."""
    postgresql = _postgresql(session)
    for event_type, payments in (("payments_paid", part.paid), ("payments_rejected", part.rejected)):
        if not payments:
            continue
        if postgresql:
            dispatch.select(event_type, *payments_events_sql([payment.id for payment in payments], size))
        else:
            for event in payments_events(payments, size):
                dispatch(event_type, event)
    for payout in part.payouts_paid:
        dispatch("payout_paid", payout_event(payout))
    if part.r_transactions:
        if postgresql:
            dispatch.select("r_transactions_received", *r_transactions_events_sql(part.r_transactions, size))
        else:
            by_id = {payment.id: payment for payment in part.rejected}
            for event in r_transactions_events(part.r_transactions, by_id, size):
                dispatch("r_transactions_received", event)
