"""The mandates service on the real broker and PostgreSQL: its RPCs answer,
each fact goes out as an event after the commit, and errors reach the caller
as the classes of common.errors."""
import base64
import uuid

import pytest
from nameko.events import event_handler
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from common.database import make_engine
from common.errors import Conflict, Invalid, NotFound
from common.json_pages import page_data
from common.migrations import upgrade
from mandates.service import MandatesService

IBAN_FR = "FR7630006000011234567890189"
IBAN_DE = "DE89370400440532013000"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n"


class Listener:
    """Hears every event of the mandates service and returns its payload."""
    name = "mandates_listener"

    @event_handler("mandates", "subscriber_created")
    def on_subscriber_created(self, payload):
        return payload

    @event_handler("mandates", "mandate_signed")
    def on_mandate_signed(self, payload):
        return payload

    @event_handler("mandates", "mandate_amended")
    def on_mandate_amended(self, payload):
        return payload

    @event_handler("mandates", "mandate_revoked")
    def on_mandate_revoked(self, payload):
        return payload

    @event_handler("mandates", "mandate_expired")
    def on_mandate_expired(self, payload):
        return payload


@pytest.fixture
def containers(container_factory, rabbit_config, postgres_database, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_database)
    upgrade("mandates", make_engine("mandates", postgres_database))
    service = container_factory(MandatesService, rabbit_config)
    listener = container_factory(Listener, rabbit_config)
    service.start()
    listener.start()
    return service, listener


@pytest.fixture
def merchant():
    return "ME" + uuid.uuid4().hex[:20].upper()


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def import_payload(customer_reference, **fields):
    return {"subscriber": {"customer_reference": customer_reference, "name": "Émilie Dupré",
                           "email": "emilie@example.org", "phone": "+33612345678",
                           "address": "1 rue de la Paix, 75002 Paris"},
            "iban": IBAN_FR, "signature_method": "paper", "signed_at": "2025-01-10",
            "signed_place": "Paris", **fields}


def test_import_answers_the_mandate_and_emits_subscriber_created_and_mandate_signed(containers, merchant):
    service, listener = containers
    payload = import_payload("C-1", reference="ACME-1",
                             scan={"filename": "mandate.pdf", "content_base64": base64.b64encode(PDF).decode()})
    with entrypoint_waiter(listener, "on_subscriber_created") as created, \
            entrypoint_waiter(listener, "on_mandate_signed") as signed:
        mandate = call(service, "import_mandate", merchant, payload)
    assert mandate["status"] == "active" and mandate["id"].startswith("MD")
    assert (mandate["reference"], mandate["bic"], mandate["has_scan"]) == ("ACME-1", "AGRIFRPPXXX", True)
    assert mandate["signed_at"] == "2025-01-10T00:00:00+00:00"
    assert mandate["subscriber"]["customer_reference"] == "C-1"
    event = signed.get()
    assert event["event_id"] and event["merchant_id"] == merchant
    assert {k: event[k] for k in ("mandate_id", "subscriber_id", "reference", "iban", "bic",
                                  "signature_method", "signed_at", "sequence", "customer_reference")} == {
        "mandate_id": mandate["id"], "subscriber_id": mandate["subscriber_id"], "reference": "ACME-1",
        "iban": IBAN_FR, "bic": "AGRIFRPPXXX", "signature_method": "paper",
        "signed_at": "2025-01-10T00:00:00+00:00", "sequence": "recurrent", "customer_reference": "C-1"}
    assert created.get()["subscriber_id"] == mandate["subscriber_id"]

    scan = call(service, "get_mandate_scan", merchant, mandate["id"])
    assert scan == {"filename": "mandate.pdf", "content_type": "application/pdf",
                    "content_base64": base64.b64encode(PDF).decode()}
    found = call(service, "get_mandate", merchant, mandate["id"])
    assert found == mandate
    subscriber = call(service, "get_subscriber", merchant, mandate["subscriber_id"])
    assert [m["id"] for m in subscriber["mandates"]] == [mandate["id"]]


def test_create_subscriber_emits_subscriber_created(containers, merchant):
    service, listener = containers
    with entrypoint_waiter(listener, "on_subscriber_created") as created:
        subscriber = call(service, "create_subscriber", merchant, {
            "customer_reference": "CRM-7", "name": "Zoé", "email": "zoe@example.org", "phone": None})
    assert subscriber["id"].startswith("SB") and subscriber["phone"] is None
    assert created.get() == {"event_id": created.get()["event_id"], "merchant_id": merchant,
                             "subscriber_id": subscriber["id"], "customer_reference": "CRM-7",
                             "name": "Zoé", "email": "zoe@example.org", "created_at": subscriber["created_at"]}


def test_search_finds_by_prefix_and_accentless_name_on_postgresql(containers, merchant):
    service, _ = containers
    for reference in ("C-10", "C-1001", "C-2"):
        call(service, "import_mandate", merchant, import_payload(reference))
    page = page_data(call(service, "list_mandates_json", merchant, {"customer_reference": "C-10", "limit": "1"}))
    assert [m["customer_reference"] for m in page["items"]] == ["C-1001"] and page["next_cursor"]
    rest = page_data(call(service, "list_mandates_json", merchant, {"customer_reference": "C-10",
                                                                    "cursor": page["next_cursor"]}))
    assert [m["customer_reference"] for m in rest["items"]] == ["C-10"] and rest["next_cursor"] is None
    assert rest["items"][0]["name"] == "Émilie Dupré"
    assert len(page_data(call(service, "list_mandates_json", merchant, {"q": "EMILIE dupre"}))["items"]) == 3
    assert len(call(service, "list_subscribers", merchant, {"q": "émilie"})["items"]) == 3
    assert page_data(call(service, "list_mandates_json", "ME-SOMEONE-ELSE",
                          {"customer_reference": "C-10"}))["items"] == []


def test_amendment_and_revocation_emit_their_events(containers, merchant):
    service, listener = containers
    mandate = call(service, "import_mandate", merchant, import_payload("C-1"))
    with entrypoint_waiter(listener, "on_mandate_amended") as amended:
        answer = call(service, "amend_bank_details", merchant, mandate["id"], {"iban": IBAN_DE})
    assert (answer["iban"], answer["bic"]) == (IBAN_DE, "COBADEFFXXX")
    (amendment,) = answer["amendments"]
    event = amended.get()
    assert {k: event[k] for k in ("merchant_id", "mandate_id", "amendment_id", "old_iban", "new_iban",
                                  "old_bic", "new_bic", "same_bank")} == {
        "merchant_id": merchant, "mandate_id": mandate["id"], "amendment_id": amendment["id"],
        "old_iban": IBAN_FR, "new_iban": IBAN_DE, "old_bic": "AGRIFRPPXXX", "new_bic": "COBADEFFXXX",
        "same_bank": False}

    with entrypoint_waiter(listener, "on_mandate_revoked") as revoked:
        answer = call(service, "revoke_mandate", merchant, mandate["id"], {"reason": "customer left"})
    assert answer["status"] == "revoked" and answer["revocation_reason"] == "customer left"
    assert revoked.get()["reason"] == "customer left"
    assert revoked.get()["revoked_at"] == answer["revoked_at"]


def test_errors_reach_the_caller_as_common_errors(containers, merchant, rabbit_config):
    service, _ = containers
    mandate = call(service, "import_mandate", merchant, import_payload("C-1", reference="DUP-1"))
    with ServiceRpcProxy("mandates", rabbit_config) as mandates:
        with pytest.raises(Conflict) as conflict:
            mandates.import_mandate(merchant, import_payload("C-2", reference="DUP-1"))
        assert conflict.value.fields == {"reference": "already used by another mandate"}
        with pytest.raises(Invalid) as invalid:
            mandates.import_mandate(merchant, import_payload("C-3", iban="FR7630006000011234567890188"))
        assert list(invalid.value.fields) == ["iban"]
        with pytest.raises(NotFound):
            mandates.get_mandate("ME-SOMEONE-ELSE", mandate["id"])
        mandates.revoke_mandate(merchant, mandate["id"], {})
        with pytest.raises(Conflict):
            mandates.revoke_mandate(merchant, mandate["id"], {})
    # nothing of the refused imports was kept
    assert [m["reference"] for m in page_data(call(service, "list_mandates_json", merchant, {}))["items"]] == ["DUP-1"]


def test_daily_dormancy_expires_a_mandate_36_months_after_its_last_collection(containers, merchant):
    service, listener = containers
    mandate = call(service, "import_mandate", merchant, import_payload("C-1", signed_at="2010-01-05"))
    call(service, "record_collection", merchant, mandate["id"], "2012-02-29")
    call(service, "expire_dormant", "2015-02-27")
    assert call(service, "get_mandate", merchant, mandate["id"])["status"] == "active"
    with entrypoint_waiter(listener, "on_mandate_expired",
                           callback=lambda ctx, result, exc: result["mandate_id"] == mandate["id"]) as expired:
        answer = call(service, "expire_dormant", "2015-02-28")
    assert answer["expired"] >= 1
    assert expired.get()["last_collected_on"] == "2012-02-29"
    found = call(service, "get_mandate", merchant, mandate["id"])
    assert found["status"] == "expired" and found["last_collected_on"] == "2012-02-29"


def test_mandate_pdf_is_rendered_as_base64(containers, merchant):
    pytest.importorskip("mandates.pdf")
    from io import BytesIO

    from pypdf import PdfReader

    service, _ = containers
    mandate = call(service, "import_mandate", merchant, import_payload("C-1", reference="PDF-REF-1"))
    creditor = {"name": "Acme SAS", "address": "2 avenue Foch, Lyon", "creditor_id": "FR72ZZZ123456"}
    content = base64.b64decode(call(service, "render_mandate_pdf", merchant, mandate["id"], creditor, "fr"))
    text = "".join(page.extract_text() for page in PdfReader(BytesIO(content)).pages)
    for expected in ("PDF-REF-1", "Acme SAS", "FR72ZZZ123456", "Émilie Dupré"):
        assert expected in text
    with pytest.raises(NotFound):
        call(service, "render_mandate_pdf", "ME-SOMEONE-ELSE", mandate["id"], creditor, "fr")


def test_an_import_delivered_again_with_its_key_is_one_mandate(containers, merchant):
    """The gateway hands each import a key (the client's Idempotency-Key, or a new one): the
    same call again, as RabbitMQ delivers it after a broker restart, answers the mandate the
    first call made instead of a second mandate for the debtor."""
    service, _ = containers
    subscriber = call(service, "create_subscriber", merchant, {"customer_reference": "C-9", "name": "Jo Martin"})
    payload = {**import_payload("C-9"), "subscriber_id": subscriber["id"]}
    del payload["subscriber"]
    first = call(service, "import_mandate", merchant, payload, "KEY-1")
    assert call(service, "import_mandate", merchant, payload, "KEY-1") == first
    second = call(service, "import_mandate", merchant, payload, "KEY-2")  # another call: another mandate
    assert second["id"] != first["id"]
    assert sorted(m["id"] for m in call(service, "get_subscriber", merchant, subscriber["id"])["mandates"]) == sorted(
        [first["id"], second["id"]])
