"""Payloads of the events `payments` emits (`payments.<name>`): facts, each
with its own `event_id` so that handlers can drop a redelivery.

payment_paid, payment_rejected, payment_cancelled: `payment_event`;
payments_scheduled, payments_submitted: `payments_events`, a batch of payment_event
payloads (each keeping its own event_id) per merchant; r_transaction_received: `r_transaction_received`;
payout_requested, payout_paid: `payout_event`.
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
    batches, prefix = {}, new_event_id()
    for rank, payment in enumerate(payments):
        batch = batches.setdefault(payment.merchant_id, [])
        batch.append(payment_event(payment, f"{prefix}-{rank}"))
        if len(batch) == size:
            yield {"event_id": new_event_id(), "merchant_id": payment.merchant_id, "payments": batch}
            batches[payment.merchant_id] = []
    for merchant_id, batch in batches.items():
        if batch:
            yield {"event_id": new_event_id(), "merchant_id": merchant_id, "payments": batch}


def r_transaction_received(r_transaction, payment):
    return {"event_id": new_event_id(), "merchant_id": r_transaction.merchant_id,
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
