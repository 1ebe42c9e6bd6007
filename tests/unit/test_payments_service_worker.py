"""The payments entrypoints with nameko's worker_factory on PostgreSQL (a rolled-back session): collect pulls
the instalments once, fetches each mandate once, and reports its counts;
an automatic retry follows a retryable reject when the merchant asked for it."""
from datetime import date
from unittest.mock import Mock, call

import pytest
from nameko.testing.services import worker_factory

from payments import collection, payments
from payments.models import Payment
from payments.service import COLLECT_PAGE, PaymentsService

A = "MEaaaa"
MANDATE = {"id": "MD1", "subscriber_id": "SB1", "status": "active", "reference": "DBT-MD1",
           "signed_at": "2026-12-01T10:00:00+00:00", "iban": "FR7630006000011234567890189",
           "bic": "AGRIFRPP", "sequence": "recurrent", "subscriber": {"name": "Jeanne Martin"}}


def instalment(n, due):
    return {"key": f"PL1:{n}", "plan_id": "PL1", "merchant_id": A, "mandate_id": "MD1", "subscriber_id": "SB1",
            "sequence_no": n, "due_date": due, "amount": 2990, "label": "Yoga", "is_last": False}


def synchronous(method):
    """call_async on a Mock RPC method: the call made at once, its answer kept for result()."""
    method.call_async.side_effect = lambda *args: Mock(result=Mock(return_value=method(*args)))


@pytest.fixture
def service(monkeypatch, tmp_path, db_session):
    monkeypatch.setenv("DEBITO_CLOCK", "2027-01-29T12:00:00+00:00")
    monkeypatch.setenv("DEBITO_VAR", str(tmp_path))
    monkeypatch.setenv("BANK_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("BANK_INBOX", str(tmp_path / "inbox"))
    session = db_session("payments", expire_on_commit=False)
    worker = worker_factory(PaymentsService, db=session, plans=Mock(), mandates=Mock())
    worker.register_creditor(A, {"name": "Acme SAS", "creditor_id": "FR72ZZZ123456",
                                 "iban": "FR7630006000011234567890189"})
    worker.mandates.get_mandate.return_value = MANDATE
    worker.mandates.get_mandates.side_effect = lambda merchant_id, ids: [{**MANDATE, "id": i} for i in ids]
    for method in (worker.plans.due_instalments, worker.mandates.get_mandates, worker.plans.acknowledge_instalments):
        synchronous(method)
    yield worker
    session.close()


def test_collect_fetches_each_mandate_once_and_reports_its_counts(service):
    service.plans.due_instalments.return_value = [instalment(1, "2027-02-01"), instalment(2, "2027-03-01")]
    report = service.collect("2027-01-29")
    assert report == {"scheduled": 2, "submitted": 1, "files": 1, "imported_files": 0, "failed_files": 0,
                      "paid": 0, "rejected": 0, "unmatched": 0, "retried": 0}
    # a page issued now (plans may issue the next meanwhile), then those never acknowledged
    assert service.plans.due_instalments.call_args_list == [
        call("2027-01-29", COLLECT_PAGE, True), call("2027-01-29", COLLECT_PAGE)]
    assert service.mandates.get_mandates.call_args_list == [call(A, ["MD1"])] * 2  # once per page
    scheduled = [c.args[1] for c in service.dispatch.call_args_list if c.args[0] == "payments_scheduled"]
    assert [len(event["payments"]) for event in scheduled] == [2]  # one batch event for both
    assert service.collect("2027-01-29")["scheduled"] == 0


def test_automatic_retry_follows_a_retryable_reject(service, tmp_path):
    payments.register_creditor(service.db, A, {"automatic_retry": True})
    service.plans.due_instalments.return_value = [instalment(1, "2027-02-01")]
    service.collect("2027-01-29")
    payment = service.db.query(Payment).one()
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "status.xml").write_text(
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt>'
        "<GrpHdr><MsgId>ST1</MsgId><CreDtTm>2027-02-01T08:00:00</CreDtTm></GrpHdr>"
        f"<OrgnlGrpInfAndSts><OrgnlMsgId>{payment.bank_file_id}</OrgnlMsgId>"
        "<OrgnlMsgNmId>pain.008.001.02</OrgnlMsgNmId></OrgnlGrpInfAndSts>"
        f"<OrgnlPmtInfAndSts><OrgnlPmtInfId>{payment.bank_file_id}-1</OrgnlPmtInfId><TxInfAndSts>"
        f"<OrgnlEndToEndId>{payment.end_to_end_id}</OrgnlEndToEndId><TxSts>RJCT</TxSts>"
        "<StsRsnInf><Rsn><Cd>AM04</Cd></Rsn></StsRsnInf></TxInfAndSts></OrgnlPmtInfAndSts>"
        "</CstmrPmtStsRpt></Document>")
    report = service.import_inbox("2027-02-01")
    assert (report["rejected"], report["retried"]) == (1, 1)
    retry = service.db.query(Payment).filter(Payment.replay_of == payment.id).one()
    assert retry.automatic and retry.attempt == 2 and retry.due_date == date(2027, 2, 15)
    assert retry.due_date == collection.first_possible_due_date(service.db, A, date(2027, 2, 1))
    names = [c.args[0] for c in service.dispatch.call_args_list]
    assert {"payments_rejected", "r_transactions_received"} <= set(names)
    # the import's batches are handed to the outbox as its builders' dicts (events.ImportEvents)
    rejected = next(c.args[1] for c in service.dispatch.call_args_list if c.args[0] == "payments_rejected")
    received = next(c.args[1] for c in service.dispatch.call_args_list if c.args[0] == "r_transactions_received")
    assert [p["payment_id"] for p in rejected["payments"]] == [payment.id]
    assert [(r["payment_id"], r["reason_code"]) for r in received["r_transactions"]] == [(payment.id, "AM04")]
