"""Dashboard pages « Vue d'ensemble » (widgets and charts) and « Monitoring »
(balance, statement for a period with its CSV, payouts and the transfer form)."""
from datetime import timedelta

from flask import g, render_template, request, url_for

from common import clock
from common.csv import Amount
from common.errors import DebitoError, Invalid
from common.money import parse_amount
from gateway import audit
from gateway.api_mandates import query_filters
from gateway.api_monitoring import PAYOUT_FILTERS, overview_of
from gateway.charts import bar_chart, daily_balances, line_chart
from gateway.dashboard import dashboard, login_required
from gateway.dashboard_mandates import PostForm, csv_download, export_name, page_action
from gateway.db import db_session
from gateway.idempotency import call_key
from gateway.rpc import call


@dashboard.route("/dashboard/overview")
@login_required
def overview():
    figures = overview_of(g.merchant.id)
    series = figures.get("series", [])
    days = [point["day"] for point in series]
    collected = bar_chart(days, [("collected", "collected", [p["collected_amount"] for p in series]),
                                 ("rejected", "rejected", [p["rejected_amount"] for p in series])],
                          title="collected and rejected per day")
    statement = call("payments", "get_statement", g.merchant.id,
                     {"from": days[0], "to": days[-1]}) if days else None
    balance = line_chart(days, daily_balances(days, statement), title="balance") if statement else None
    return render_template("dashboard/overview.html", section="overview", figures=figures,
                           collected_chart=collected, balance_chart=balance)


def statement_period():
    today = clock.today()
    return {"from": request.args.get("from") or (today - timedelta(days=30)).isoformat(),
            "to": request.args.get("to") or today.isoformat()}


@dashboard.route("/dashboard/monitoring")
@login_required
def monitoring(errors=None, status=200):
    period = statement_period()
    try:
        statement, statement_error = call("payments", "get_statement", g.merchant.id, period), None
    except DebitoError as error:
        if error.status != 422:
            raise
        statement, statement_error = None, error.message
    return render_template(
        "dashboard/monitoring.html", section="monitoring", period=period, statement=statement,
        statement_error=statement_error, balance=call("payments", "get_balance", g.merchant.id),
        payouts=call("payments", "list_payouts", g.merchant.id, query_filters(PAYOUT_FILTERS)),
        form=PostForm(), errors=errors or {}), status


STATEMENT_COLUMNS = ("date", "value_date", "code", "reference", "subscriber", "label", "amount", "balance")


@dashboard.route("/dashboard/monitoring/statement.csv")
@login_required
def statement_export():
    statement = call("payments", "get_statement", g.merchant.id, statement_period())

    def rows():
        yield ["", "", "OPENING", "", "", "opening balance", None, Amount(statement["opening_balance"])]
        for entry in statement["entries"]:
            yield [Amount(entry[c]) if c in ("amount", "balance") else entry.get(c) for c in STATEMENT_COLUMNS]
        yield ["", "", "CLOSING", "", "", "closing balance", None, Amount(statement["closing_balance"])]

    return csv_download(export_name("statement"), STATEMENT_COLUMNS, rows())


@dashboard.route("/dashboard/monitoring/payouts", methods=["POST"])
@login_required
def payout_new():
    def perform():
        try:
            cents = parse_amount(request.form.get("amount", ""))
        except ValueError:
            raise Invalid("the amount is not valid", {"amount": "an amount in euros, such as 120,00"}) from None
        call("payments", "request_payout", g.merchant.id, {"amount": cents}, call_key())

    return page_action(lambda errors, status: monitoring(errors, status), perform, "payout_requested",
                       url_for("dashboard.monitoring"))


@dashboard.route("/dashboard/monitoring/audit")
@login_required
def audit_log():
    filters = query_filters(("limit", "cursor"))
    page = audit.list_entries(db_session(), g.merchant.id, filters)
    return render_template("dashboard/audit.html", section="monitoring", page=page, filters=filters)
