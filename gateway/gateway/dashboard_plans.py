"""Dashboard pages of « Plans »: the list with its filters in the URL, pages
and CSV export; the create form (from a mandate); the plan page with its
schedule, edit form, pause, resume and cancel."""
from flask import flash, g, redirect, render_template, request, url_for

from common.errors import DebitoError, Invalid
from common.json_pages import page_data
from common.money import format_amount, parse_amount
from contracts.plans import FREQUENCIES, STATUSES as PLAN_STATUSES
from gateway.api_mandates import query_filters
from gateway.api_plans import PLAN_FILTERS, actor
from gateway.dashboard import dashboard, login_required
from gateway.dashboard_mandates import PostForm, form_fields, page_action
from gateway.idempotency import call_key
from gateway.rpc import call

PLAN_FIELDS = ("mandate_id", "label", "amount", "frequency", "start_date", "count", "end_date",
               "day_of_month")


@dashboard.app_template_filter("euros")
def euros(cents):
    return f"{format_amount(cents)} €" if isinstance(cents, int) else ""


def plan_payload(names):
    """Form fields as the API takes them: the amount typed in euros becomes cents."""
    payload = form_fields(names)
    if "amount" in payload:
        try:
            payload["amount"] = parse_amount(payload["amount"])
        except ValueError:
            raise Invalid("the amount is not valid", {"amount": "an amount in euros, such as 12,50"}) from None
    for name in ("count", "day_of_month"):
        if name in payload and payload[name].lstrip("-").isdigit():
            payload[name] = int(payload[name])
    return payload


@dashboard.route("/dashboard/plans")
@login_required
def plans():
    filters = query_filters(PLAN_FILTERS)
    page = page_data(call("plans", "list_plans_json", g.merchant.id, filters))
    return render_template("dashboard/plans.html", section="plans", page=page, filters=filters,
                           statuses=PLAN_STATUSES, frequencies=FREQUENCIES)


@dashboard.route("/dashboard/plans/new", methods=["GET", "POST"])
@login_required
def plan_new():
    form, errors = PostForm(), {}
    if form.validate_on_submit():
        try:
            created = call("plans", "create_plan", g.merchant.id, plan_payload(PLAN_FIELDS), actor(),
                           call_key())
        except DebitoError as error:
            errors = error.fields or {"form": error.message}
        else:
            flash("plan_created")
            return redirect(url_for("dashboard.plan", plan_id=created["id"]))
    return render_template("dashboard/plan_new.html", section="plans", form=form, errors=errors,
                           values=request.values, frequencies=FREQUENCIES), (422 if errors else 200)


@dashboard.route("/dashboard/plans/<plan_id>")
@login_required
def plan(plan_id, errors=None, status=200):
    found = call("plans", "get_plan", g.merchant.id, plan_id)
    return render_template("dashboard/plan.html", section="plans", plan=found, form=PostForm(),
                           errors=errors or {}, frequencies=FREQUENCIES), status


@dashboard.route("/dashboard/plans/<plan_id>/edit", methods=["POST"])
@login_required
def plan_edit(plan_id):
    return _plan_action(plan_id, lambda: call(
        "plans", "update_plan", g.merchant.id, plan_id,
        plan_payload(("amount", "frequency", "end_date", "count", "day_of_month")), actor()), "plan_updated")


@dashboard.route("/dashboard/plans/<plan_id>/<action>", methods=["POST"])
@login_required
def plan_status(plan_id, action):
    if action not in ("pause", "resume", "cancel"):
        return plan(plan_id, {"form": "unknown action"}, 404)
    return _plan_action(plan_id, lambda: call("plans", f"{action}_plan", g.merchant.id, plan_id, actor()),
                        f"plan_{action}")


def _plan_action(plan_id, perform, done):
    return page_action(lambda errors, status: plan(plan_id, errors, status), perform, done,
                       url_for("dashboard.plan", plan_id=plan_id))
