"""API: signature orders (spec §6, issue 7). The signing service decides and
keeps the one-time passwords; this module authenticates, adds the merchant's
creditor identity and the request's evidence, and forwards."""
from flask import g, jsonify, request
from marshmallow import Schema, fields

from gateway.api import json_body, operation
from gateway.api_mandates import creditor_of, query_filters
from gateway.api_plans import actor
from gateway.rpc import call

ORDER_FILTERS = ("status", "method", "limit", "cursor")


class OrderSubscriberIn(Schema):
    customer_reference = fields.String(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)
    phone = fields.String(required=True, metadata={"description": "E.164, e.g. +33612345678"})
    address = fields.String()


class SignatureOrderIn(Schema):
    method = fields.String(required=True, metadata={"enum": ["link", "operator"]})
    subscriber = fields.Nested(OrderSubscriberIn, metadata={"description": "or subscriber_id"})
    subscriber_id = fields.String()
    plan = fields.Dict(metadata={"description": "as POST /plans, without mandate_id: created once signed"})
    lang = fields.String(metadata={"enum": ["fr", "en"]})


class SignIn(Schema):
    otp = fields.String(required=True, metadata={"description": "the 6 digits the subscriber received"})
    iban = fields.String(required=True)
    bic = fields.String()
    name = fields.String(metadata={"description": "the account holder, if not the subscriber's name"})


def evidence():
    """What the signature proves about its request: the peer address and the
    browser. The gateway trusts no X-Forwarded-For: it runs without a proxy fix."""
    return {"ip_address": request.remote_addr or "", "user_agent": request.headers.get("User-Agent", "")}


def create_order(merchant, payload):
    payload = dict(payload, created_by=actor())
    return call("signing", "create_order", merchant.id, payload, creditor_of(merchant))


@operation("/signature-orders", "POST", summary="Create a signature order: by link (answers signing_url "
           "and emails it) or by operator (then /otp and /sign)", tag="signature-orders",
           body=SignatureOrderIn, status=201)
def create_signature_order():
    return jsonify(create_order(g.merchant, json_body())), 201


@operation("/signature-orders", "GET", summary="List signature orders, newest first (filters: status, method)",
           tag="signature-orders")
def list_signature_orders():
    return jsonify(call("signing", "list_orders", g.merchant.id, query_filters(ORDER_FILTERS)))


@operation("/signature-orders/<order_id>", "GET", summary="A signature order", tag="signature-orders")
def get_signature_order(order_id):
    return jsonify(call("signing", "get_order", g.merchant.id, order_id))


@operation("/signature-orders/<order_id>/otp", "POST", summary="Send the one-time password by SMS to the "
           "subscriber's phone (at most once a minute, five times)", tag="signature-orders")
def send_signature_otp(order_id):
    return jsonify(call("signing", "send_otp", g.merchant.id, order_id))


@operation("/signature-orders/<order_id>/sign", "POST", summary="Operator: sign with the code the subscriber "
           "read out and their bank details", tag="signature-orders", body=SignIn)
def sign_signature_order(order_id):
    return jsonify(call("signing", "sign", g.merchant.id, order_id, json_body(), evidence()))


@operation("/signature-orders/<order_id>/cancel", "POST", summary="Cancel a pending order",
           tag="signature-orders")
def cancel_signature_order(order_id):
    return jsonify(call("signing", "cancel_order", g.merchant.id, order_id))


def resend(merchant_id, order_id):
    """A link order gets a new link (the old one stops working); an operator order a new code."""
    order = call("signing", "get_order", merchant_id, order_id)
    method = "resend_link" if order["method"] == "link" else "send_otp"
    return call("signing", method, merchant_id, order_id)


@operation("/signature-orders/<order_id>/resend", "POST", summary="Send again: a new link by email (link "
           "orders) or a new SMS code (operator orders)", tag="signature-orders")
def resend_signature_order(order_id):
    return jsonify(resend(g.merchant.id, order_id))
