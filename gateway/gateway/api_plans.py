"""API: plans (one-off debits and schedules) and the one-off debit shortcut
`POST /payments` (spec §6). The plans service decides; this forwards."""
from flask import g, jsonify

from gateway import bodies
from gateway.api import json_body, operation
from gateway.api_mandates import page_response
from gateway.idempotency import call_key
from gateway.rpc import call

PLAN_FILTERS = ("status", "frequency", "from", "to", "mandate_id", "subscriber_id", "limit", "cursor")


def actor():
    """Who acts, for the plan's history: the dashboard user, else the API key."""
    user = g.get("user")
    return user.email if user is not None else f"api:{g.merchant.id}"


@operation("/plans", "POST", summary="Create a plan (one-off or recurring) on an active mandate",
           tag="plans", body=bodies.PlanBody, status=201)
def create_plan():
    body = dict(json_body(), prenotification_days=g.merchant.prenotification_days)
    return jsonify(call("plans", "create_plan", g.merchant.id, body, actor(), call_key())), 201


@operation("/plans", "GET", summary="List plans (filters: status, frequency, from/to on the next due date, "
           "mandate_id)", tag="plans")
def list_plans():
    return page_response("plans", "list_plans_json", PLAN_FILTERS)


@operation("/plans/<plan_id>", "GET", summary="A plan with its schedule and history", tag="plans")
def get_plan(plan_id):
    return jsonify(call("plans", "get_plan", g.merchant.id, plan_id))


@operation("/plans/<plan_id>", "PATCH", summary="Change amount, frequency, end date, count or day of month "
           "(instalments not yet pre-notified)", tag="plans", body=bodies.PlanChangesBody)
def update_plan(plan_id):
    return jsonify(call("plans", "update_plan", g.merchant.id, plan_id, json_body(), actor()))


def plan_action(plan_id, action):
    return call("plans", f"{action}_plan", g.merchant.id, plan_id, actor())


@operation("/plans/<plan_id>/pause", "POST", summary="Pause a plan", tag="plans")
def pause_plan(plan_id):
    return jsonify(plan_action(plan_id, "pause"))


@operation("/plans/<plan_id>/resume", "POST", summary="Resume a paused plan", tag="plans")
def resume_plan(plan_id):
    return jsonify(plan_action(plan_id, "resume"))


@operation("/plans/<plan_id>/cancel", "POST", summary="Cancel a plan", tag="plans")
def cancel_plan(plan_id):
    return jsonify(plan_action(plan_id, "cancel"))
