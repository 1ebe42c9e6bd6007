"""Payloads of the events `payments` emits (`payments.<name>`): facts, each
with its own `event_id` so that handlers can drop a redelivery. Their wire schemas are in
contracts.payments (EVENTS: event type -> schema); each payload has one builder here, which
writes the schema's fields as a plain dict, in the schema's order and format (a marshmallow
dump would cost a collection of 100 000 payments seconds); the outbox stores it as JSON.

payment_cancelled: `payment_cancelled`; payments_scheduled, payments_submitted,
payments_paid, payments_rejected: `payments_events`, a batch of `payment_event` payloads
(each keeping its own event_id) per merchant; r_transactions_received:
`r_transactions_events`, a batch of `r_transaction_received` payloads; payout_requested,
payout_paid: `payout_event`.

A bank file's import announces its paid and rejected payments and its R-transactions in
batches (`announce_import`), the collection its scheduled and submitted payments
(`announce_payments`, `announce_file`). The import notes each decision as it is taken
(`ImportEvents`: the payment's status and instant then) and its events are built from those
notes just before the file's commit; the collection's from the payments just written (the
rows of a file's payments, streamed).
"""
from sqlalchemy import text

from common.idempotency import new_event_id
from common.schemas import to_utc

PAYMENT_EVENTS = {"scheduled": "payment_scheduled", "submitted": "payment_submitted",
                  "paid": "payment_paid", "rejected": "payment_rejected", "cancelled": "payment_cancelled"}


def _instant(value):
    return to_utc(value).isoformat() if value else None


def payment_at(payment):
    """The instant a payment event states: its latest change."""
    return (payment.cancelled_at or payment.rejected_at or payment.paid_at or payment.submitted_at
            or payment.created_at)


def payment_event(payment, event_id=None, status=None, at=None):
    """contracts.payments.PaymentEvent of `payment`; `status` and `at` as it was decided when
    it has moved on since (a payment paid, then returned later in the same bank file)."""
    return {"event_id": event_id or new_event_id(), "merchant_id": payment.merchant_id, "payment_id": payment.id,
            "plan_id": payment.plan_id, "mandate_id": payment.mandate_id,
            "subscriber_id": payment.subscriber_id, "amount": payment.amount, "currency": payment.currency,
            "due_date": payment.due_date.isoformat(), "sequence_type": payment.sequence_type,
            "end_to_end_id": payment.end_to_end_id, "status": status or payment.status,
            "replay_of": payment.replay_of, "attempt": payment.attempt,
            "bank_file_id": payment.bank_file_id, "at": _instant(at or payment_at(payment))}


def payment_cancelled(payment, reason):
    """contracts.payments.PaymentCancelledEvent: `reason`, the mandate's event that cancelled it."""
    return {**payment_event(payment), "reason": reason}


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
    """The batch events of the payloads `make(item, event_id)` of `items`, grouped by their
    merchant_id as they are built (see payments_events)."""
    batches, prefix = {}, new_event_id()
    for rank, item in enumerate(items):
        payload = make(item, f"{prefix}-{rank}")
        merchant_id = payload["merchant_id"]
        batch = batches.setdefault(merchant_id, [])
        batch.append(payload)
        if len(batch) == size:
            yield {"event_id": new_event_id(), "merchant_id": merchant_id, key: batch}
            batches[merchant_id] = []
    for merchant_id, batch in batches.items():
        if batch:
            yield {"event_id": new_event_id(), "merchant_id": merchant_id, key: batch}


def r_transaction_received(r_transaction, payment, event_id=None):
    """contracts.payments.RTransactionEvent of `r_transaction`, of `payment`."""
    return {"event_id": event_id or new_event_id(), "merchant_id": r_transaction.merchant_id,
            "r_transaction_id": r_transaction.id, "payment_id": r_transaction.payment_id,
            "plan_id": payment.plan_id, "mandate_id": payment.mandate_id,
            "subscriber_id": payment.subscriber_id, "type": r_transaction.type,
            "reason_code": r_transaction.reason_code, "reason": r_transaction.reason,
            "retryable": r_transaction.retryable, "amount": r_transaction.amount,
            "received_on": r_transaction.received_on.isoformat(), "status": r_transaction.status}


def payout_event(payout):
    """contracts.payments.PayoutEvent."""
    return {"event_id": new_event_id(), "merchant_id": payout.merchant_id, "payout_id": payout.id,
            "amount": payout.amount, "currency": payout.currency, "status": payout.status,
            "end_to_end_id": payout.end_to_end_id, "paid_on": payout.paid_on.isoformat() if payout.paid_on else None,
            "at": _instant(payout.paid_at or payout.sent_at or payout.created_at)}


def announce_payments(dispatch, event_type, payments, size):
    """Stage `event_type` (payments_scheduled) batch events of `payments` just written."""
    for event in payments_events(payments, size):
        dispatch(event_type, event)


def announce_file(dispatch, size, rows):
    """Stage the payments_submitted batch events of an outbox file's payments, from `rows()`
    (their event columns, streamed)."""
    for event in payments_events(rows(), size):
        dispatch("payments_submitted", event)


# The outbox holds an import's megabytes of JSON for the few seconds before the relay: lz4
# compresses them in about a third of pglz's time (the default), where the server has it.
_LZ4 = text("SELECT set_config('default_toast_compression', 'lz4', true) FROM pg_settings "
            "WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")


def announce_import(dispatch, session, part, size):
    """Stage the events of a bank file's import (inbox.Imported `part`) before its commit:
    payments_paid, payments_rejected and r_transactions_received in batches of `size`, built
    from the decisions noted while the file was applied (`part.events`, an ImportEvents);
    payout_paid one each."""
    noted = part.events
    if noted.noted["payments_rejected"] or noted.noted["payments_paid"]:
        session.execute(_LZ4)
    for event_type in ("payments_paid", "payments_rejected"):
        for payload in noted.batches(event_type, size):
            dispatch(event_type, payload)
    for payout in part.payouts_paid:
        dispatch("payout_paid", payout_event(payout))
    for payload in noted.batches("r_transactions_received", size):
        dispatch("r_transactions_received", payload)


class ImportEvents:
    """The decisions of a bank file's import, noted as they are taken, and their batch events.
    A payment's item states it as it was then: paid, then rejected later in the file, its
    payments_paid item says `paid` at its payment instant. The items are those of
    payment_event and r_transaction_received, each with its event_id `{prefix}-{rank}` as
    payments_events gives it."""

    KINDS = ("payments_paid", "payments_rejected", "r_transactions_received")

    def __init__(self):
        self.noted = {kind: [] for kind in self.KINDS}

    def paid(self, payment):
        self.noted["payments_paid"].append((payment, "paid", payment_at(payment)))

    def rejected(self, payment):
        self.noted["payments_rejected"].append((payment, "rejected", payment_at(payment)))

    def r_transaction(self, r_transaction, payment):
        self.noted["r_transactions_received"].append((r_transaction, payment))

    def batches(self, kind, size):
        """The `kind` events: {event_id, merchant_id, payments or r_transactions: [...]}, at
        most `size` items of one merchant each."""
        if kind == "r_transactions_received":
            return _batches(self.noted[kind], size, "r_transactions",
                            lambda noted, event_id: r_transaction_received(*noted, event_id))
        return _batches(self.noted[kind], size, "payments",
                        lambda noted, event_id: payment_event(noted[0], event_id, noted[1], noted[2]))
