"""Payloads of the events `plans` emits (`plans.<name>`): facts, each with its
own `event_id` so that handlers can drop a redelivery."""
from common.idempotency import new_event_id


def plan_event(plan, **fields):
    """plan_created, plan_updated, plan_paused, plan_resumed, plan_cancelled, plan_completed."""
    return {"event_id": new_event_id(), "merchant_id": plan.merchant_id, "plan_id": plan.id,
            "mandate_id": plan.mandate_id, "subscriber_id": plan.subscriber_id, "status": plan.status,
            "amount": plan.amount, "frequency": plan.frequency,
            "next_due_date": plan.next_due_date.isoformat() if plan.next_due_date else None, **fields}


def instalments_due(instalments):
    """The instalments handed over by one call (dicts of plans.due_instalments), one event
    per merchant: {event_id, merchant_id, instalments: [...]}."""
    by_merchant = {}
    for instalment in instalments:
        by_merchant.setdefault(instalment["merchant_id"], []).append(instalment)
    return [{"event_id": new_event_id(), "merchant_id": merchant_id, "instalments": items}
            for merchant_id, items in by_merchant.items()]
