"""Dashboard pages of « Paiements »: the list (a Rejected filter one click
away), the payment page with its R-transaction, reason and replay chain and a
« Rejouer » button, the R-transactions list, CSV exports."""
from flask import g, render_template, url_for

from common.json_pages import page_data
from gateway.api_mandates import query_filters
from gateway.api_payments import PAYMENT_FILTERS, R_TRANSACTION_FILTERS
from gateway.dashboard import dashboard, login_required
from gateway.dashboard_mandates import PostForm, form_fields, page_action
from gateway.rpc import call

PAYMENT_STATUSES = ("scheduled", "submitted", "paid", "rejected", "cancelled")
R_TRANSACTION_TYPES = ("reject", "return", "refund", "refusal", "reversal", "revocation",
                       "request_for_cancellation")


@dashboard.route("/dashboard/payments")
@login_required
def payments():
    filters = query_filters(PAYMENT_FILTERS)
    page = page_data(call("payments", "list_payments_json", g.merchant.id, filters))
    return render_template("dashboard/payments.html", section="payments", page=page, filters=filters,
                           statuses=PAYMENT_STATUSES)


@dashboard.route("/dashboard/payments/<payment_id>")
@login_required
def payment(payment_id, errors=None, status=200):
    found = call("payments", "get_payment", g.merchant.id, payment_id)
    return render_template("dashboard/payment.html", section="payments", payment=found, form=PostForm(),
                           errors=errors or {}), status


@dashboard.route("/dashboard/payments/<payment_id>/replay", methods=["POST"])
@login_required
def payment_replay(payment_id):
    replayed = {}

    def perform():
        replayed.update(call("payments", "replay_payment", g.merchant.id, payment_id,
                             form_fields(("due_date",))))

    response = page_action(lambda errors, status: payment(payment_id, errors, status), perform,
                           "payment_replayed", url_for("dashboard.payment", payment_id=payment_id))
    if replayed:
        response.location = url_for("dashboard.payment", payment_id=replayed["id"])
    return response


@dashboard.route("/dashboard/r-transactions")
@login_required
def r_transactions():
    filters = query_filters(R_TRANSACTION_FILTERS)
    page = page_data(call("payments", "list_r_transactions_json", g.merchant.id, filters))
    unmatched = call("payments", "list_unmatched", g.merchant.id)
    return render_template("dashboard/r_transactions.html", section="payments", page=page,
                           filters=filters, types=R_TRANSACTION_TYPES, unmatched=unmatched)
