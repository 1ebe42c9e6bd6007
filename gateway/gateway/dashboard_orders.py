"""Dashboard pages of « Ordres » (signature orders, issue 7): the list with
its status and method filters in the URL, pages and Export; the create form
(by link: the signing URL is shown once; by operator: straight to the signing
screen), from scratch or from a subscriber's page; the order page, which is
the operator's signing screen (send the code, type it with the IBAN) and
offers resend and cancel."""
from flask import flash, g, redirect, render_template, request, url_for

from common.errors import DebitoError, Invalid
from common.money import parse_amount
from contracts.plans import FREQUENCIES
from gateway.api_mandates import query_filters
from gateway.api_signing import ORDER_FILTERS, create_order, evidence, resend
from gateway.dashboard import dashboard, login_required
from gateway.dashboard_mandates import SUBSCRIBER_FIELDS, PostForm, form_fields, page_action
from gateway.rpc import call

ORDER_STATUSES = ("pending", "otp_sent", "signed", "expired", "failed", "cancelled")
METHODS = ("link", "operator")
PLAN_FIELDS = ("label", "amount", "frequency", "start_date", "count", "end_date", "day_of_month")
OPEN = ("pending", "otp_sent")


@dashboard.route("/dashboard/orders")
@login_required
def orders():
    filters = query_filters(ORDER_FILTERS)
    page = call("signing", "list_orders", g.merchant.id, filters)
    return render_template("dashboard/orders.html", section="orders", page=page, filters=filters,
                           statuses=ORDER_STATUSES, methods=METHODS)


def order_payload():
    """The form as create_order takes it: a known subscriber or a new one, and
    the plan only when its label or amount was typed."""
    payload = {"method": request.form.get("method", ""), "lang": request.form.get("lang") or "fr"}
    if request.form.get("subscriber_id"):
        payload["subscriber_id"] = request.form["subscriber_id"]
    else:
        payload["subscriber"] = form_fields(SUBSCRIBER_FIELDS)
    if request.form.get("plan_label", "").strip() or request.form.get("plan_amount", "").strip():
        plan = form_fields(["plan_" + name for name in PLAN_FIELDS])
        plan = {name[len("plan_"):]: value for name, value in plan.items()}
        if "amount" in plan:
            try:
                plan["amount"] = parse_amount(plan["amount"])
            except ValueError:
                raise Invalid("the amount is not valid",
                              {"plan": {"amount": "an amount in euros, such as 12,50"}}) from None
        for name in ("count", "day_of_month"):
            if name in plan and plan[name].lstrip("-").isdigit():
                plan[name] = int(plan[name])
        payload["plan"] = dict(plan, prenotification_days=g.merchant.prenotification_days)
    return payload


def flat_errors(fields):
    """The service names nested fields ({"subscriber": {"phone": …}}): the form's names are flat."""
    flat = {}
    for name, message in (fields or {}).items():
        if isinstance(message, dict):
            prefix = "plan_" if name == "plan" else ""
            flat.update({prefix + inner: text for inner, text in flat_errors(message).items()})
        else:
            flat[name] = message
    return flat


@dashboard.route("/dashboard/orders/new", methods=["GET", "POST"])
@login_required
def order_new():
    form, errors = PostForm(), {}
    subscriber_id = request.values.get("subscriber_id", "")
    subscriber = call("mandates", "get_subscriber", g.merchant.id, subscriber_id) if subscriber_id else None
    if form.validate_on_submit():
        try:
            created = create_order(g.merchant, order_payload())
        except DebitoError as error:
            errors = flat_errors(error.fields) or {"form": error.message}
        else:
            if created["method"] == "operator":
                return redirect(url_for("dashboard.order", order_id=created["id"]))
            # The signing URL exists only in this answer (the service keeps a hash): show it now.
            return order(created["id"], signing_url=created["signing_url"], notice="order_created")
    return render_template("dashboard/order_new.html", section="orders", form=form, errors=errors,
                           values=request.form, subscriber=subscriber, frequencies=FREQUENCIES,
                           method=request.values.get("method", "link")), (422 if errors else 200)


@dashboard.route("/dashboard/orders/<order_id>")
@login_required
def order(order_id, errors=None, status=200, signing_url=None, notice=None):
    found = call("signing", "get_order", g.merchant.id, order_id)
    return render_template("dashboard/order.html", section="orders", order=found, form=PostForm(),
                           errors=errors or {}, values=request.form if errors else {},
                           signing_url=signing_url, notice=notice, open=found["status"] in OPEN), status


def _order_action(order_id, perform, done):
    return page_action(lambda errors, status: order(order_id, flat_errors(errors), status), perform, done,
                       url_for("dashboard.order", order_id=order_id))


@dashboard.route("/dashboard/orders/<order_id>/otp", methods=["POST"])
@login_required
def order_send_code(order_id):
    return _order_action(order_id, lambda: call("signing", "send_otp", g.merchant.id, order_id), "code_sent")


@dashboard.route("/dashboard/orders/<order_id>/sign", methods=["POST"])
@login_required
def order_sign(order_id):
    return _order_action(order_id, lambda: call("signing", "sign", g.merchant.id, order_id,
                                                form_fields(("otp", "iban", "bic", "name")), evidence()),
                         "order_signed")


@dashboard.route("/dashboard/orders/<order_id>/cancel", methods=["POST"])
@login_required
def order_cancel(order_id):
    return _order_action(order_id, lambda: call("signing", "cancel_order", g.merchant.id, order_id),
                         "order_cancelled")


@dashboard.route("/dashboard/orders/<order_id>/resend", methods=["POST"])
@login_required
def order_resend(order_id):
    if not PostForm().validate_on_submit():
        return order(order_id, {"form": "The form expired: please try again."}, 400)
    try:
        sent = resend(g.merchant.id, order_id)
    except DebitoError as error:
        if error.status == 404:
            raise
        return order(order_id, flat_errors(error.fields) or {"form": error.message}, error.status)
    if sent["method"] == "link":
        return order(order_id, signing_url=sent["signing_url"], notice="link_resent")
    flash("code_sent")
    return redirect(url_for("dashboard.order", order_id=order_id))
