"""The payments service on the real broker and PostgreSQL, with fake plans and
mandates services: the collection cycle run twice for a day schedules and
submits once, a credit from the bank is booked and told to plans and
mandates, a revocation delivered twice cancels once."""
import os
import time
import uuid
from datetime import date

import pytest
from nameko.events import event_handler
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from sqlalchemy.orm import Session

from common.database import make_engine
from common.errors import Conflict, Invalid
from common.json_pages import page_data
from common.migrations import upgrade
from payments.iso20022 import xsd
from payments.service import PaymentsService

AS_OF = date(2030, 1, 7)  # a Monday: debits due Tuesday 8 January leave today (D-1)
MANDATE = {"id": "MD1", "subscriber_id": "SB1", "status": "active", "reference": "DBT-MD1",
           "signed_at": "2029-12-01T10:00:00+00:00", "iban": "FR7630006000011234567890189",
           "bic": "AGRIFRPP", "sequence": "recurrent",
           "subscriber": {"name": "Jeanne Martin", "email": "jeanne@example.org"}, "amendments": []}


class FakePlans:
    """Stands for plans: answers the same instalments at every call (payments must dedupe)."""
    name = "plans"
    instalments, collected, acknowledged = [], [], []

    @rpc
    def due_instalments(self, as_of_iso, limit=None, fresh=False, after=None):
        return FakePlans.instalments

    @rpc
    def acknowledge_instalments(self, keys):
        FakePlans.acknowledged.append(list(keys))
        return {"acknowledged": len(keys)}

    @rpc
    def record_collected_many(self, items):
        FakePlans.collected.extend((i["merchant_id"], i["plan_id"], i["sequence_no"]) for i in items)
        return {}


class FakeMandates:
    name = "mandates"
    collections = []

    @rpc
    def get_mandate(self, merchant_id, mandate_id):
        return {**MANDATE, "id": mandate_id}

    @rpc
    def get_mandates(self, merchant_id, mandate_ids):
        return [{**MANDATE, "id": mandate_id} for mandate_id in mandate_ids]

    @rpc
    def record_collections(self, items):
        FakeMandates.collections.extend((i["merchant_id"], i["mandate_id"], i["collected_on"]) for i in items)
        return {}


class Listener:
    name = "payments_listener"

    @event_handler("payments", "payments_scheduled")
    def on_payments_scheduled(self, payload):
        return payload

    @event_handler("payments", "payments_paid")
    def on_payments_paid(self, payload):
        return payload

    @event_handler("payments", "payment_cancelled")
    def on_payment_cancelled(self, payload):
        return payload


@pytest.fixture
def bank(tmp_path, monkeypatch):
    folders = {name: tmp_path / "bank" / name for name in ("outbox", "inbox")}
    folders["inbox"].mkdir(parents=True)
    monkeypatch.setenv("BANK_OUTBOX", str(folders["outbox"]))
    monkeypatch.setenv("BANK_INBOX", str(folders["inbox"]))
    monkeypatch.setenv("DEBITO_VAR", str(tmp_path / "var"))
    monkeypatch.delenv("SMTP_URL", raising=False)
    return folders


@pytest.fixture
def containers(container_factory, rabbit_config, postgres_database, monkeypatch, bank):
    monkeypatch.setenv("DATABASE_URL", postgres_database)
    upgrade("payments", make_engine("payments", postgres_database))
    started = [container_factory(cls, rabbit_config) for cls in (PaymentsService, FakePlans, FakeMandates, Listener)]
    for container in started:
        container.start()
    return started[0], started[3]


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


@pytest.fixture
def merchant(containers):
    service, _ = containers
    merchant_id = "ME" + uuid.uuid4().hex[:20].upper()
    call(service, "register_creditor", merchant_id, {
        "name": "Acme SAS", "creditor_id": "FR72ZZZ123456", "iban": "FR7630006000011234567890189"})
    FakePlans.instalments = [
        {"key": f"PL{merchant_id}:{n}", "plan_id": f"PL{merchant_id}", "merchant_id": merchant_id,
         "mandate_id": "MD1", "subscriber_id": "SB1", "sequence_no": n, "due_date": due, "amount": 2990,
         "currency": "EUR", "label": "Yoga", "frequency": "monthly", "is_last": False}
        for n, due in ((1, "2030-01-08"), (2, "2030-02-08"))]
    return merchant_id


def test_collect_twice_for_a_day_schedules_and_submits_once(containers, merchant, bank):
    service, listener = containers
    with entrypoint_waiter(listener, "on_payments_scheduled") as scheduled:
        first = call(service, "collect", AS_OF.isoformat())
    assert scheduled.get()["merchant_id"] == merchant
    assert sorted(p["sequence_type"] for p in scheduled.get()["payments"]) == ["FRST", "RCUR"]  # one batch
    # the cycle is every merchant's: other tests' payments due that day in this database go too
    assert first["scheduled"] == 2 and first["submitted"] >= 1 and first["files"] >= 1
    keys = sorted(i["key"] for i in FakePlans.instalments)
    assert sorted(FakePlans.acknowledged[-1]) == keys  # told plans, after its commit
    again = call(service, "collect", AS_OF.isoformat())
    assert (again["scheduled"], again["submitted"], again["files"]) == (0, 0, 0)
    files = sorted(bank["outbox"].glob(f"pain008-{merchant}-*.xml"))
    assert len(files) == 1
    xsd.validate_file(files[0], "pain.008.001.02")
    items = page_data(call(service, "list_payments_json", merchant, {}))["items"]
    assert sorted((p["due_date"], p["status"], p["sequence_type"]) for p in items) == [
        ("2030-01-08", "submitted", "FRST"), ("2030-02-08", "scheduled", "RCUR")]
    mails = list((bank["outbox"].parent.parent / "var" / "outbox-mail").glob("*.eml"))
    assert len(mails) == 2
    with pytest.raises(Invalid):
        call(service, "list_payments_json", merchant, {"status": "lost"})


def test_a_credit_from_the_bank_is_booked_and_told_to_plans_and_mandates(containers, merchant, bank):
    service, listener = containers
    call(service, "collect", AS_OF.isoformat())
    payment = page_data(call(service, "list_payments_json", merchant, {"status": "submitted"}))["items"][0]
    (bank["inbox"] / "camt.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><BkToCstmrDbtCdtNtfctn>'
        f"<GrpHdr><MsgId>CA{merchant}</MsgId><CreDtTm>2030-01-08T08:00:00</CreDtTm></GrpHdr>"
        "<Ntfctn><Id>N1</Id><CreDtTm>2030-01-08T08:00:00</CreDtTm>"
        "<Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id></Acct>"
        '<Ntry><Amt Ccy="EUR">29.90</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
        "<BookgDt><Dt>2030-01-08</Dt></BookgDt><ValDt><Dt>2030-01-08</Dt></ValDt>"
        "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RDDT</Cd><SubFmlyCd>ESDD</SubFmlyCd></Fmly></Domn></BkTxCd>"
        f"<NtryDtls><TxDtls><Refs><EndToEndId>{payment['end_to_end_id']}</EndToEndId></Refs></TxDtls>"
        "</NtryDtls></Ntry></Ntfctn></BkToCstmrDbtCdtNtfctn></Document>", encoding="utf-8")
    with entrypoint_waiter(listener, "on_payments_paid") as paid:
        report = call(service, "import_inbox", "2030-01-08")
    assert (report["imported_files"], report["paid"], report["unmatched"]) == (1, 1, 0)
    batch = paid.get()
    assert batch["merchant_id"] == merchant and [item["payment_id"] for item in batch["payments"]] == [payment["id"]]
    assert batch["payments"][0]["status"] == "paid" and batch["payments"][0]["amount"] == payment["amount"]
    assert (merchant, f"PL{merchant}", 1) in FakePlans.collected
    assert (merchant, "MD1", FakeMandates.collections[-1][2]) in FakeMandates.collections
    detail = call(service, "get_payment", merchant, payment["id"])
    assert detail["status"] == "paid" and detail["r_transactions"] == []
    with pytest.raises(Conflict):
        call(service, "replay_payment", merchant, payment["id"], {})
    assert call(service, "import_inbox", "2030-01-08")["imported_files"] == 0


def test_revocation_delivered_twice_cancels_scheduled_payments_once(containers, merchant, rabbit_config):
    service, listener = containers
    call(service, "collect", AS_OF.isoformat())
    event = {"event_id": uuid.uuid4().hex, "merchant_id": merchant, "mandate_id": "MD1",
             "subscriber_id": "SB1", "reference": "DBT-MD1", "revoked_at": None, "reason": None}
    dispatch = event_dispatcher(rabbit_config)
    with entrypoint_waiter(listener, "on_payment_cancelled") as cancelled:
        with entrypoint_waiter(service, "on_mandate_revoked") as first:
            dispatch("mandates", "mandate_revoked", event)
        assert len(first.get()) == 1
        with entrypoint_waiter(service, "on_mandate_revoked") as second:
            dispatch("mandates", "mandate_revoked", event)
        assert second.get() == []
    assert cancelled.get()["merchant_id"] == merchant
    statuses = sorted(p["status"] for p in page_data(call(service, "list_payments_json", merchant, {}))["items"])
    assert statuses == ["cancelled", "submitted"]


def test_a_payout_of_available_funds_is_written_and_a_second_beyond_is_refused(containers, merchant, bank,
                                                                               monkeypatch):
    service, _ = containers
    call(service, "collect", AS_OF.isoformat())
    payment = page_data(call(service, "list_payments_json", merchant, {"status": "submitted"}))["items"][0]
    (bank["inbox"] / "camt.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><BkToCstmrDbtCdtNtfctn>'
        f"<GrpHdr><MsgId>CP{merchant}</MsgId><CreDtTm>2030-01-08T08:00:00</CreDtTm></GrpHdr>"
        "<Ntfctn><Id>N1</Id><CreDtTm>2030-01-08T08:00:00</CreDtTm>"
        "<Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id></Acct>"
        '<Ntry><Amt Ccy="EUR">29.90</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
        "<BookgDt><Dt>2030-01-08</Dt></BookgDt><ValDt><Dt>2030-01-08</Dt></ValDt>"
        "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RDDT</Cd><SubFmlyCd>ESDD</SubFmlyCd></Fmly></Domn></BkTxCd>"
        f"<NtryDtls><TxDtls><Refs><EndToEndId>{payment['end_to_end_id']}</EndToEndId></Refs></TxDtls>"
        "</NtryDtls></Ntry></Ntfctn></BkToCstmrDbtCdtNtfctn></Document>", encoding="utf-8")
    call(service, "import_inbox", "2030-01-08")
    assert call(service, "get_balance", merchant, "2030-01-10")["reserved"] == 2990
    monkeypatch.setenv("DEBITO_CLOCK", "2030-01-21T10:00:00+00:00")
    assert call(service, "get_balance", merchant)["available"] == 2990
    payout = call(service, "request_payout", merchant, {"amount": 2000})
    assert payout["status"] == "sent" and payout["amount"] == 2000
    xsd.validate_file(next(bank["outbox"].glob(f"pain001-{merchant}-*.xml")), "pain.001.001.03")
    with pytest.raises(Invalid):
        call(service, "request_payout", merchant, {"amount": 991})
    with pytest.raises(Invalid):
        call(service, "request_payout", merchant, {"amount": 0})
    figures = call(service, "get_balance", merchant)
    assert (figures["balance"], figures["transfers_in_progress"], figures["available"]) == (2990, 2000, 990)
    assert [p["id"] for p in call(service, "list_payouts", merchant, {})["items"]] == [payout["id"]]
    statement = call(service, "get_statement", merchant, {"from": "2030-01-01", "to": "2030-01-31"})
    assert statement["opening_balance"] == 0 and statement["closing_balance"] == 2990
    assert [e["code"] for e in statement["entries"]] == ["SDD"]
    with pytest.raises(Invalid):
        call(service, "get_statement", merchant, {"from": "2030-02-01", "to": "2030-01-31"})

    # a call delivered again (a client's retry, RabbitMQ after a broker restart) with the
    # same idempotency key answers the first call's payout: no second pain.001, no second debit
    keyed = call(service, "request_payout", merchant, {"amount": 300}, "KEY-1")
    assert call(service, "request_payout", merchant, {"amount": 300}, "KEY-1") == keyed
    other = call(service, "request_payout", merchant, {"amount": 300}, "KEY-2")
    assert other["id"] != keyed["id"]
    assert call(service, "get_balance", merchant)["transfers_in_progress"] == 2000 + 300 + 300
    assert len(list(bank["outbox"].glob(f"pain001-{merchant}-*.xml"))) == 3


def test_one_payout_for_two_calls_with_one_key_at_the_same_time(containers, merchant, monkeypatch, rabbit_config):
    """The original call and its redelivery run side by side: the creditor's row lock orders
    their claims, the second finds the key taken and answers the first's payout."""
    import threading

    from payments import ledger
    from payments.models import LedgerEntry

    service, _ = containers
    engine = make_engine("payments", os.environ["DATABASE_URL"])
    with Session(engine) as session:
        session.add(LedgerEntry(id="LE" + uuid.uuid4().hex[:20], merchant_id=merchant, date=date(2030, 1, 2),
                                value_date=date(2030, 1, 2), code="SDD", reference="E2E", amount=10000,
                                created_at=ledger.clock.now()))
        session.commit()
    engine.dispose()
    monkeypatch.setenv("DEBITO_CLOCK", "2030-01-21T10:00:00+00:00")
    arrived, claim = [], ledger.claim_payout

    def both_then_claim(*args, **kwargs):  # both calls have looked for the key before either claims
        arrived.append(1)
        deadline = time.monotonic() + 10
        while len(arrived) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        return claim(*args, **kwargs)
    monkeypatch.setattr(ledger, "claim_payout", both_then_claim)
    answers = []

    def request():  # over the broker, each call its own proxy (entrypoint_hook mixes concurrent calls)
        with ServiceRpcProxy("payments", rabbit_config) as payments:
            answers.append(payments.request_payout(merchant, {"amount": 4000}, "SAME-KEY"))
    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 2 and answers[0] == answers[1]
    assert [p["id"] for p in call(service, "list_payouts", merchant, {})["items"]] == [answers[0]["id"]]
    assert call(service, "get_balance", merchant)["transfers_in_progress"] == 4000
    assert len(arrived) == 2
