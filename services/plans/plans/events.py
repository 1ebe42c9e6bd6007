"""Payloads of the events `plans` emits (`plans.<name>`): facts, each with its own
`event_id` so that handlers can drop a redelivery. One builder per event type; each writes
its wire schema's fields (contracts.plans.EVENTS) in the schema's order."""
from common.idempotency import new_event_id


def _plan(plan, **fields):
    return {"event_id": new_event_id(), "merchant_id": plan.merchant_id, "plan_id": plan.id,
            "mandate_id": plan.mandate_id, "subscriber_id": plan.subscriber_id, "status": plan.status,
            "amount": plan.amount, "frequency": plan.frequency,
            "next_due_date": plan.next_due_date.isoformat() if plan.next_due_date else None, **fields}


def plan_completed(plan):
    return _plan(plan)


def plan_acted(plan, actor):
    """plan_created, plan_paused, plan_resumed: `actor` did it."""
    return _plan(plan, actor=actor)


def plan_updated(plan, actor, changes):
    return _plan(plan, actor=actor, changes=changes)


def plan_cancelled(plan, actor=None, reason=None):
    """By `actor`, or by the mandate's event `reason` (mandate_revoked, mandate_expired)."""
    return _plan(plan, reason=reason) if reason else _plan(plan, actor=actor)


def instalment(plan, instalment_id, sequence_no, due_date, amount, is_last):
    """An instalment handed over to payments (plan: a Plan or a row of plans._HORIZON_COLUMNS):
    an item of instalments_due, and of the due_instalments RPC's answer."""
    return {"key": f"{plan.id}:{sequence_no}", "instalment_id": instalment_id, "plan_id": plan.id,
            "merchant_id": plan.merchant_id, "mandate_id": plan.mandate_id,
            "subscriber_id": plan.subscriber_id, "sequence_no": sequence_no,
            "due_date": due_date.isoformat(), "amount": amount,
            "currency": plan.currency, "label": plan.label, "frequency": plan.frequency,
            "is_last": is_last}


def instalments_due(instalments):
    """The instalments handed over by one call (dicts of `instalment`), one event per
    merchant: {event_id, merchant_id, instalments: [...]}."""
    by_merchant = {}
    for item in instalments:
        by_merchant.setdefault(item["merchant_id"], []).append(item)
    return [{"event_id": new_event_id(), "merchant_id": merchant_id, "instalments": items}
            for merchant_id, items in by_merchant.items()]
