"""Payloads of the events `signing` emits (`signing.<name>`): facts, each with
its own `event_id` so that handlers can drop a redelivery. One builder per event type; each writes
its wire schema's fields (contracts.signing.EVENTS) in the schema's order."""
from common.idempotency import new_event_id
from common.schemas import to_utc


def _instant(value):
    return to_utc(value).isoformat() if value else None


def _order(order, **fields):
    return {"event_id": new_event_id(), "merchant_id": order.merchant_id, "order_id": order.id,
            "method": order.method, "status": order.status, "subscriber_id": order.subscriber_id,
            "customer_reference": order.customer_reference, "mandate_id": order.mandate_id,
            "plan_id": order.plan_id, "created_at": _instant(order.created_at),
            "expires_at": _instant(order.expires_at), "signed_at": _instant(order.signed_at),
            "failure_reason": order.failure_reason, **fields}


def order_event(order):
    """order_created, order_cancelled, expired, failed."""
    return _order(order)


def otp_sent(order):
    return _order(order, otp_sends=order.otp_sends)


def signed(order, evidence):
    return _order(order, evidence=evidence)
