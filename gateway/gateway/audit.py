"""The audit log of sensitive actions (issue 9): revoking and amending a mandate, replaying a
payment, a payout, an export and its download, an API key's creation. The gateway records
each one once it succeeded (an API answer 2xx, a dashboard form that redirects), with who
(the dashboard user's email, `api`, or `cli`), when (the one clock), the object and the few
fields that say what was done (an IBAN masked, never a secret)."""
import json

from flask import g, request
from marshmallow import fields, validate
from sqlalchemy import select

from common import clock
from common.database import keyset_page
from common.ids import new_id
from common.schemas import In, load, to_utc
from common.sepa import mask_iban
from gateway.models import AuditEntry

# endpoint -> (action, the request fields kept)
ACTIONS = {
    "api.revoke_mandate": ("mandate.revoke", ("reason",)),
    "dashboard.mandate_revoke": ("mandate.revoke", ("reason",)),
    "api.amend_bank_details": ("mandate.amend", ("iban", "bic")),
    "dashboard.mandate_amend": ("mandate.amend", ("iban", "bic")),
    "api.replay_payment": ("payment.replay", ("due_date",)),
    "dashboard.payment_replay": ("payment.replay", ("due_date",)),
    "api.request_payout": ("payout.request", ("amount",)),
    "dashboard.payout_new": ("payout.request", ("amount",)),
    "api.create_export": ("export.create", ("section", "decimal")),
    "dashboard.export_start": ("export.create", ("section", "decimal")),
    "api.export_download": ("export.download", ()),
    "dashboard.export_download": ("export.download", ()),
}


def record(session, merchant_id, actor, action, object_id=None, detail=None):
    """One entry; the caller commits."""
    session.add(AuditEntry(id=new_id("AU"), merchant_id=merchant_id, at=clock.now(), actor=actor, action=action,
                           object_id=object_id, detail=json.dumps(detail, ensure_ascii=False) if detail else None))


def _fields(names):
    sent = request.get_json(silent=True) if request.is_json else request.form
    if not hasattr(sent, "get"):
        return {}
    detail = {name: sent.get(name) for name in names if sent.get(name) not in (None, "")}
    if "iban" in detail:
        detail["iban"] = mask_iban(str(detail["iban"]))
    return detail


def _object_id(response):
    if request.view_args:
        return str(next(iter(request.view_args.values())))
    if response.is_json:
        body = response.get_json(silent=True)
        return body.get("id") if isinstance(body, dict) else None
    return response.location.rstrip("/").rsplit("/", 1)[-1] if response.location else None


def after_request(response):
    """Flask hook: record the request's action if it is audited and succeeded."""
    from gateway.db import db_session

    audited = ACTIONS.get(request.endpoint)
    merchant = g.get("merchant")
    if request.blueprint == "api" or request.method == "GET":
        succeeded = 200 <= response.status_code < 300
    else:  # a dashboard form redirects when done, shows its page again when refused
        succeeded = response.status_code in (302, 303)
    if audited is None or merchant is None or not succeeded:
        return response
    user = g.get("user")
    action, names = audited
    session = db_session()
    record(session, merchant.id, user.email if user is not None else "api", action, _object_id(response),
           _fields(names))
    session.commit()
    return response


class AuditFiltersIn(In):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = fields.String(validate=validate.Regexp(r"^AU[0-9A-Z]{1,30}$", error="not a valid cursor"))


def list_entries(session, merchant_id, filters):
    """The merchant's entries, newest first: `{items, next_cursor}` ({limit, cursor})."""
    query = select(AuditEntry).where(AuditEntry.merchant_id == merchant_id)
    page = keyset_page(session, query, AuditEntry.id, load(AuditFiltersIn, filters))
    return {"items": [entry_out(entry) for entry in page.items], "next_cursor": page.next_cursor}


def entry_out(entry):
    return {"id": entry.id, "at": to_utc(entry.at).isoformat(), "actor": entry.actor, "action": entry.action,
            "object_id": entry.object_id, "detail": json.loads(entry.detail) if entry.detail else {}}
