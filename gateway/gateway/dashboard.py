"""The HTML dashboard: login, logout, language, and the seven sections of
spec §7. Forms are CSRF-protected (Flask-WTF); no business rule lives here."""
from functools import wraps

from flask import (Blueprint, abort, g, redirect, render_template, request, session, url_for)
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from gateway import accounts, throttle
from gateway.db import db_session
from gateway.models import Merchant, User

dashboard = Blueprint("dashboard", __name__)
LOCALES = ("en", "fr")

# (endpoint slug, menu label): the order of the menu.
SECTIONS = (
    ("overview", _l("Overview")),
    ("mandates", _l("Mandates")),
    ("plans", _l("Plans")),
    ("payments", _l("Payments")),
    ("monitoring", _l("Monitoring")),
    ("orders", _l("Orders")),
    ("subscribers", _l("Subscribers")),
)
_SECTION_NAMES = dict(SECTIONS)


def select_locale():
    chosen = request.args.get("lang") or session.get("lang")
    if chosen in LOCALES:
        return chosen
    return request.accept_languages.best_match(LOCALES) or "en"


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class LogoutForm(FlaskForm):
    pass


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        user_id = session.get("user_id")
        user = db_session().get(User, user_id) if user_id else None
        if user is None:
            session.clear()
            return redirect(url_for("dashboard.login", next=request.full_path))
        g.user = user
        g.merchant = db_session().get(Merchant, user.merchant_id)
        return view(*args, **kwargs)

    return wrapped


@dashboard.app_context_processor
def layout_context():
    return {"sections": SECTIONS, "logout_form": LogoutForm(), "locales": LOCALES}


@dashboard.route("/")
def home():
    return redirect(url_for("dashboard.section", name="overview"))


@dashboard.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    error, wait = None, 0
    if form.validate_on_submit():
        keys = [f"email:{form.email.data.strip().lower()}", f"address:{request.remote_addr}"]
        wait = throttle.retry_after(db_session(), "login", keys)
        user = None if wait else accounts.authenticate(db_session(), form.email.data, form.password.data)
        if wait:
            error = _l("Too many failed attempts. Try again in %(minutes)s min.", minutes=-(-wait // 60))
        elif user is None:
            throttle.record_failure(db_session(), "login", keys)
        else:
            throttle.forget(db_session(), "login", keys[0])
            lang = session.get("lang")
            session.clear()  # a new session id on login: no fixation
            session.permanent = True
            session.update(user_id=user.id, merchant_id=user.merchant_id)
            if lang:
                session["lang"] = lang
            target = request.args.get("next", "")
            # Only local paths: an open redirect would help phishing.
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("dashboard.home")
            return redirect(target)
        if not wait:
            error = _l("Wrong email or password.")
    status = 429 if wait else 401 if error else 200
    headers = {"Retry-After": str(wait)} if wait else {}
    return render_template("login.html", form=form, error=error), status, headers


@dashboard.route("/logout", methods=["POST"])
def logout():
    if LogoutForm().validate_on_submit():
        session.clear()
    return redirect(url_for("dashboard.login"))


@dashboard.route("/language/<code>")
def language(code):
    if code in LOCALES:
        session["lang"] = code
    target = request.referrer or url_for("dashboard.home")
    return redirect(target if target.startswith(request.host_url) else url_for("dashboard.home"))


@dashboard.route("/dashboard/<name>")
@login_required
def section(name):
    """A section not built yet: its empty state."""
    if name not in _SECTION_NAMES:
        abort(404)
    return render_template("dashboard/section.html", section=name, title=_SECTION_NAMES[name])
