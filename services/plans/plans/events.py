"""Payloads of the events `plans` emits (`plans.<name>`): facts, each with its
own `event_id` so that handlers can drop a redelivery."""
from common.idempotency import new_event_id


def plan_event(plan, **fields):
    """plan_created, plan_updated, plan_paused, plan_resumed, plan_cancelled, plan_completed."""
    return {"event_id": new_event_id(), "merchant_id": plan.merchant_id, "plan_id": plan.id,
            "mandate_id": plan.mandate_id, "subscriber_id": plan.subscriber_id, "status": plan.status,
            "amount": plan.amount, "frequency": plan.frequency,
            "next_due_date": plan.next_due_date.isoformat() if plan.next_due_date else None, **fields}


def instalment_due(instalment):
    """An issued instalment (a dict of plans.due_instalments)."""
    return {"event_id": new_event_id(), **instalment}
