"""API: payments (debits), replays and R-transactions (spec §6). The
payments service decides; this authenticates, forwards and shapes HTTP."""
from flask import g, jsonify, request

from common.errors import DebitoError
from gateway.api import json_body, operation
from gateway.api_mandates import query_filters
from gateway.api_plans import actor
from gateway.idempotency import idempotent
from gateway.rpc import call

PAYMENT_FILTERS = ("status", "from", "to", "plan_id", "mandate_id", "subscriber_id", "limit", "cursor")
R_TRANSACTION_FILTERS = ("type", "reason_code", "status", "from", "to", "limit", "cursor")


def one_off_plan(body):
    """`POST /payments` {mandate_id, amount, due_date, label}: a plan with frequency `once`."""
    payload = dict(body, frequency="once")
    if "due_date" in payload:
        payload["start_date"] = payload.pop("due_date")
    return payload


@operation("/payments", "POST", summary="A one-off debit: a plan with frequency `once`, whose payment "
           "is created when its pre-notification is due (Idempotency-Key accepted)", tag="payments",
           status=201)
@idempotent
def create_one_off_payment():
    try:
        plan = call("plans", "create_plan", g.merchant.id, one_off_plan(json_body()), actor())
    except DebitoError as error:
        if "start_date" in error.fields:  # the caller said due_date
            error.fields["due_date"] = error.fields.pop("start_date")
        raise
    return jsonify(plan), 201


@operation("/payments", "GET", summary="List payments (filters: status, from/to on the due date, plan_id, "
           "mandate_id, subscriber_id)", tag="payments")
def list_payments():
    return jsonify(call("payments", "list_payments", g.merchant.id, query_filters(PAYMENT_FILTERS)))


@operation("/payments/<payment_id>", "GET", summary="A payment with its R-transactions and replays",
           tag="payments")
def get_payment(payment_id):
    return jsonify(call("payments", "get_payment", g.merchant.id, payment_id))


@operation("/payments/<payment_id>/replay", "POST", summary="Replay a rejected payment (Idempotency-Key "
           "accepted)", tag="payments", status=201)
@idempotent
def replay_payment(payment_id):
    body = json_body() if request.get_data() else {}
    return jsonify(call("payments", "replay_payment", g.merchant.id, payment_id, body)), 201


@operation("/r-transactions", "GET", summary="List R-transactions (filters: type, reason_code, status, "
           "from/to)", tag="payments")
def list_r_transactions():
    return jsonify(call("payments", "list_r_transactions", g.merchant.id,
                        query_filters(R_TRANSACTION_FILTERS)))
