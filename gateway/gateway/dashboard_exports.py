"""The dashboard's Export buttons: each starts a reporting export job with the
list's filters, shows its progress and downloads the file when it is done."""
from flask import g, jsonify, redirect, render_template, request, url_for

from common.errors import Invalid
from gateway.api_exports import export_file_response
from gateway.dashboard import dashboard, login_required
from gateway.dashboard_mandates import PostForm
from gateway.rpc import call

PAGING = ("limit", "cursor")


@dashboard.route("/dashboard/exports", methods=["POST"])
@login_required
def export_start():
    if not PostForm().validate_on_submit():
        raise Invalid("the form expired: please try again", {"form": "expired"})
    filters = {name[len("filter_"):]: value for name, value in request.form.items()
               if name.startswith("filter_") and value and name[len("filter_"):] not in PAGING}
    job = call("reporting", "create_export", g.merchant.id,
               {"section": request.form.get("section", ""), "filters": filters,
                "decimal": "." if request.form.get("decimal") == "." else ","})
    return redirect(url_for("dashboard.export_page", export_id=job["id"]))


@dashboard.route("/dashboard/exports/<export_id>")
@login_required
def export_page(export_id):
    job = call("reporting", "get_export", g.merchant.id, export_id)
    return render_template("dashboard/export.html", section=_menu_section(job["section"]), job=job)


@dashboard.route("/dashboard/exports/<export_id>/status")
@login_required
def export_status(export_id):
    return jsonify(call("reporting", "get_export", g.merchant.id, export_id))


@dashboard.route("/dashboard/exports/<export_id>/download")
@login_required
def export_download(export_id):
    return export_file_response(g.merchant.id, export_id)


def _menu_section(export_section):
    return {"r-transactions": "payments", "payouts": "monitoring", "statement": "monitoring",
            "signature-orders": "orders"}.get(
        export_section, export_section)
