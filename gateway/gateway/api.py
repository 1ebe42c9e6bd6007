"""The JSON API under /api/v1: bearer authentication, and a registry that
adds each endpoint both to Flask and to the OpenAPI document (spec §6)."""
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
import json

from flask import Blueprint, Response, g, jsonify, request

from common.errors import Malformed, TooManyRequests, Unauthorized
from gateway import accounts, schemas, throttle
from gateway.errors import error_response
from gateway.db import db_session

api = Blueprint("api", __name__, url_prefix="/api/v1")
_operations = []
PUBLIC = {"api.openapi"}


def operation(path, method, *, summary, tag, response=None, body=None, body_required=True, query=None, status=200):
    """Route `view` at /api/v1`path` and describe it in the OpenAPI document."""

    def decorator(view):
        api.add_url_rule(path, view.__name__, view, methods=[method])
        _operations.append(dict(path=path, method=method.lower(), summary=summary, tag=tag,
                                response=response, body=body, body_required=body_required, query=query,
                                status=status))
        return view

    return decorator


def json_body():
    """The request's JSON object; a `null` field counts as left out (spec §6)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Malformed("the request body must be a JSON object", {"body": "not a JSON object"})
    return {key: value for key, value in data.items() if value is not None}


class JsonText(str):
    """A value a service sent already written as JSON text (a page PostgreSQL rendered)."""


def json_object(members):
    """The JSON text of an object from {key: value}; a JsonText value goes in as it is, unparsed.
    The one place where the gateway splices JSON a service wrote into its answer."""
    return "{" + ", ".join(json.dumps(key) + ": " + (value if isinstance(value, JsonText) else json.dumps(value))
                           for key, value in members.items()) + "}"


def json_object_response(members):
    return Response(json_object(members), mimetype="application/json")


@api.before_request
def authenticate():
    if request.endpoint in PUBLIC:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("missing API key: send 'Authorization: Bearer <api key>'")
    address = [f"address:{request.remote_addr}"]
    wait = throttle.retry_after(db_session(), "api_key", address)
    if wait:
        response, status = error_response(429, TooManyRequests.code,
                                          f"too many wrong API keys from this address: retry in {wait} s")
        response.headers["Retry-After"] = str(wait)
        return response, status
    merchant = accounts.merchant_for_api_key(db_session(), key.strip())
    if merchant is None:
        throttle.record_failure(db_session(), "api_key", address)
        raise Unauthorized("invalid API key")
    g.merchant = merchant


@operation("/merchant", "GET", summary="The merchant owning the API key", tag="merchant",
           response=schemas.MerchantOut)
def merchant():
    return jsonify(schemas.MerchantOut().dump(g.merchant))


@operation("/ping", "GET", summary="Reach a service and no database: the authenticated API's round trip "
           "(the anchor of the list calls' latency)", tag="merchant")
def ping():
    from gateway.rpc import call

    answer = call("mandates", "ping", check_database=False)
    return jsonify({"status": answer["status"], "service": answer["service"], "merchant_id": g.merchant.id})


def _openapi_path(path):
    return path.replace("<", "{").replace(">", "}").replace("{path:", "{").replace("{int:", "{")


def build_openapi():
    spec = APISpec(title="Debito API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   servers=[{"url": "/api/v1"}],
                   security=[{"bearer": []}])
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=schemas.Error)
    paths = {}
    for op in _operations:
        error = {"content": {"application/json": {"schema": "Error"}}}
        responses = {str(op["status"]): {"description": "OK"},
                     "401": dict(error, description="missing or wrong API key"),
                     "429": dict(error, description="too many wrong API keys from this address (Retry-After)"),
                     "503": dict(error, description="a service did not answer in time: nothing was done")}
        if op["response"] is not None:
            responses[str(op["status"])]["content"] = {"application/json": {"schema": op["response"]}}
        item = {"summary": op["summary"], "tags": [op["tag"]], "responses": responses}
        if op["body"] is not None:
            item["requestBody"] = {"required": op["body_required"],
                                   "content": {"application/json": {"schema": op["body"]}}}
            responses["400"] = dict(error, description="malformed body")
            responses["404"] = dict(error, description="an object the body names was not found")
            responses["409"] = dict(error, description="the state of an object forbids it")
            responses["422"] = dict(error, description="invalid field")
        if op["query"] is not None:
            item["parameters"] = [{"in": "query", "schema": op["query"]}]
            responses["422"] = dict(error, description="invalid filter")
        path = _openapi_path(op["path"])
        params = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        if params:
            item.setdefault("parameters", []).extend(
                {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
                for name in params)
            responses["404"] = dict(error, description="not found (also another merchant's object)")
            if op["method"] != "get":
                responses["409"] = dict(error, description="the state of the object forbids it")
        paths.setdefault(path, {})[op["method"]] = item
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@api.route("/openapi.json")
def openapi():
    return jsonify(build_openapi())
