"""The `signing` service.

Owns: signature orders, by emailed link and by operator with an SMS one-time
password (spec §2); once the code is right it creates the signed mandate
through `mandates.sign_mandate` (idempotent on the order id) and the order's
plan through `plans.create_plan`.
Emits: signing.order_created, signing.otp_sent, signing.signed,
signing.failed, signing.expired, and signing.order_cancelled (after the
commit that made them true).
Listens to: nothing; calls the `mandates` and `plans` RPCs.
RPC `signing`: ping, create_order, list_orders, get_order, send_otp, sign,
cancel_order, resend_link, expire_orders (also a timer, every
SIGNING_EXPIRY_INTERVAL seconds); public, the link token being the
credential: open_link, submit_link_details, sign_link,
signed_mandate_for_link. Every other call takes the caller's `merchant_id`
and every query filters by it (another merchant's order is NotFound).

Decisions where the contract is silent:
- Both methods need the subscriber's phone (the code goes by SMS); a link
  order also needs an email. An existing subscriber (subscriber_id) without
  them is refused: 422 on subscriber_id.
- A new subscriber is created by `mandates.sign_mandate` at signing; if its
  customer_reference exists by then, the mandate goes to that subscriber.
- The mandate text shows the debtor's IBAN/BIC once given; the evidence
  hashes the text with them, in the order's language. open_link(token,
  lang) records `lang` on the order, so the hash is of what was shown;
  submit_link_details and sign_link take an optional `lang` too.
- `name` given when signing (operator `sign`, link details) replaces the
  order's debtor name for a new subscriber; an existing subscriber keeps
  its own name (and the mandate text shows it).
- sign on a link order is 409 (the debtor signs through the link); sign or
  sign_link before any code was sent is 409. An invalid IBAN, an expired
  code or a payload error counts no attempt; only a wrong code does.
- A link is emailed at most 5 times (resend_link: 429 as for codes).
- If the SMS or the mail cannot be sent, the call answers Unavailable (503)
  and the order is unchanged (not created, for create_order).
- The order is marked signed (committed) before its plan is created; if
  plans refuses the plan (e.g. its start_date is now past), the order stays
  signed with failure_reason "the plan was not created: …" and no plan_id.
- An open order past its expires_at is marked expired by the timer, by
  list_orders (for that merchant) and by any call that touches it, which
  then answers 410 (cancel_order: 409).
- OrderOut also carries `lang`; the code SMS and the link mail are in it.
- Through its link, an order that is signed, failed, expired or cancelled
  is Gone for open_link; submit_link_details and sign_link answer 409 for
  signed and failed orders (as sign does) and 410 for expired or cancelled.
"""
import logging

from nameko.rpc import RpcProxy
from nameko.timer import timer

from common import clock
from common.config import env
from common.errors import DebitoError, Invalid, NotFound, Unavailable
from common.mail import send_mail
from common.outbox import Outbox
from common.schemas import dump_page, load
from common.service import DebitoService, rpc
from signing import document, events, orders, sms, tokens
from signing.models import outbox_events
from contracts.signing import (CreditorIn, EvidenceIn, LinkDetailsIn, LinkSignIn, OrderFiltersIn, OrderIn,
                             OrderOut, SignIn, plan_wire)

log = logging.getLogger(__name__)
EXPIRY_INTERVAL = int(env("SIGNING_EXPIRY_INTERVAL", "300"))


def _dump(order, signing_url=None):
    out = OrderOut().dump(order)
    out["signing_url"] = signing_url
    return out


class SigningService(DebitoService):
    name = "signing"
    dispatch = Outbox(outbox_events)
    mandates = RpcProxy("mandates")
    plans = RpcProxy("plans")

    # --- merchant side ----------------------------------------------------

    @rpc
    def create_order(self, merchant_id, payload, creditor):
        data = load(OrderIn, payload)
        creditor = load(CreditorIn, creditor or {})
        if data.get("plan"):
            data["plan"] = plan_wire(data["plan"])
        subscriber = data.get("subscriber") or self._existing_subscriber(merchant_id, data)
        now = clock.now()
        order = orders.new_order(merchant_id, data, creditor, subscriber, now)
        self.db.add(order)
        self.db.flush()
        url = None
        if order.method == "link":
            url = orders.issue_link(order, now)
            self._mail_link(order, url)
        self.dispatch("order_created", events.order_event(order))
        self.db.commit()
        return _dump(order, url)

    @rpc
    def list_orders(self, merchant_id, filters=None):
        filters = load(OrderFiltersIn, filters or {})
        self._expire(clock.now(), merchant_id)  # a list never shows a lapsed order as pending
        return dump_page(OrderOut, orders.list_orders(self.db, merchant_id, filters))

    @rpc
    def get_order(self, merchant_id, order_id):
        order = orders.find_order(self.db, merchant_id, order_id)
        self._expire_if_due(order)
        answer = _dump(order)
        if order.method == "operator" and order.status in ("pending", "otp_sent"):
            # the operator reads the mandate out during the call: the text, before the IBAN
            answer["mandate_text"], answer["document_hash"] = orders.mandate_document(order)
        return answer

    @rpc
    def send_otp(self, merchant_id, order_id):
        order = self._live(orders.find_order(self.db, merchant_id, order_id, lock=True))
        self._send_code(order)
        return _dump(order)

    @rpc
    def sign(self, merchant_id, order_id, payload, evidence=None):
        data = load(SignIn, payload)
        seen = load(EvidenceIn, evidence or {})
        order = orders.check_signed_by_operator(orders.find_order(self.db, merchant_id, order_id, lock=True))
        order = self._live(order)
        self._check_code(order, data["otp"])
        orders.set_bank_details(order, data)
        self._sign(order, seen)
        return _dump(order)

    @rpc
    def cancel_order(self, merchant_id, order_id):
        order = orders.find_order(self.db, merchant_id, order_id, lock=True)
        self._expire_if_due(order)
        orders.cancel(order)
        self.dispatch("order_cancelled", events.order_event(order))
        self.db.commit()
        return _dump(order)

    @rpc
    def resend_link(self, merchant_id, order_id):
        order = orders.find_order(self.db, merchant_id, order_id, lock=True)
        order = self._live(order)
        now = clock.now()
        orders.check_can_resend_link(order, now)
        url = orders.issue_link(order, now)
        self._mail_link(order, url)
        self.db.commit()
        return _dump(order, url)

    @rpc
    def expire_orders(self, as_of_instant=None):
        """Open orders past their expiry become expired (all merchants)."""
        if as_of_instant:
            try:
                as_of = clock.parse(as_of_instant)
            except (TypeError, ValueError, AttributeError):
                raise Invalid("as_of: an ISO date or instant", {"as_of": "an ISO date or instant"}) from None
        else:
            as_of = clock.now()
        return {"expired": self._expire(as_of)}

    @timer(interval=EXPIRY_INTERVAL)
    def expire_orders_regularly(self):
        result = self.expire_orders()
        if result["expired"]:
            log.info("signature orders expired: %s", result["expired"])

    # --- public, through the link token -----------------------------------

    @rpc
    def open_link(self, token, lang=None):
        order = orders.order_by_token(self.db, token)
        self._expire_if_due(order)
        orders.check_link_open(order)
        if orders.lang_shown(lang, order) != order.lang:
            order.lang = lang  # the evidence hashes the text in the language shown
            self.db.commit()
        return self._page(order)

    @rpc
    def submit_link_details(self, token, payload, lang=None):
        data = load(LinkDetailsIn, payload)
        order = self._live(orders.order_by_token(self.db, token, lock=True), link=True)
        orders.set_bank_details(order, data)
        order.lang = orders.lang_shown(lang, order)
        self._send_code(order)
        return self._page(order)

    @rpc
    def sign_link(self, token, payload, evidence=None, lang=None):
        data = load(LinkSignIn, payload)
        seen = load(EvidenceIn, evidence or {})
        order = self._live(orders.order_by_token(self.db, token, lock=True), link=True)
        orders.check_bank_details_given(order)
        order.lang = orders.lang_shown(lang, order)
        self._check_code(order, data["otp"])
        self._sign(order, seen)
        return self._page(order)

    @rpc
    def signed_mandate_for_link(self, token):
        return orders.signed_mandate(orders.order_by_token(self.db, token), clock.now())

    # --- steps --------------------------------------------------------------

    def _existing_subscriber(self, merchant_id, data):
        try:
            found = self.mandates.get_subscriber(merchant_id, data["subscriber_id"])
        except NotFound:
            raise Invalid("subscriber_id: no such subscriber", {"subscriber_id": "not found"}) from None
        return orders.check_subscriber_reachable(found, data["method"])

    def _expire(self, as_of, merchant_id=None):
        expired = 0
        while batch := orders.expire_due(self.db, as_of, merchant_id=merchant_id):
            for order in batch:  # each batch and its events in one transaction
                self.dispatch("expired", events.order_event(order))
            self.db.commit()
            expired += len(batch)
        return expired

    def _expire_if_due(self, order):
        if orders.expire_if_due(order, clock.now()):
            self.dispatch("expired", events.order_event(order))
            self.db.commit()

    def _live(self, order, link=False):
        """The order if it can still be signed; Gone/Conflict otherwise (expiring it on the way)."""
        self._expire_if_due(order)
        orders.check_open(order, link=link)
        return order

    def _mail_link(self, order, url):
        subject, body = document.link_mail(order.creditor["name"], order.name, order.phone, url,
                                           order.expires_at, order.lang)
        try:
            send_mail(order.email, subject, body)
        except OSError as error:  # smtplib's errors are OSErrors too
            self.db.rollback()
            log.warning("the signing link for %s could not be mailed: %s", order.id, error)
            raise Unavailable(f"the email could not be sent: {error}", {"email": "not sent"}) from None

    def _send_code(self, order):
        now = clock.now()
        orders.check_can_send_code(order, now)
        code = orders.code_for(order, now, tokens.secret_key())
        body = sms.code_message(code, order.creditor["name"], order.lang)
        try:
            sms.send_sms(order.phone, body, order.id)
        except Unavailable:
            self.db.rollback()  # not sent: not counted, the previous code still stands
            raise
        self.dispatch("otp_sent", events.otp_sent(order))
        self.db.commit()

    def _check_code(self, order, code):
        error = orders.check_code(order, code, clock.now(), tokens.secret_key())
        if error is None:
            return
        if order.status == "failed":
            self.dispatch("failed", events.order_event(order))
        self.db.commit()  # the attempt counts, whatever the caller does next
        raise error

    def _sign(self, order, seen):
        now = clock.now()
        evidence = orders.evidence_of(order, now, seen.get("ip_address"), seen.get("user_agent"))
        mandate = self.mandates.sign_mandate(order.merchant_id, orders.mandate_payload(order, evidence))
        orders.mark_signed(order, mandate, evidence, now)
        if order.plan:
            self.db.commit()  # signed, whatever becomes of its plan
            try:
                plan = self.plans.create_plan(order.merchant_id, dict(order.plan, mandate_id=mandate["id"]),
                                              order.created_by)
                order.plan_id = plan["id"]
            except DebitoError as error:
                log.warning("order %s signed, its plan refused: %s", order.id, error)
                order.failure_reason = f"the plan was not created: {error.message}"[:255]
        self.dispatch("signed", events.signed(order, evidence))
        self.db.commit()

    def _page(self, order):
        text, digest = orders.mandate_document(order)
        return {"order": _dump(order), "creditor": order.creditor, "mandate_text": text,
                "document_hash": digest, "lang": order.lang}
