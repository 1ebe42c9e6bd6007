"""Dashboard pages of « Autorisations » (mandates) and « Abonnés »
(subscribers): lists with their filters in the URL, pages, CSV export, the
mandate page (amend, revoke, PDF, history), the import form."""
import base64
from datetime import datetime

from flask import (Response, flash, g, redirect, render_template, request, stream_with_context,
                   url_for)
from flask_wtf import FlaskForm

from common.csv import iter_csv_rows
from common.errors import DebitoError
from common.json_pages import page_data
from common.sepa import mask_iban
from gateway.api_mandates import (MANDATE_FILTERS, SUBSCRIBER_FILTERS, mandate_pdf_response,
                                  mandate_scan_response, query_filters, subscriber_with_everything)
from gateway.dashboard import dashboard, login_required
from gateway.idempotency import call_key
from gateway.rpc import call

MANDATE_STATUSES = ("pending_signature", "active", "revoked", "expired", "failed")


class PostForm(FlaskForm):
    """Only the CSRF token: the fields are read as sent and validated by the service."""


@dashboard.app_template_filter("masked_iban")
def masked_iban(iban):
    return mask_iban(iban) if iban else ""


@dashboard.app_template_filter("day")
def day(value):
    return value[:10] if value else ""


def form_fields(names):
    return {name: request.form[name].strip() for name in names if request.form.get(name, "").strip()}


def csv_download(filename, header, rows):
    decimal = "." if request.args.get("decimal") == "." else ","
    return Response(stream_with_context(iter_csv_rows(header, rows, decimal=decimal)),
                    mimetype="text/csv", headers={
                        "Content-Disposition": f'attachment; filename="{filename}"'})


def export_name(section):
    return f"{section}-{datetime.now():%Y%m%d-%H%M%S}.csv"


# --- mandates ---------------------------------------------------------------

@dashboard.route("/dashboard/mandates")
@login_required
def mandates():
    filters = query_filters(MANDATE_FILTERS)
    page = page_data(call("mandates", "list_mandates_json", g.merchant.id, filters))
    return render_template("dashboard/mandates.html", section="mandates", page=page,
                           filters=filters, statuses=MANDATE_STATUSES)


IMPORT_FIELDS = ("reference", "iban", "bic", "signature_method", "signed_at", "signed_place",
                 "sequence")
SUBSCRIBER_FIELDS = ("customer_reference", "name", "email", "phone", "address")


@dashboard.route("/dashboard/mandates/new", methods=["GET", "POST"])
@login_required
def mandate_import():
    form, errors = PostForm(), {}
    if form.validate_on_submit():
        payload = form_fields(IMPORT_FIELDS)
        if request.form.get("subscriber_id"):
            payload["subscriber_id"] = request.form["subscriber_id"]
        else:
            payload["subscriber"] = form_fields(SUBSCRIBER_FIELDS)
        scan = request.files.get("scan")
        if scan and scan.filename:
            payload["scan"] = {"filename": scan.filename,
                               "content_base64": base64.b64encode(scan.read()).decode()}
        try:
            mandate = call("mandates", "import_mandate", g.merchant.id, payload, call_key())
        except DebitoError as error:
            errors = error.fields or {"form": error.message}
        else:
            flash("mandate_imported")
            return redirect(url_for("dashboard.mandate", mandate_id=mandate["id"]))
    return render_template("dashboard/mandate_import.html", section="mandates", form=form,
                           errors=errors, values=request.form,
                           subscriber_id=request.values.get("subscriber_id", "")), (422 if errors else 200)


@dashboard.route("/dashboard/mandates/<mandate_id>")
@login_required
def mandate(mandate_id, errors=None, status=200):
    found = call("mandates", "get_mandate", g.merchant.id, mandate_id)
    return render_template("dashboard/mandate.html", section="mandates", mandate=found,
                           form=PostForm(), errors=errors or {}), status


@dashboard.route("/dashboard/mandates/<mandate_id>/bank-details", methods=["POST"])
@login_required
def mandate_amend(mandate_id):
    return _mandate_action(mandate_id, "amend_bank_details", ("iban", "bic"), "mandate_amended")


@dashboard.route("/dashboard/mandates/<mandate_id>/revoke", methods=["POST"])
@login_required
def mandate_revoke(mandate_id):
    return _mandate_action(mandate_id, "revoke_mandate", ("reason",), "mandate_revoked")


def _mandate_action(mandate_id, method, fields, done):
    return page_action(lambda errors, status: mandate(mandate_id, errors, status),
                       lambda: call("mandates", method, g.merchant.id, mandate_id, form_fields(fields)),
                       done, url_for("dashboard.mandate", mandate_id=mandate_id))


def page_action(show, perform, done, target):
    """A POST from an object's page: check the CSRF token, `perform`, then flash
    `done` and go to `target`; a refusal shows the page again with its reason."""
    if not PostForm().validate_on_submit():
        return show({"form": "The form expired: please try again."}, 400)
    try:
        perform()
    except DebitoError as error:
        if error.status == 404:
            raise
        return show(error.fields or {"form": error.message}, error.status)
    flash(done)
    return redirect(target)


@dashboard.route("/dashboard/mandates/<mandate_id>/pdf")
@login_required
def mandate_pdf(mandate_id):
    return mandate_pdf_response(g.merchant, mandate_id, request.args.get("lang", "fr"))


@dashboard.route("/dashboard/mandates/<mandate_id>/scan")
@login_required
def mandate_scan(mandate_id):
    return mandate_scan_response(g.merchant.id, mandate_id)


# --- subscribers ------------------------------------------------------------

@dashboard.route("/dashboard/subscribers")
@login_required
def subscribers():
    filters = query_filters(SUBSCRIBER_FILTERS)
    page = call("mandates", "list_subscribers", g.merchant.id, filters)
    return render_template("dashboard/subscribers.html", section="subscribers", page=page,
                           filters=filters)


@dashboard.route("/dashboard/subscribers/new", methods=["GET", "POST"])
@login_required
def subscriber_new():
    form, errors = PostForm(), {}
    if form.validate_on_submit():
        try:
            created = call("mandates", "create_subscriber", g.merchant.id, form_fields(SUBSCRIBER_FIELDS))
        except DebitoError as error:
            errors = error.fields or {"form": error.message}
        else:
            return redirect(url_for("dashboard.subscriber", subscriber_id=created["id"]))
    return render_template("dashboard/subscriber_new.html", section="subscribers", form=form,
                           errors=errors, values=request.form), (422 if errors else 200)


@dashboard.route("/dashboard/subscribers/<subscriber_id>")
@login_required
def subscriber(subscriber_id):
    found = subscriber_with_everything(g.merchant.id, subscriber_id)
    return render_template("dashboard/subscriber.html", section="subscribers", subscriber=found)
