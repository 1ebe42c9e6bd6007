"""The gateway's Flask app factory: the JSON API, the dashboard, /healthz."""
import logging
import secrets
from datetime import timedelta

from flask import Flask, jsonify, request
from nameko.exceptions import RpcTimeout, UnknownService
from flask_babel import Babel, get_locale
from flask_compress import Compress
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import sessionmaker

from common.config import SERVICES, amqp_uri, env, var_dir
from common.database import engine_for
from gateway import (api_exports, api_mandates, api_monitoring, api_payments, api_plans,  # noqa: F401
                     api_signing, dashboard_exports, dashboard_mandates, dashboard_monitoring,
                     dashboard_orders, dashboard_payments, dashboard_plans)  # (their routes)
from gateway import audit
from gateway.api import api
from gateway.dashboard import dashboard, select_locale
from gateway.db import close_db_session
from gateway.errors import register_error_handlers
from gateway.public_signing import public_signing
from gateway.rpc import RpcPool

log = logging.getLogger(__name__)
csrf = CSRFProtect()
HEALTH_TIMEOUT = 2


def secret_key():
    """SECRET_KEY, or one made once and kept under var/ for a one-machine run."""
    configured = env("SECRET_KEY")
    if configured:
        return configured
    path = var_dir() / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(overrides=None):
    app = Flask(__name__)
    public_url = env("PUBLIC_URL", "")
    app.config.update(
        SECRET_KEY=secret_key(),
        AMQP_URI=amqp_uri(),
        PUBLIC_URL=public_url,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE="en",
        BABEL_TRANSLATION_DIRECTORIES="translations",
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,  # a 10 MB scan, base64 in JSON
        JSON_SORT_KEYS=False,
        # answers of 1 KB and more (lists, pages) in gzip to the clients that accept it: a page of
        # 50 payments is 43 KB of JSON, 6 KB in gzip at level 1 (0.2 ms); downloads (streamed) as
        # they are
        COMPRESS_ALGORITHM="gzip",
        COMPRESS_LEVEL=1,
        COMPRESS_MIN_SIZE=1024,
        COMPRESS_STREAMS=False,
        COMPRESS_EVALUATE_CONDITIONAL_REQUEST=False,
    )
    app.config.update(overrides or {})
    app.extensions["debito.sessionmaker"] = sessionmaker(bind=engine_for("gateway"),
                                                         expire_on_commit=False)
    app.extensions["debito.rpc"] = RpcPool(app.config["AMQP_URI"])
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    csrf.init_app(app)
    csrf.exempt(api)  # the API authenticates each request with a bearer key, no cookie
    app.register_blueprint(api)
    app.register_blueprint(dashboard)
    app.register_blueprint(public_signing)  # /sign/<token>: no login, the token is the credential
    Compress(app)  # its after_request runs last (Flask runs them in reverse): the audit reads the plain body
    app.after_request(audit.after_request)
    app.teardown_appcontext(close_db_session)
    register_error_handlers(app)
    app.add_url_rule("/healthz", "healthz", healthz)
    return app


def healthz():
    """200 when every service answers its ping within HEALTH_TIMEOUT; else 503 naming the silent."""
    from flask import current_app

    services = {}
    try:
        with current_app.extensions["debito.rpc"].short_lived(HEALTH_TIMEOUT) as rpc:
            calls = {}
            for name in SERVICES:
                try:
                    calls[name] = getattr(rpc, name).ping.call_async(check_database=True)
                except UnknownService:
                    services[name] = "not running"
            for name, call in calls.items():
                try:
                    services[name] = call.result()["status"]
                except RpcTimeout:
                    services[name] = "no answer"
                except Exception as error:  # a service that answers with an error is not healthy
                    services[name] = f"error: {error}"
    except Exception as error:
        log.warning("health check could not reach the broker: %s", error)
        services = {name: "unreachable" for name in SERVICES}
        services["broker"] = "unreachable"
    silent = sorted(name for name, status in services.items() if status != "ok")
    body = {"status": "ok" if not silent else "unavailable", "services": services}
    if silent:
        body["silent"] = silent
    return jsonify(body), (200 if not silent else 503)


def request_wants_json():
    return request.path.startswith("/api/") or request.path == "/healthz"
