"""mandates.sign_mandate on the real broker and PostgreSQL: an electronically
signed mandate keeps its evidence, is active at once, and the same order id
always answers the same mandate."""
import base64
import uuid
from io import BytesIO

import eventlet
import pytest
from nameko.events import event_handler
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from pypdf import PdfReader

from common.database import make_engine
from common.errors import Invalid, NotFound
from common.json_pages import page_data
from common.migrations import upgrade
from mandates.service import MandatesService

IBAN = "FR7630006000011234567890189"
HASH = "sha256:" + "ab" * 32


class Listener:
    name = "mandates_sign_listener"

    @event_handler("mandates", "mandate_signed")
    def on_mandate_signed(self, payload):
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


def payload(order_id, reference="C-1", **fields):
    return {"subscriber": {"customer_reference": reference, "name": "Émilie Dupré", "email": "e@example.org",
                           "phone": "+33612345678"},
            "iban": IBAN, "signature_method": "electronic",
            "evidence": {"signed_at": "2027-03-01T09:03:00+00:00", "ip_address": "203.0.113.7",
                         "user_agent": "Mozilla/5.0", "phone": "+33612345678", "order_id": order_id,
                         "document_hash": HASH}, **fields}


def test_a_signed_mandate_is_active_with_its_evidence_and_emits_mandate_signed(containers, merchant):
    service, listener = containers
    with entrypoint_waiter(listener, "on_mandate_signed") as signed:
        mandate = call(service, "sign_mandate", merchant, payload("SO1"))
    assert (mandate["status"], mandate["signature_method"], mandate["bic"]) == ("active", "electronic", "AGRIFRPPXXX")
    assert mandate["signed_at"] == "2027-03-01T09:03:00+00:00" and mandate["reference"].startswith("DBT-")
    assert mandate["evidence"] == payload("SO1")["evidence"]
    event = signed.get()
    assert (event["mandate_id"], event["signature_method"], event["order_id"]) == (mandate["id"], "electronic", "SO1")
    assert call(service, "get_mandate", merchant, mandate["id"])["evidence"] == mandate["evidence"]
    listed = page_data(call(service, "list_mandates_json", merchant, {}))["items"]
    assert [m["id"] for m in listed] == [mandate["id"]]


def test_the_same_order_answers_the_same_mandate(containers, merchant):
    service, _ = containers
    first = call(service, "sign_mandate", merchant, payload("SO2"))
    again = call(service, "sign_mandate", merchant, payload("SO2", iban="DE89370400440532013000"))
    assert again == first
    assert len(page_data(call(service, "list_mandates_json", merchant, {}))["items"]) == 1
    other = "ME" + uuid.uuid4().hex[:20].upper()  # the order id is unique per merchant only
    assert call(service, "sign_mandate", other, payload("SO2"))["id"] != first["id"]


def test_simultaneous_calls_for_one_order_make_one_mandate(containers, merchant, rabbit_config):
    service, _ = containers

    def sign(order_id, reference):  # each over its own RPC connection
        with ServiceRpcProxy("mandates", rabbit_config) as rpc:
            return rpc.sign_mandate(merchant, payload(order_id, reference=reference))

    for attempt in range(3):
        calls = [eventlet.spawn(sign, f"SOSIM{attempt}", f"SIM-{attempt}") for _ in range(4)]
        answers = [green.wait() for green in calls]
        assert len({answer["id"] for answer in answers}) == 1
    assert len(page_data(call(service, "list_mandates_json", merchant, {}))["items"]) == 3


def test_an_existing_customer_reference_gets_the_mandate(containers, merchant):
    service, _ = containers
    existing = call(service, "create_subscriber", merchant, {"customer_reference": "C-9", "name": "Zoé"})
    mandate = call(service, "sign_mandate", merchant, payload("SO3", reference="C-9"))
    assert mandate["subscriber_id"] == existing["id"]
    unknown_ip = {**payload("SO4")["evidence"], "ip_address": None}
    by_id = call(service, "sign_mandate", merchant, {**payload("SO4"), "subscriber": None,
                                                      "subscriber_id": existing["id"], "evidence": unknown_ip})
    assert by_id["subscriber_id"] == existing["id"]
    assert by_id["evidence"]["ip_address"] is None  # evidence sent without it: the key stays, null
    assert len(call(service, "get_subscriber", merchant, existing["id"])["mandates"]) == 2


def test_bad_input_is_refused_with_its_field(containers, merchant):
    service, _ = containers
    for bad, field in ((payload("SO5", signature_method="paper"), "signature_method"),
                       (payload("SO5", iban="FR7630006000011234567890180"), "iban"),
                       ({**payload("SO5"), "evidence": {**payload("SO5")["evidence"], "document_hash": "md5:x"}},
                        "evidence"),
                       ({k: v for k, v in payload("SO5").items() if k != "evidence"}, "evidence")):
        with pytest.raises(Invalid) as error:
            call(service, "sign_mandate", merchant, bad)
        assert field in error.value.fields
    with pytest.raises(NotFound):
        other = call(service, "create_subscriber", "ME" + uuid.uuid4().hex[:20].upper(),
                     {"customer_reference": "C-1", "name": "X"})
        call(service, "sign_mandate", merchant, {**payload("SO6"), "subscriber": None, "subscriber_id": other["id"]})
    assert page_data(call(service, "list_mandates_json", merchant, {}))["items"] == []


def test_imported_mandates_have_no_evidence_and_the_pdf_shows_a_signed_ones(containers, merchant):
    service, _ = containers
    imported = call(service, "import_mandate", merchant, {
        "subscriber": {"customer_reference": "C-7", "name": "Paul"}, "iban": IBAN,
        "signature_method": "web", "signed_at": "2026-01-10"})
    assert imported["evidence"] is None
    signed = call(service, "sign_mandate", merchant, payload("SO7"))
    pdf = call(service, "render_mandate_pdf", merchant, signed["id"],
               {"name": "Acme SAS", "creditor_id": "FR72ZZZ123456", "address": "Paris"}, "en")
    text = "".join(page.extract_text() for page in PdfReader(BytesIO(base64.b64decode(pdf))).pages)
    assert "203.0.113.7" in text and "SO7" in text and "Electronic signature evidence" in text
