"""The public signing pages (spec §6, issue 7): no login, the token in the
URL is the credential. GET /sign/<token> shows the creditor, the mandate text
exactly as the signing service wrote it (its hash is the evidence) and the
form (name, IBAN, BIC); submitting sends the SMS code; the code signs and
leads to the confirmation with the signed mandate's PDF. French and English.
Every refusal is a page saying what happened (404, 410, 409, 422, 429),
never a 500; the forms carry Flask-WTF's CSRF token."""
import base64
import re

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError

from common.errors import DebitoError, Invalid, NotFound, TooManyRequests
from gateway.api_signing import evidence
from gateway.rpc import call

public_signing = Blueprint("sign", __name__, url_prefix="/sign")
MAX_ATTEMPTS = 5  # spec §2: at most 5 attempts, then the order is failed
DETAIL_FIELDS = ("name", "iban", "bic")
# itsdangerous's shape (payload.signature, base64url; a leading dot when compressed). Its base64
# decoder skips any other character, so the real token with junk after it would verify: refused here.
TOKEN = re.compile(r"\.?[A-Za-z0-9_-]{1,400}\.[A-Za-z0-9_-]{1,100}")

PROBLEMS = {
    400: (_l("The form expired"), _l("Please reload the page and try again.")),
    404: (_l("This signing link is not valid"),
          _l("Check that you opened the whole link from the email, or ask the sender for a new one.")),
    409: (_l("This signature request is closed"),
          _l("It was cancelled, or locked after too many wrong codes. Ask the sender for a new one.")),
    410: (_l("This signing link can no longer be used"),
          _l("It was already used, replaced by a newer link, or it expired. Ask the sender for a new one "
             "if you still need to sign.")),
    429: (_l("Too many attempts"), _l("Please wait a minute before trying again.")),
    503: (_l("Signing is unavailable for a moment"), _l("Please try again in a few minutes.")),
}


# The service's reasons for refusing a code, in the page's language.
CODE_ERRORS = (("expired", _l("This code has expired: get a new one below.")),
               ("wrong code", _l("Wrong code.")),
               ("6 digits", _l("The code has 6 digits.")))


def code_error(message):
    return next((text for key, text in CODE_ERRORS if key in message), message)


def page_lang():
    return str(get_locale())


def problem(status, detail=""):
    title, advice = PROBLEMS.get(status, PROBLEMS[409 if status < 500 else 503])
    return render_template("sign/problem.html", status=status, title=title, advice=advice,
                           detail=detail), status


@public_signing.errorhandler(DebitoError)
def signing_refused(error):
    if error.status == 410 and error.fields.get("status") == "signed":
        return problem(410, _l("This link was already used: the mandate is signed."))
    if error.fields.get("status") == "failed":  # locked after five wrong codes
        return problem(409, error.message)
    return problem(error.status, error.message)


@public_signing.url_value_preprocessor
def token_shape(endpoint, values):
    if not TOKEN.fullmatch((values or {}).get("token", "")):
        raise NotFound("no such signing link", {"token": "not found"})


@public_signing.errorhandler(CSRFError)
def form_expired(error):
    return problem(400)


def here(endpoint, token, **args):
    """A URL of these pages that keeps the chosen language."""
    if request.args.get("lang"):
        args.setdefault("lang", request.args["lang"])
    return url_for(endpoint, token=token, **args)


def show(token, link, step, errors=None, values=None, status=200):
    attempts_left = max(MAX_ATTEMPTS - link["order"]["otp_attempts"], 0)
    return render_template(f"sign/{step}.html", token=token, link=link, order=link["order"],
                           creditor=link["creditor"], errors=errors or {}, values=values or {},
                           attempts_left=attempts_left, here=here), status


@public_signing.route("/<token>")
def open_link(token):
    link = call("signing", "open_link", token, page_lang())
    if link["order"]["status"] == "otp_sent" and request.args.get("step") != "details":
        return show(token, link, "code")
    return show(token, link, "details")


@public_signing.route("/<token>", methods=["POST"])
def submit_details(token):
    details = {name: request.form[name].strip() for name in DETAIL_FIELDS if request.form.get(name, "").strip()}
    try:
        call("signing", "submit_link_details", token, details, page_lang())
    except (Invalid, TooManyRequests) as error:
        link = call("signing", "open_link", token, page_lang())
        return show(token, link, "details", error.fields or {"form": error.message}, request.form, error.status)
    # Post/redirect/get: reloading the code page must not send another SMS.
    return redirect(here("sign.open_link", token))


@public_signing.route("/<token>/code", methods=["POST"])
def sign(token):
    otp = request.form.get("otp", "").strip()
    try:
        call("signing", "sign_link", token, {"otp": otp}, evidence(), page_lang())
    except Invalid as error:
        try:
            link = call("signing", "open_link", token, page_lang())
        except DebitoError as closed:  # the fifth wrong code locked the order
            return problem(409 if closed.fields.get("status") == "failed" else closed.status, closed.message)
        return show(token, link, "code", {"otp": code_error(error.fields.get("otp", error.message))}, status=422)
    return redirect(here("sign.signed", token))


@public_signing.route("/<token>/done")
def signed(token):
    found = call("signing", "signed_mandate_for_link", token)
    return render_template("sign/done.html", token=token, signed=found, creditor=found["creditor"], here=here)


@public_signing.route("/<token>/mandate.pdf")
def mandate_pdf(token):
    found = call("signing", "signed_mandate_for_link", token)
    content = call("mandates", "render_mandate_pdf", found["merchant_id"], found["mandate_id"],
                   found["creditor"], page_lang())
    return Response(base64.b64decode(content), mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="mandate-{found["mandate_id"]}.pdf"'})
