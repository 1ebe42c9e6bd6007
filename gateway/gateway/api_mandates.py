"""API: subscribers and mandates (spec §6). The mandates service validates
and decides; this module authenticates, forwards and shapes HTTP answers."""
import base64

from flask import Response, g, jsonify, request

from common.json_pages import page_data
from gateway import bodies
from gateway.api import JsonText, json_body, json_object_response, operation
from gateway.idempotency import call_key
from gateway.rpc import call, call_together

SUBSCRIBER_FILTERS = ("q", "limit", "cursor")
MANDATE_FILTERS = ("customer_reference", "reference", "status", "signed_from", "signed_to", "q",
                   "subscriber_id", "limit", "cursor")


def query_filters(names):
    """The list filters present in the query string (the service validates them)."""
    return {name: request.args[name] for name in names if request.args.get(name, "") != ""}


def creditor_of(merchant):
    return {"name": merchant.name, "address": merchant.address, "creditor_id": merchant.creditor_id}


@operation("/subscribers", "POST", summary="Create a subscriber", tag="subscribers", body=bodies.SubscriberIn,
           status=201)
def create_subscriber():
    return jsonify(call("mandates", "create_subscriber", g.merchant.id, json_body())), 201


@operation("/subscribers", "GET", summary="Search subscribers (q: name, email, customer reference)",
           tag="subscribers")
def list_subscribers():
    return jsonify(call("mandates", "list_subscribers", g.merchant.id, query_filters(SUBSCRIBER_FILTERS)))


def subscriber_pages(merchant_id, subscriber_id):
    """(subscriber with its mandates, page of its plans, page of its latest payments), the pages as
    their services rendered them (common.json_pages); the API and the dashboard read them so."""
    latest = {"subscriber_id": subscriber_id, "limit": 500}
    return call_together([("mandates", "get_subscriber", merchant_id, subscriber_id),
                          ("plans", "list_plans_json", merchant_id, latest),
                          ("payments", "list_payments_json", merchant_id, latest)])


def subscriber_with_everything(merchant_id, subscriber_id):
    """The subscriber with its mandates, plans and latest payments, as data (for the dashboard)."""
    subscriber, plans, payments = subscriber_pages(merchant_id, subscriber_id)
    return dict(subscriber, plans=page_data(plans)["items"], payments=page_data(payments)["items"])


def page_response(service, method, filter_names):
    """A list's answer: the page `service.method` rendered as JSON text (common.json_pages; the
    list's one read path, which the dashboard reads through page_data) for the query string's
    filters, spliced in as it is; Flask-Compress compresses it for a client that takes gzip."""
    page = call(service, method, g.merchant.id, query_filters(filter_names))
    return json_object_response({"items": JsonText(page["items_json"]), "next_cursor": page["next_cursor"]})


@operation("/subscribers/<subscriber_id>", "GET", summary="A subscriber with its mandates, plans and payments",
           tag="subscribers")
def get_subscriber(subscriber_id):
    # as subscriber_with_everything, the plans and payments as the JSON text their services wrote
    subscriber, plans, payments = subscriber_pages(g.merchant.id, subscriber_id)
    return json_object_response(dict(subscriber, plans=JsonText(plans["items_json"]),
                                     payments=JsonText(payments["items_json"])))


@operation("/mandates", "POST", summary="Import an already signed mandate (paper, phone, web)",
           tag="mandates", body=bodies.MandateImportIn, status=201)
def import_mandate():
    return jsonify(call("mandates", "import_mandate", g.merchant.id, json_body(), call_key())), 201


@operation("/mandates", "GET", summary="Search and filter mandates", tag="mandates")
def list_mandates():
    return page_response("mandates", "list_mandates_json", MANDATE_FILTERS)


@operation("/mandates/<mandate_id>", "GET", summary="A mandate with its subscriber and amendments",
           tag="mandates")
def get_mandate(mandate_id):
    return jsonify(call("mandates", "get_mandate", g.merchant.id, mandate_id))


def mandate_pdf_response(merchant, mandate_id, lang):
    content = call("mandates", "render_mandate_pdf", merchant.id, mandate_id, creditor_of(merchant), lang)
    return Response(base64.b64decode(content), mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="mandate-{mandate_id}.pdf"'})


def mandate_scan_response(merchant_id, mandate_id):
    scan = call("mandates", "get_mandate_scan", merchant_id, mandate_id)
    return Response(base64.b64decode(scan["content_base64"]), mimetype=scan["content_type"], headers={
        "Content-Disposition": f'attachment; filename="{scan["filename"]}"'})


@operation("/mandates/<mandate_id>/pdf", "GET", summary="The mandate as a PDF (lang=fr|en)", tag="mandates")
def mandate_pdf(mandate_id):
    return mandate_pdf_response(g.merchant, mandate_id, request.args.get("lang", "fr"))


@operation("/mandates/<mandate_id>/scan", "GET", summary="The scan of a paper mandate", tag="mandates")
def mandate_scan(mandate_id):
    return mandate_scan_response(g.merchant.id, mandate_id)


@operation("/mandates/<mandate_id>/bank-details", "POST",
           summary="Amend the debtor's bank details (IBAN, BIC)", tag="mandates", body=bodies.BankDetailsIn)
def amend_bank_details(mandate_id):
    return jsonify(call("mandates", "amend_bank_details", g.merchant.id, mandate_id, json_body()))


@operation("/mandates/<mandate_id>/revoke", "POST", summary="Revoke a mandate", tag="mandates",
           body=bodies.RevokeIn, body_required=False)
def revoke_mandate(mandate_id):
    body = json_body() if request.get_data() else {}
    return jsonify(call("mandates", "revoke_mandate", g.merchant.id, mandate_id, body))
