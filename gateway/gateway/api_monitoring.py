"""API: balance, statement, payouts and the overview (spec §6). Payments keeps
the ledger, reporting the figures built from events; this merges and forwards."""
from flask import g, jsonify, request

from gateway import audit, bodies
from gateway.api import json_body, operation
from gateway.api_mandates import query_filters
from gateway.db import db_session
from gateway.idempotency import call_key, idempotent
from gateway.rpc import call

PAYOUT_FILTERS = ("status", "limit", "cursor")


@operation("/balance", "GET", summary="Balance, available funds, reserve, transfers and refunds in progress "
           "(as_of: a day, default today)", tag="monitoring")
def balance():
    return jsonify(call("payments", "get_balance", g.merchant.id, request.args.get("as_of") or None))


@operation("/statement", "GET", summary="The statement of a period: opening balance, every entry with its "
           "running balance, closing balance (from, to)", tag="monitoring")
def statement():
    return jsonify(call("payments", "get_statement", g.merchant.id, query_filters(("from", "to"))))


@operation("/payouts", "POST", summary="Transfer available funds to the merchant's own account "
           "(Idempotency-Key accepted)", tag="monitoring", body=bodies.PayoutIn, status=201)
@idempotent
def request_payout():
    return jsonify(call("payments", "request_payout", g.merchant.id, json_body(), call_key())), 201


@operation("/payouts", "GET", summary="List payouts", tag="monitoring")
def list_payouts():
    return jsonify(call("payments", "list_payouts", g.merchant.id, query_filters(PAYOUT_FILTERS)))


def overview_of(merchant_id):
    """Reporting's counters and 90-day series with payments' balance figures."""
    figures = call("reporting", "overview", merchant_id)
    figures.update(call("payments", "get_balance", merchant_id))
    return figures


@operation("/overview", "GET", summary="Balance, available funds, transfers and refunds in progress, signed "
           "mandates, rejected debits, active plans, and a series per day for 90 days", tag="monitoring")
def overview():
    return jsonify(overview_of(g.merchant.id))


@operation("/audit-log", "GET", summary="Sensitive actions, newest first: revoke, amend, replay, payout, export, "
           "API key creation, with who and when (limit, cursor)", tag="monitoring")
def audit_log():
    return jsonify(audit.list_entries(db_session(), g.merchant.id, query_filters(("limit", "cursor"))))
