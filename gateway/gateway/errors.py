"""Every error becomes an HTTP answer here, in one place: JSON under /api
(spec §6: `{"error": {"code", "message", "fields"}}`), a page elsewhere."""
import logging

from flask import jsonify, render_template, request
from nameko.exceptions import RemoteError, RpcTimeout
from werkzeug.exceptions import HTTPException

from common.errors import DebitoError, Unavailable

log = logging.getLogger(__name__)


def _is_api():
    return request.path.startswith("/api/")


def error_response(status, code, message, fields=None):
    if _is_api():
        return jsonify({"error": {"code": code, "message": message, "fields": fields or {}}}), status
    return render_template("error.html", status=status, code=code, message=message), status


def register_error_handlers(app):
    @app.errorhandler(DebitoError)
    def debito_error(error):
        return error_response(error.status, error.code, error.message, error.fields)

    @app.errorhandler(HTTPException)
    def http_error(error):
        code = (error.name or "error").lower().replace(" ", "_")
        return error_response(error.code, code, error.description)

    @app.errorhandler(RpcTimeout)
    def rpc_timeout(error):
        return error_response(503, Unavailable.code, "a service did not answer in time")

    @app.errorhandler(RemoteError)
    def remote_error(error):
        log.error("remote error: %s", error)
        return error_response(500, "internal_error", "an internal error occurred")

    @app.errorhandler(Exception)
    def unexpected(error):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "an internal error occurred")
