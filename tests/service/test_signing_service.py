"""The signing service with the real mandates and plans services on the real
broker and PostgreSQL: orders by link and by operator, the SMS code (outbox,
and Twilio's client library against a local fake of its API), the emailed
link (outbox, and a real SMTP server), and every way to get it wrong."""
import email
import json
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import eventlet
import pytest
from nameko.events import event_handler
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from common.database import make_engine
from common.errors import Conflict, Gone, Invalid, NotFound, TooManyRequests, Unavailable
from common.json_pages import page_data
from common.migrations import upgrade
from harness.smtp_server import smtp_server
from harness.twilio_fake import twilio_fake
from mandates.service import MandatesService
from plans.service import PlansService
from signing.service import SigningService

IBAN = "FR7630006000011234567890189"
CREDITOR = {"name": "Acme SAS", "creditor_id": "FR72ZZZ123456", "address": "1 rue de la Paix, 75002 Paris"}
START = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)
EVIDENCE = {"ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0 (test)"}


class Listener:
    name = "signing_listener"

    @event_handler("signing", "order_created")
    def on_order_created(self, payload):
        return payload

    @event_handler("signing", "otp_sent")
    def on_otp_sent(self, payload):
        return payload

    @event_handler("signing", "signed")
    def on_signed(self, payload):
        return payload

    @event_handler("signing", "failed")
    def on_failed(self, payload):
        return payload

    @event_handler("signing", "expired")
    def on_expired(self, payload):
        return payload

    @event_handler("mandates", "mandate_signed")
    def on_mandate_signed(self, payload):
        return payload


class Clock:
    """Moves the process clock (DEBITO_CLOCK): the containers run in this process."""

    def __init__(self, monkeypatch):
        self.monkeypatch, self.now = monkeypatch, START
        self.set(START)

    def set(self, moment):
        self.now = moment
        self.monkeypatch.setenv("DEBITO_CLOCK", moment.isoformat())

    def advance(self, **delta):
        self.set(self.now + timedelta(**delta))


@pytest.fixture
def var(tmp_path, monkeypatch):
    monkeypatch.setenv("DEBITO_VAR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "a test secret")
    monkeypatch.setenv("PUBLIC_URL", "https://pay.acme.example")
    for name in ("SMTP_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "TWILIO_API_URL",
                 "OUTBOX_SMS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


@pytest.fixture
def services(container_factory, rabbit_config, postgres_database, monkeypatch, var, clock):
    monkeypatch.setenv("DATABASE_URL", postgres_database)
    for owner in ("mandates", "plans", "signing"):
        upgrade(owner, make_engine(owner, postgres_database))
    started = {cls.name: container_factory(cls, rabbit_config)
               for cls in (SigningService, MandatesService, PlansService, Listener)}
    for container in started.values():
        container.start()
    return started


@pytest.fixture
def merchant():
    return "ME" + uuid.uuid4().hex[:20].upper()


def call(container, method, *args, **kwargs):
    with entrypoint_hook(container, method) as hook:
        return hook(*args, **kwargs)


def subscriber(reference="C-1", **fields):
    return {"customer_reference": reference, "name": "Émilie Dupré", "email": "emilie@example.org",
            "phone": "+33 6 12 34 56 78", **fields}


def sms_sent(var, order_id):
    folder = Path(var) / "outbox-sms"
    return [json.loads(p.read_text()) for p in sorted(folder.glob(f"*-{order_id}.json"))] if folder.exists() else []


def last_code(var, order_id):
    return re.search(r"\b(\d{6})\b", sms_sent(var, order_id)[-1]["body"]).group(1)


def mails(var):
    folder = Path(var) / "outbox-mail"
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)]


def token_of(url):
    return url.rsplit("/sign/", 1)[1]


def wrong(code):
    return f"{(int(code) + 1) % 1000000:06d}"


# --- operator ---------------------------------------------------------------

def test_operator_order_is_signed_with_the_sms_code_and_the_mandate_keeps_the_evidence(services, merchant, var, clock):
    signing, mandates, listener = services["signing"], services["mandates"], services["signing_listener"]
    with entrypoint_waiter(listener, "on_order_created") as created:
        order = call(signing, "create_order", merchant,
                     {"method": "operator", "subscriber": subscriber(), "created_by": "ops@acme.example"}, CREDITOR)
    assert order["id"].startswith("SO") and order["status"] == "pending" and order["signing_url"] is None
    assert order["subscriber"] == {"id": None, "customer_reference": "C-1", "name": "Émilie Dupré",
                                   "email": "emilie@example.org", "phone": "+33612345678", "address": None}
    assert order["expires_at"] == (START + timedelta(days=1)).isoformat()
    assert created.get()["order_id"] == order["id"]

    with entrypoint_waiter(listener, "on_otp_sent"):
        sent = call(signing, "send_otp", merchant, order["id"])
    assert (sent["status"], sent["otp_sends"], sent["otp_sent_at"]) == ("otp_sent", 1, START.isoformat())
    [message] = sms_sent(var, order["id"])
    assert message["to"] == "+33612345678" and message["order_id"] == order["id"]
    assert "Acme SAS" in message["body"] and "10 minutes" in message["body"]

    screen = call(signing, "get_order", merchant, order["id"])  # what the operator reads out
    assert "Acme SAS" in screen["mandate_text"] and "Émilie Dupré" in screen["mandate_text"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", screen["document_hash"])

    code = last_code(var, order["id"])
    clock.advance(minutes=3)
    with entrypoint_waiter(listener, "on_signed") as signed_event, \
            entrypoint_waiter(listener, "on_mandate_signed") as mandate_event:
        signed = call(signing, "sign", merchant, order["id"], {"otp": code, "iban": IBAN}, EVIDENCE)
    assert signed["status"] == "signed" and signed["mandate_id"].startswith("MD")
    assert signed["subscriber"]["id"].startswith("SB")
    evidence = signed["evidence"]
    assert evidence == {"signed_at": (START + timedelta(minutes=3)).isoformat(), "ip_address": "203.0.113.7",
                        "user_agent": "Mozilla/5.0 (test)", "phone": "+33612345678", "order_id": order["id"],
                        "document_hash": evidence["document_hash"]}
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", evidence["document_hash"])
    assert signed_event.get()["mandate_id"] == signed["mandate_id"]
    assert mandate_event.get()["signature_method"] == "electronic"

    mandate = call(mandates, "get_mandate", merchant, signed["mandate_id"])
    assert (mandate["status"], mandate["signature_method"], mandate["iban"]) == ("active", "electronic", IBAN)
    assert mandate["evidence"] == evidence and mandate["signed_at"] == evidence["signed_at"]
    assert mandate["subscriber"]["customer_reference"] == "C-1"

    with pytest.raises(Conflict):  # signing twice
        call(signing, "sign", merchant, order["id"], {"otp": code, "iban": IBAN}, EVIDENCE)
    with pytest.raises(Conflict):
        call(signing, "send_otp", merchant, order["id"])
    assert call(signing, "get_order", merchant, order["id"])["status"] == "signed"
    assert "mandate_text" not in call(signing, "get_order", merchant, order["id"])


def test_five_wrong_codes_fail_the_order_and_every_later_call_conflicts(services, merchant, var):
    signing, listener = services["signing"], services["signing_listener"]
    order = call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber()}, CREDITOR)
    call(signing, "send_otp", merchant, order["id"])
    code = last_code(var, order["id"])
    for attempt in range(1, 5):
        with pytest.raises(Invalid) as error:
            call(signing, "sign", merchant, order["id"], {"otp": wrong(code), "iban": IBAN}, EVIDENCE)
        assert error.value.fields == {"otp": f"wrong code ({5 - attempt} attempts left)"}
        assert call(signing, "get_order", merchant, order["id"])["otp_attempts"] == attempt
    with entrypoint_waiter(listener, "on_failed") as failed, pytest.raises(Invalid) as fifth:
        call(signing, "sign", merchant, order["id"], {"otp": wrong(code), "iban": IBAN}, EVIDENCE)
    assert "the order failed" in fifth.value.fields["otp"]
    assert failed.get()["status"] == "failed"
    found = call(signing, "get_order", merchant, order["id"])
    assert (found["status"], found["otp_attempts"], found["mandate_id"]) == ("failed", 5, None)
    with pytest.raises(Conflict):  # even the right code, now
        call(signing, "sign", merchant, order["id"], {"otp": code, "iban": IBAN}, EVIDENCE)
    with pytest.raises(Conflict):
        call(signing, "send_otp", merchant, order["id"])
    with pytest.raises(Conflict):
        call(signing, "cancel_order", merchant, order["id"])


def test_simultaneous_attempts_never_exceed_five_nor_sign_twice(services, merchant, var, rabbit_config):
    signing, mandates = services["signing"], services["mandates"]

    def attempt(order_id, code):  # each over its own RPC connection, as gateway workers would
        with ServiceRpcProxy("signing", rabbit_config) as rpc:
            try:
                return rpc.sign(merchant, order_id, {"otp": code, "iban": IBAN}, EVIDENCE)["status"]
            except (Invalid, Conflict) as error:
                return type(error).__name__

    guessed = call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber()}, CREDITOR)
    call(signing, "send_otp", merchant, guessed["id"])
    bad = wrong(last_code(var, guessed["id"]))
    outcomes = [g.wait() for g in [eventlet.spawn(attempt, guessed["id"], bad) for _ in range(9)]]
    assert sorted(outcomes) == ["Conflict"] * 4 + ["Invalid"] * 5
    found = call(signing, "get_order", merchant, guessed["id"])
    assert (found["status"], found["otp_attempts"]) == ("failed", 5)

    order = call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber("C-2")}, CREDITOR)
    call(signing, "send_otp", merchant, order["id"])
    code = last_code(var, order["id"])
    outcomes = [g.wait() for g in [eventlet.spawn(attempt, order["id"], code) for _ in range(4)]]
    assert sorted(outcomes) == ["Conflict"] * 3 + ["signed"]
    assert len(page_data(call(mandates, "list_mandates_json", merchant, {"customer_reference": "C-2"}))["items"]) == 1


def test_a_code_expires_after_ten_minutes_and_a_new_one_works(services, merchant, var, clock):
    signing = services["signing"]
    order = call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber()}, CREDITOR)
    call(signing, "send_otp", merchant, order["id"])
    old = last_code(var, order["id"])
    clock.advance(minutes=10)
    with pytest.raises(Invalid) as error:
        call(signing, "sign", merchant, order["id"], {"otp": old, "iban": IBAN}, EVIDENCE)
    assert error.value.fields == {"otp": "expired: send a new code"}
    assert call(signing, "get_order", merchant, order["id"])["otp_attempts"] == 0  # not an attempt
    call(signing, "send_otp", merchant, order["id"])
    new = last_code(var, order["id"])
    if new != old:  # one chance in a million that they are the same
        with pytest.raises(Invalid):
            call(signing, "sign", merchant, order["id"], {"otp": old, "iban": IBAN}, EVIDENCE)
    clock.advance(minutes=9, seconds=59)
    assert call(signing, "sign", merchant, order["id"], {"otp": new, "iban": IBAN}, EVIDENCE)["status"] == "signed"


def test_a_new_code_waits_a_minute_and_at_most_five_are_sent(services, merchant, var, clock):
    signing = services["signing"]
    order = call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber()}, CREDITOR)
    call(signing, "send_otp", merchant, order["id"])
    clock.advance(seconds=59)
    with pytest.raises(TooManyRequests) as error:
        call(signing, "send_otp", merchant, order["id"])
    assert error.value.fields == {"retry_after": 1}
    for sends in range(2, 6):
        clock.advance(seconds=61)
        assert call(signing, "send_otp", merchant, order["id"])["otp_sends"] == sends
    clock.advance(minutes=5)
    with pytest.raises(TooManyRequests):
        call(signing, "send_otp", merchant, order["id"])
    assert len(sms_sent(var, order["id"])) == 5
    assert call(signing, "get_order", merchant, order["id"])["otp_sends"] == 5


def test_bad_input_is_refused_with_its_field_and_changes_nothing(services, merchant, var):
    signing = services["signing"]
    with pytest.raises(Invalid) as error:
        call(signing, "create_order", merchant,
             {"method": "operator", "subscriber": subscriber(phone="0612345678")}, CREDITOR)
    assert "phone" in error.value.fields["subscriber"]
    with pytest.raises(Invalid) as error:
        call(signing, "create_order", merchant,
             {"method": "operator", "subscriber": subscriber(phone="+3361234")}, CREDITOR)
    assert error.value.fields["subscriber"]["phone"] == "not a valid phone number"
    with pytest.raises(Invalid) as error:
        call(signing, "create_order", merchant, {"method": "link", "subscriber": subscriber(email="nope")}, CREDITOR)
    assert "email" in error.value.fields["subscriber"]
    with pytest.raises(Invalid) as error:
        call(signing, "create_order", merchant, {"method": "fax", "subscriber": subscriber()}, CREDITOR)
    assert "method" in error.value.fields
    with pytest.raises(Invalid) as error:
        call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber(),
             "plan": {"label": "Yoga", "amount": 29.9, "frequency": "monthly", "start_date": "2027-04-01"}},
             CREDITOR)
    assert "amount" in error.value.fields["plan"]
    with pytest.raises(Invalid) as error:
        call(signing, "create_order", merchant, {"method": "operator", "subscriber_id": "SBNOPE"}, CREDITOR)
    assert error.value.fields == {"subscriber_id": "not found"}
    assert call(signing, "list_orders", merchant) == {"items": [], "next_cursor": None}

    order = call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber()}, CREDITOR)
    call(signing, "send_otp", merchant, order["id"])
    code = last_code(var, order["id"])
    with pytest.raises(Invalid) as error:
        call(signing, "sign", merchant, order["id"], {"otp": code, "iban": "FR7630006000011234567890180"}, EVIDENCE)
    assert "iban" in error.value.fields
    with pytest.raises(Invalid) as error:
        call(signing, "sign", merchant, order["id"], {"otp": "12345", "iban": IBAN}, EVIDENCE)
    assert error.value.fields == {"otp": "6 digits"}
    found = call(signing, "get_order", merchant, order["id"])
    assert (found["status"], found["otp_attempts"]) == ("otp_sent", 0)
    assert call(signing, "sign", merchant, order["id"], {"otp": code, "iban": IBAN}, EVIDENCE)["status"] == "signed"


def test_another_merchants_order_is_not_found(services, merchant, var):
    signing = services["signing"]
    order = call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber()}, CREDITOR)
    other = "ME" + uuid.uuid4().hex[:20].upper()
    for method, args in (("get_order", ()), ("send_otp", ()), ("cancel_order", ()), ("resend_link", ()),
                         ("sign", ({"otp": "123456", "iban": IBAN}, EVIDENCE))):
        with pytest.raises(NotFound):
            call(signing, method, other, order["id"], *args)
    assert call(signing, "list_orders", other)["items"] == []
    assert call(signing, "get_order", merchant, order["id"])["otp_sends"] == 0


def test_orders_expire_by_the_timer_call_and_then_are_gone(services, merchant, var, clock):
    signing, listener = services["signing"], services["signing_listener"]
    operator = call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber()}, CREDITOR)
    link = call(signing, "create_order", merchant, {"method": "link", "subscriber": subscriber("C-2")}, CREDITOR)
    assert link["expires_at"] == (START + timedelta(days=7)).isoformat()
    clock.advance(days=1)
    # expire_orders works for every merchant: other tests' orders of the same day expire too
    with entrypoint_waiter(listener, "on_expired", callback=lambda worker, result, exc_info:
                           worker.args[0]["order_id"] == operator["id"]):
        assert call(signing, "expire_orders", (START + timedelta(days=1)).isoformat())["expired"] >= 1
    assert call(signing, "get_order", merchant, operator["id"])["status"] == "expired"
    assert call(signing, "get_order", merchant, link["id"])["status"] == "pending"
    with pytest.raises(Gone):
        call(signing, "send_otp", merchant, operator["id"])
    with pytest.raises(Gone):
        call(signing, "sign", merchant, operator["id"], {"otp": "123456", "iban": IBAN}, EVIDENCE)
    with pytest.raises(Conflict):
        call(signing, "cancel_order", merchant, operator["id"])
    assert call(signing, "open_link", token_of(link["signing_url"]))["order"]["status"] == "pending"
    clock.advance(days=6, seconds=-1)
    with entrypoint_waiter(listener, "on_expired", callback=lambda worker, result, exc_info:
                           worker.args[0]["order_id"] == link["id"]):
        clock.advance(seconds=1)
        call(signing, "expire_orders_regularly")  # the timer's entrypoint
    with pytest.raises(Gone):
        call(signing, "open_link", token_of(link["signing_url"]))
    assert call(signing, "get_order", merchant, link["id"])["status"] == "expired"
    late = call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber("C-3")}, CREDITOR)
    clock.advance(days=1)
    with pytest.raises(Gone):  # expired on the way, before the timer saw it
        call(signing, "send_otp", merchant, late["id"])
    assert call(signing, "get_order", merchant, late["id"])["status"] == "expired"
    lapsed = call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber("C-4")}, CREDITOR)
    clock.advance(days=1)
    assert call(signing, "list_orders", merchant, {"status": "pending"})["items"] == []  # lapsed on the way
    page = call(signing, "list_orders", merchant, {"status": "expired"})
    assert {o["id"] for o in page["items"]} == {operator["id"], link["id"], late["id"], lapsed["id"]}


def test_cancelled_order_cannot_be_signed_and_lists_filter_and_page(services, merchant, var):
    signing = services["signing"]
    made = [call(signing, "create_order", merchant, {"method": method, "subscriber": subscriber(f"C-{i}")},
                 CREDITOR) for i, method in enumerate(("operator", "link", "operator"))]
    cancelled = call(signing, "cancel_order", merchant, made[0]["id"])
    assert cancelled["status"] == "cancelled"
    with pytest.raises(Conflict):
        call(signing, "send_otp", merchant, made[0]["id"])
    with pytest.raises(Conflict):
        call(signing, "cancel_order", merchant, made[0]["id"])
    first = call(signing, "list_orders", merchant, {"limit": 2})
    assert [o["id"] for o in first["items"]] == [made[2]["id"], made[1]["id"]]
    assert all(o["signing_url"] is None for o in first["items"])
    second = call(signing, "list_orders", merchant, {"limit": 2, "cursor": first["next_cursor"]})
    assert [o["id"] for o in second["items"]] == [made[0]["id"]] and second["next_cursor"] is None
    assert [o["id"] for o in call(signing, "list_orders", merchant, {"method": "link"})["items"]] == [made[1]["id"]]
    with pytest.raises(Invalid):
        call(signing, "list_orders", merchant, {"status": "done"})


def test_an_order_with_a_plan_creates_the_plan_once_signed(services, merchant, var):
    signing, plans = services["signing"], services["plans"]
    plan = {"label": "Yoga", "amount": 2990, "frequency": "monthly", "start_date": "2027-04-01", "count": 3}
    order = call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber(), "plan": plan,
                                                     "created_by": "ops@acme.example"}, CREDITOR)
    assert order["plan"] == plan and order["plan_id"] is None
    call(signing, "send_otp", merchant, order["id"])
    signed = call(signing, "sign", merchant, order["id"], {"otp": last_code(var, order["id"]), "iban": IBAN}, EVIDENCE)
    assert signed["plan_id"].startswith("PL") and signed["failure_reason"] is None
    created = call(plans, "get_plan", merchant, signed["plan_id"])
    assert (created["mandate_id"], created["amount"], created["frequency"]) == (signed["mandate_id"], 2990, "monthly")
    assert len(created["upcoming"]) == 3


def test_a_plan_refused_at_signing_leaves_the_order_signed_with_the_reason(services, merchant, var, clock):
    signing = services["signing"]
    plan = {"label": "Yoga", "amount": 2990, "frequency": "once", "start_date": START.date().isoformat()}
    with pytest.raises(Invalid) as error:
        call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber(),
             "plan": {**plan, "start_date": (START.date() - timedelta(days=1)).isoformat()}}, CREDITOR)
    assert error.value.fields == {"plan": {"start_date": "must not be in the past"}}
    order = call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber(), "plan": plan},
                 CREDITOR)
    clock.advance(hours=20)  # the next day: the plan's start date is past now
    call(signing, "send_otp", merchant, order["id"])
    signed = call(signing, "sign", merchant, order["id"], {"otp": last_code(var, order["id"]), "iban": IBAN}, EVIDENCE)
    assert (signed["status"], signed["plan_id"]) == ("signed", None) and signed["mandate_id"]
    assert signed["failure_reason"].startswith("the plan was not created: ")


def test_an_existing_subscriber_signs_without_a_new_subscriber(services, merchant, var):
    signing, mandates = services["signing"], services["mandates"]
    existing = call(mandates, "create_subscriber", merchant, subscriber("CRM-9"))
    order = call(signing, "create_order", merchant, {"method": "operator", "subscriber_id": existing["id"]}, CREDITOR)
    assert order["subscriber"]["id"] == existing["id"] and order["subscriber"]["phone"] == "+33612345678"
    call(signing, "send_otp", merchant, order["id"])
    signed = call(signing, "sign", merchant, order["id"], {"otp": last_code(var, order["id"]), "iban": IBAN}, EVIDENCE)
    assert signed["subscriber"]["id"] == existing["id"]
    detail = call(mandates, "get_subscriber", merchant, existing["id"])
    assert [m["id"] for m in detail["mandates"]] == [signed["mandate_id"]]
    bare = call(mandates, "create_subscriber", merchant, {"customer_reference": "CRM-10", "name": "Sans Tel"})
    with pytest.raises(Invalid) as error:
        call(signing, "create_order", merchant, {"method": "operator", "subscriber_id": bare["id"]}, CREDITOR)
    assert "phone" in error.value.fields["subscriber_id"]


# --- link -------------------------------------------------------------------

def test_link_order_is_emailed_and_signed_through_its_token(services, merchant, var, clock):
    signing, mandates = services["signing"], services["mandates"]
    order = call(signing, "create_order", merchant, {"method": "link", "subscriber": subscriber(), "lang": "en"},
                 CREDITOR)
    url = order["signing_url"]
    assert url.startswith("https://pay.acme.example/sign/")
    [mail] = mails(var)
    assert mail["To"] == "emilie@example.org" and "Acme SAS" in mail["Subject"]
    assert url in mail.get_payload(decode=True).decode()
    token = token_of(url)
    assert call(signing, "get_order", merchant, order["id"])["signing_url"] is None  # never stored in clear

    page = call(signing, "open_link", token)
    assert page["order"]["signing_url"] is None and page["creditor"] == CREDITOR and page["lang"] == "en"
    assert "Acme SAS" in page["mandate_text"] and "FR72ZZZ123456" in page["mandate_text"]
    assert "8 weeks" in page["mandate_text"] and "13 months" in page["mandate_text"]
    french = call(signing, "open_link", token, "fr")
    assert "8 semaines" in french["mandate_text"] and french["lang"] == "fr"
    assert french["document_hash"] != page["document_hash"]

    with pytest.raises(Invalid) as error:
        call(signing, "submit_link_details", token, {"name": "Émilie Dupré", "iban": "FR76300060000112345678901"})
    assert "iban" in error.value.fields
    assert sms_sent(var, order["id"]) == []
    with pytest.raises(Conflict):  # no code before the details
        call(signing, "sign_link", token, {"otp": "123456"}, EVIDENCE)

    shown = call(signing, "submit_link_details", token, {"name": "Emilie Dupre-Martin", "iban": IBAN})
    assert shown["order"]["status"] == "otp_sent" and IBAN in shown["mandate_text"]
    assert "Emilie Dupre-Martin" in shown["mandate_text"]
    code = last_code(var, order["id"])
    with pytest.raises(TooManyRequests):
        call(signing, "submit_link_details", token, {"name": "Emilie Dupre-Martin", "iban": IBAN})
    with pytest.raises(Conflict):  # an operator does not sign a link order
        call(signing, "sign", merchant, order["id"], {"otp": code, "iban": IBAN}, EVIDENCE)

    done = call(signing, "sign_link", token, {"otp": code}, EVIDENCE)
    assert done["order"]["status"] == "signed" and done["order"]["mandate_id"].startswith("MD")
    assert done["order"]["evidence"]["document_hash"] == shown["document_hash"]
    mandate = call(mandates, "get_mandate", merchant, done["order"]["mandate_id"])
    assert mandate["evidence"]["document_hash"] == shown["document_hash"]
    assert mandate["subscriber"]["name"] == "Emilie Dupre-Martin"

    with pytest.raises(Gone):  # the link is spent
        call(signing, "open_link", token)
    with pytest.raises(Conflict):
        call(signing, "sign_link", token, {"otp": code}, EVIDENCE)
    assert call(signing, "signed_mandate_for_link", token) == {
        "merchant_id": merchant, "mandate_id": mandate["id"], "creditor": CREDITOR}
    clock.advance(days=8)
    with pytest.raises(NotFound):
        call(signing, "signed_mandate_for_link", token)


def test_a_resent_link_retires_the_old_one_and_a_tampered_token_is_not_found(services, merchant, var, clock):
    signing = services["signing"]
    order = call(signing, "create_order", merchant, {"method": "link", "subscriber": subscriber()}, CREDITOR)
    old = token_of(order["signing_url"])
    with pytest.raises(TooManyRequests):
        call(signing, "resend_link", merchant, order["id"])
    clock.advance(seconds=60)
    again = call(signing, "resend_link", merchant, order["id"])
    new = token_of(again["signing_url"])
    assert new != old and len(mails(var)) == 2
    with pytest.raises(Gone):
        call(signing, "open_link", old)
    assert call(signing, "open_link", new)["order"]["id"] == order["id"]
    tampered = new[:-3] + ("AAA" if not new.endswith("AAA") else "BBB")
    for token in (tampered, "not-a-token", "", new.split(".")[0] + ".x"):
        with pytest.raises(NotFound):
            call(signing, "open_link", token)
    with pytest.raises(NotFound):
        call(signing, "submit_link_details", tampered, {"name": "X", "iban": IBAN})
    operator = call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber("C-2")}, CREDITOR)
    with pytest.raises(Conflict):
        call(signing, "resend_link", merchant, operator["id"])
    call(signing, "cancel_order", merchant, order["id"])
    with pytest.raises(Gone):
        call(signing, "open_link", new)


def test_the_link_mail_goes_through_a_real_smtp_server(services, merchant, var, tmp_path, monkeypatch):
    signing = services["signing"]
    (tmp_path / "smtp").mkdir()
    with smtp_server(tmp_path / "smtp", "debito", "s3cret") as (port, maildir):
        monkeypatch.setenv("SMTP_URL", f"smtp://debito:s3cret@127.0.0.1:{port}")
        order = call(signing, "create_order", merchant, {"method": "link", "subscriber": subscriber()}, CREDITOR)
        [message] = list(maildir)
    assert message["To"] == "emilie@example.org"
    assert order["signing_url"] in message.get_payload(decode=True).decode()
    assert not (Path(var) / "outbox-mail").exists()


def test_an_unreachable_smtp_server_creates_no_order(services, merchant, var, monkeypatch):
    signing = services["signing"]
    monkeypatch.setenv("SMTP_URL", "smtp://127.0.0.1:9")
    with pytest.raises(Unavailable):
        call(signing, "create_order", merchant, {"method": "link", "subscriber": subscriber()}, CREDITOR)
    assert call(signing, "list_orders", merchant)["items"] == []


# --- Twilio -----------------------------------------------------------------

def test_the_code_goes_through_twilio_and_a_twilio_error_changes_nothing(services, merchant, var, clock, monkeypatch):
    signing = services["signing"]
    with twilio_fake() as twilio:
        monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token")
        monkeypatch.setenv("TWILIO_FROM", "+33700000000")
        monkeypatch.setenv("TWILIO_API_URL", twilio.url)
        order = call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber(),
                                                         "lang": "en"}, CREDITOR)
        sent = call(signing, "send_otp", merchant, order["id"])
        assert sent["otp_sends"] == 1
        [request] = twilio.requests()
        assert request["account"] == "AC" + "0" * 32 and request["auth_user"] == request["account"]
        form = request["form"]
        assert (form["To"], form["From"]) == ("+33612345678", "+33700000000")
        code = re.fullmatch(r"Debito: your code to sign the mandate for Acme SAS is (\d{6}) \(valid 10 minutes\)\.",
                            form["Body"]).group(1)
        assert sms_sent(var, order["id"]) == []  # Twilio, not the outbox

        twilio.fail_with(400, 21211, "The 'To' number +33612345678 is not a valid phone number.")
        clock.advance(minutes=2)
        with pytest.raises(Unavailable) as error:
            call(signing, "send_otp", merchant, order["id"])
        assert "21211" in error.value.message and "not a valid phone number" in error.value.message
        found = call(signing, "get_order", merchant, order["id"])
        assert (found["otp_sends"], found["otp_sent_at"]) == (1, START.isoformat())  # not counted
        twilio.fail_with(503, 20500, "Internal Server Error")
        with pytest.raises(Unavailable):
            call(signing, "send_otp", merchant, order["id"])
        twilio.succeed()
        assert len(twilio.requests()) == 3
        # the first code still stands after the failed sends (sent 2 minutes ago)
        signed = call(signing, "sign", merchant, order["id"], {"otp": code, "iban": IBAN}, EVIDENCE)
    assert signed["status"] == "signed"


def test_an_unreachable_twilio_is_a_clear_failure(services, merchant, var, monkeypatch):
    signing = services["signing"]
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token")
    monkeypatch.setenv("TWILIO_FROM", "+33700000000")
    monkeypatch.setenv("TWILIO_API_URL", "http://127.0.0.1:9")
    order = call(signing, "create_order", merchant, {"method": "operator", "subscriber": subscriber()}, CREDITOR)
    with pytest.raises(Unavailable) as error:
        call(signing, "send_otp", merchant, order["id"])
    assert error.value.message.startswith("the SMS could not be sent")
    assert call(signing, "get_order", merchant, order["id"])["status"] == "pending"
