"""Signature orders: creation, the one-time code, signing, cancellation and
expiry. Plain functions taking a session and the current time; the caller
commits, sends (mail, SMS, RPC) and dispatches the events."""
from datetime import timedelta

from sqlalchemy import select

from common.config import env
from common.database import keyset_page
from common.errors import Conflict, Gone, Invalid, NotFound
from common.ids import new_id
from common.schemas import to_utc
from contracts.signing import LANGS
from signing import document, otp, tokens
from signing.models import OPEN_STATUSES, SignatureOrder

OPERATOR_LIFETIME = timedelta(days=1)
LINK_RESEND_INTERVAL = otp.RESEND_INTERVAL
MAX_LINK_SENDS = 5


def link_lifetime():
    return timedelta(days=int(env("SIGNING_LINK_DAYS", "7")))


def public_url():
    host, port = env("GATEWAY_HOST", "127.0.0.1"), env("GATEWAY_PORT", "8000")
    return (env("PUBLIC_URL") or f"http://{host}:{port}").rstrip("/")


def signing_url(token):
    return f"{public_url()}/sign/{token}"


def new_order(merchant_id, data, creditor, subscriber, now):
    """An order (OrderIn data) for `subscriber` {id?, customer_reference, name, email, phone,
    address}, with a snapshot of the `creditor` (CreditorIn data)."""
    lifetime = link_lifetime() if data["method"] == "link" else OPERATOR_LIFETIME
    return SignatureOrder(
        id=new_id("SO"), merchant_id=merchant_id, method=data["method"], status="pending",
        lang=data["lang"], subscriber_id=subscriber.get("id"),
        customer_reference=subscriber["customer_reference"], name=subscriber["name"],
        email=subscriber.get("email"), phone=subscriber["phone"], address=subscriber.get("address"),
        creditor=creditor, plan=data.get("plan"), expires_at=now + lifetime, link_sends=0,
        otp_sends=0, otp_attempts=0, created_by=data.get("created_by"), created_at=now)


def find_order(session, merchant_id, order_id, lock=False):
    query = select(SignatureOrder).where(SignatureOrder.merchant_id == merchant_id,
                                         SignatureOrder.id == order_id)
    order = session.scalar(query.with_for_update() if lock else query)
    if order is None:
        raise NotFound(f"no signature order {order_id}", {"order_id": "not found"})
    return order


def order_by_token(session, token, lock=False, key=None):
    """The order a link token points to: NotFound for a token this service did not
    sign, Gone for one a resend replaced."""
    order_id, presented = tokens.read(token, key)
    query = select(SignatureOrder).where(SignatureOrder.id == order_id, SignatureOrder.method == "link")
    order = session.scalar(query.with_for_update() if lock else query)
    if order is None:
        raise NotFound("no such signing link", {"token": "not found"})
    if not tokens.matches(order.token_hash, presented):
        raise Gone("this signing link was replaced by a newer one: use the last link sent",
                   {"token": "replaced"})
    return order


def list_orders(session, merchant_id, filters):
    """A keyset page of orders, newest first (OrderFiltersIn data)."""
    query = select(SignatureOrder).where(SignatureOrder.merchant_id == merchant_id)
    for name in ("status", "method"):
        if filters.get(name):
            query = query.where(getattr(SignatureOrder, name) == filters[name])
    return keyset_page(session, query, SignatureOrder.id, filters)


def expire_if_due(order, now):
    """An open order past its expiry becomes expired; True when it just did."""
    if order.status in OPEN_STATUSES and now >= to_utc(order.expires_at):
        order.status, order.otp_hash = "expired", None
        return True
    return False


def check_open(order, link=False):
    """Gone for an expired order (and a cancelled one seen through its link), Conflict
    for any other order that can no longer be signed."""
    if order.status in OPEN_STATUSES:
        return
    if order.status == "expired":
        raise Gone(f"signature order {order.id} expired on {to_utc(order.expires_at).isoformat()}",
                   {"status": "expired"})
    if order.status == "cancelled" and link:
        raise Gone("this signing request was cancelled", {"status": "cancelled"})
    messages = {"signed": "is already signed", "cancelled": "was cancelled",
                "failed": "failed after too many wrong codes"}
    raise Conflict(f"signature order {order.id} {messages[order.status]}", {"status": order.status})


def check_link_open(order):
    """Gone, saying why, for an order its link can no longer sign (the debtor's page)."""
    if order.status in OPEN_STATUSES:
        return
    reasons = {"signed": "this mandate is already signed", "expired": "this signing link expired",
               "cancelled": "this signing request was cancelled",
               "failed": "this signing request failed after too many wrong codes"}
    raise Gone(reasons[order.status], {"status": order.status})


def check_signed_by_operator(order):
    """The order, if an operator signs it; a link order is signed by the subscriber (Conflict)."""
    if order.method != "operator":
        raise Conflict(f"signature order {order.id} is signed by the subscriber through its link",
                       {"method": order.method})
    return order


def check_subscriber_reachable(subscriber, method):
    """An existing subscriber (mandates' answer) the order can reach: a phone for the code, an
    email for a link; Invalid naming subscriber_id otherwise."""
    if not subscriber.get("phone"):
        raise Invalid("subscriber_id: the subscriber has no phone number for the SMS code",
                      {"subscriber_id": "the subscriber has no phone number"})
    if method == "link" and not subscriber.get("email"):
        raise Invalid("subscriber_id: the subscriber has no email for the link",
                      {"subscriber_id": "the subscriber has no email address"})
    return subscriber


def set_bank_details(order, data):
    """The account to debit ({iban, bic?, name?}); the name is the account holder's only for a
    new subscriber (a known one keeps the name mandates has)."""
    order.iban, order.bic = data["iban"], data.get("bic")
    if data.get("name") and not order.subscriber_id:
        order.name = data["name"]


def check_bank_details_given(order):
    if not order.iban:
        raise Conflict("give your name and IBAN first", {"iban": "not given yet"})


def lang_shown(lang, order):
    """The language the debtor's page is shown in: the one asked for, else the order's."""
    return lang if lang in LANGS else order.lang


def signed_mandate(order, now):
    """What a used link still gives until it expires: the signed mandate's ids and creditor."""
    if order.status != "signed" or now >= to_utc(order.expires_at):
        raise NotFound("no signed mandate behind this link", {"token": "not found"})
    return {"merchant_id": order.merchant_id, "mandate_id": order.mandate_id, "creditor": order.creditor}


def issue_link(order, now, key=None):
    """A new link token for the order (the previous one stops working); returns the URL."""
    token, order.token_hash = tokens.issue(order.id, key)
    order.link_sent_at, order.link_sends = now, order.link_sends + 1
    return signing_url(token)


def check_can_resend_link(order, now):
    if order.method != "link":
        raise Conflict(f"signature order {order.id} is signed by an operator: it has no link",
                       {"method": order.method})
    check_open(order)
    otp.check_can_send(order.link_sent_at, order.link_sends, now, LINK_RESEND_INTERVAL,
                       MAX_LINK_SENDS, what="link")


def check_can_send_code(order, now):
    check_open(order, link=order.method == "link")
    if order.method == "link" and not order.iban:
        raise Conflict("the subscriber has not given bank details on the signing page yet",
                       {"iban": "not given yet"})
    otp.check_can_send(order.otp_sent_at, order.otp_sends, now)


def code_for(order, now, key):
    """A new code for the order (the previous one stops working); returns it in clear
    for the SMS, keeps only its hash."""
    code = otp.new_code()
    order.otp_hash = otp.hash_code(code, order.id, key)
    order.otp_sent_at, order.otp_sends, order.status = now, order.otp_sends + 1, "otp_sent"
    return code


def check_code(order, code, now, key):
    """None when `code` is the order's live code. A wrong code counts an attempt (the
    5th fails the order: the caller commits that) and raises Invalid; so does an
    expired code, without counting."""
    if order.status != "otp_sent" or order.otp_hash is None:
        raise Conflict("no code was sent for this order: send one first", {"otp": "not sent"})
    if otp.is_expired(order.otp_sent_at, now):
        raise Invalid("otp: expired: send a new code", {"otp": "expired: send a new code"})
    if otp.verify(code, order.otp_hash, order.id, key):
        return None
    order.otp_attempts += 1
    left = otp.MAX_ATTEMPTS - order.otp_attempts
    if left <= 0:
        order.status, order.otp_hash = "failed", None
        order.failure_reason = f"{otp.MAX_ATTEMPTS} wrong codes"
        return Invalid("otp: wrong code; too many attempts: the order failed",
                       {"otp": "wrong code; too many attempts: the order failed"})
    return Invalid(f"otp: wrong code ({left} attempts left)", {"otp": f"wrong code ({left} attempts left)"})


def sequence_of(order):
    return "one_off" if (order.plan or {}).get("frequency") == "once" else "recurrent"


def mandate_document(order, lang=None):
    """(text, hash) of the mandate as the debtor sees it now."""
    debtor = {"name": order.name, "address": order.address, "iban": order.iban, "bic": order.bic}
    text = document.mandate_text(order.creditor, debtor, lang or order.lang, sequence_of(order))
    return text, document.document_hash(text)


def evidence_of(order, now, ip_address, user_agent, lang=None):
    return {"signed_at": now.isoformat(), "ip_address": ip_address, "user_agent": user_agent,
            "phone": order.phone, "order_id": order.id,
            "document_hash": mandate_document(order, lang)[1]}


def mandate_payload(order, evidence):
    """What `mandates.sign_mandate` takes for this order."""
    if order.subscriber_id:
        who = {"subscriber_id": order.subscriber_id}
    else:
        who = {"subscriber": {k: v for k, v in (
            ("customer_reference", order.customer_reference), ("name", order.name),
            ("email", order.email), ("phone", order.phone), ("address", order.address)) if v}}
    return {**who, "iban": order.iban, "bic": order.bic, "sequence": sequence_of(order),
            "signature_method": "electronic", "evidence": evidence}


def mark_signed(order, mandate, evidence, now):
    order.status, order.mandate_id, order.subscriber_id = "signed", mandate["id"], mandate["subscriber_id"]
    order.signed_at, order.evidence, order.otp_hash = now, evidence, None


def cancel(order):
    if order.status not in OPEN_STATUSES:
        raise Conflict(f"signature order {order.id} is {order.status}: it cannot be cancelled",
                       {"status": order.status})
    order.status, order.otp_hash = "cancelled", None


def expire_due(session, as_of, batch_size=500, merchant_id=None):
    """One batch of open orders (all merchants, or one) past their expiry on `as_of`;
    returns them expired. Call again until it returns none."""
    query = select(SignatureOrder).where(SignatureOrder.status.in_(OPEN_STATUSES),
                                         SignatureOrder.expires_at <= as_of)
    if merchant_id is not None:
        query = query.where(SignatureOrder.merchant_id == merchant_id)
    due = session.scalars(query.order_by(SignatureOrder.id).limit(batch_size)
                          .with_for_update(skip_locked=True)).all()
    for order in due:
        order.status, order.otp_hash = "expired", None
    session.flush()
    return due
