"""API: payments (debits), replays and R-transactions (spec §6). The
payments service decides; this authenticates, forwards and shapes HTTP."""
from flask import g, jsonify, request

from gateway import bodies
from gateway.api import json_body, operation
from gateway.api_mandates import page_response
from gateway.api_plans import actor
from gateway.idempotency import call_key, idempotent
from gateway.rpc import call

PAYMENT_FILTERS = ("status", "from", "to", "plan_id", "mandate_id", "subscriber_id", "limit", "cursor")
R_TRANSACTION_FILTERS = ("type", "reason_code", "status", "from", "to", "limit", "cursor")


@operation("/payments", "POST", summary="A one-off debit: a plan with frequency `once`, whose payment "
           "is created when its pre-notification is due (Idempotency-Key accepted)", tag="payments",
           body=bodies.OneOffIn, status=201)
@idempotent
def create_one_off_payment():
    body = dict(json_body(), prenotification_days=g.merchant.prenotification_days)
    return jsonify(call("plans", "create_one_off", g.merchant.id, body, actor(), call_key())), 201


@operation("/payments", "GET", summary="List payments (filters: status, from/to on the due date, plan_id, "
           "mandate_id, subscriber_id)", tag="payments")
def list_payments():
    return page_response("payments", "list_payments_json", PAYMENT_FILTERS)


@operation("/payments/<payment_id>", "GET", summary="A payment with its R-transactions and replays",
           tag="payments")
def get_payment(payment_id):
    return jsonify(call("payments", "get_payment", g.merchant.id, payment_id))


@operation("/payments/<payment_id>/replay", "POST", summary="Replay a rejected payment (Idempotency-Key "
           "accepted)", tag="payments", body=bodies.ReplayIn, body_required=False, status=201)
@idempotent
def replay_payment(payment_id):
    body = json_body() if request.get_data() else {}
    return jsonify(call("payments", "replay_payment", g.merchant.id, payment_id, body)), 201


@operation("/r-transactions", "GET", summary="List R-transactions (filters: type, reason_code, status, "
           "from/to)", tag="payments")
def list_r_transactions():
    return page_response("payments", "list_r_transactions_json", R_TRANSACTION_FILTERS)
