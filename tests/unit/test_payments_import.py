"""The bank's answers imported from the inbox, on PostgreSQL (rolled back): pain.002 rejects,
camt.054 credits, returns and refunds, unmatched entries kept, each file
once, unreadable files set aside with their reason."""
import json
from datetime import date

import pytest
from sqlalchemy import func, select

from payments import collection, payments
from payments.inbox import import_inbox
from payments.models import BankFile, LedgerEntry, Payment, RTransaction, UnmatchedEntry
from common.json_pages import page_data
from common.schemas import load
from contracts.payments import CreditorIn, RTransactionFiltersIn

A = "MEaaaa"
MANDATE = {"id": "MD1", "subscriber_id": "SB1", "status": "active", "reference": "DBT-MD1",
           "signed_at": "2026-12-01T10:00:00+00:00", "iban": "FR7630006000011234567890189",
           "bic": "AGRIFRPP", "sequence": "recurrent", "subscriber": {"name": "Jeanne Martin"},
           "amendments": []}


def pain002(message_id, original_message_id, *rejects, group_status="PART"):
    transactions = "".join(
        f"<TxInfAndSts><OrgnlEndToEndId>{e2e}</OrgnlEndToEndId><TxSts>RJCT</TxSts>"
        f"<StsRsnInf><Rsn><Cd>{code}</Cd></Rsn></StsRsnInf></TxInfAndSts>" for e2e, code in rejects)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt>'
        f"<GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2027-02-01T08:00:00</CreDtTm></GrpHdr>"
        f"<OrgnlGrpInfAndSts><OrgnlMsgId>{original_message_id}</OrgnlMsgId>"
        f"<OrgnlMsgNmId>pain.008.001.02</OrgnlMsgNmId><GrpSts>{group_status}</GrpSts></OrgnlGrpInfAndSts>"
        f"<OrgnlPmtInfAndSts><OrgnlPmtInfId>{original_message_id}-1</OrgnlPmtInfId>{transactions}"
        "</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>")


def entry(e2e, cents, credit_debit="CRDT", reversal=False, code=None, currency="EUR", day="2027-02-01"):
    amount = f'<Amt Ccy="{currency}">{cents // 100}.{cents % 100:02d}</Amt>'
    returned = f"<RtrInf><Rsn><Cd>{code}</Cd></Rsn></RtrInf>" if code else ""
    return (f"<Ntry>{amount}<CdtDbtInd>{credit_debit}</CdtDbtInd><RvslInd>{str(reversal).lower()}</RvslInd>"
            f"<Sts>BOOK</Sts><BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
            "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RDDT</Cd><SubFmlyCd>ESDD</SubFmlyCd></Fmly></Domn></BkTxCd>"
            f"<NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs>"
            f"<AmtDtls><TxAmt>{amount}</TxAmt></AmtDtls>{returned}</TxDtls></NtryDtls></Ntry>")


def camt054(message_id, *entries):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><BkToCstmrDbtCdtNtfctn>'
        f"<GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2027-02-01T08:00:00</CreDtTm></GrpHdr>"
        "<Ntfctn><Id>N1</Id><CreDtTm>2027-02-01T08:00:00</CreDtTm>"
        "<Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id></Acct>"
        f"{''.join(entries)}</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>")


class Writer:
    def __call__(self, path, *, message_id, created_at, creditor, batches, totals):
        for batch in batches:
            list(batch["debits"])
        path.write_text(message_id)


@pytest.fixture
def session(monkeypatch, db_session):
    monkeypatch.setenv("DEBITO_CLOCK", "2027-01-04T12:00:00+00:00")
    session = db_session("payments")
    payments.register_creditor(session, A, load(CreditorIn, {
        "name": "Acme SAS", "creditor_id": "FR72ZZZ123456", "iban": "FR7630006000011234567890189"}))
    yield session


@pytest.fixture
def inbox(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def submitted(session, tmp_path):
    """Two submitted payments of 29,90 € due on 1 February 2027, and their outbox file."""
    instalments = [{"key": f"PL1:{n}", "plan_id": "PL1", "merchant_id": A, "mandate_id": "MD1",
                    "subscriber_id": "SB1", "sequence_no": n, "due_date": "2027-02-01", "amount": 2990,
                    "label": "Yoga", "is_last": False} for n in (1, 2)]
    created = collection.schedule_due(session, instalments, {"MD1": MANDATE})
    [submission] = collection.submit_due(session, date(2027, 1, 29), tmp_path / "outbox", Writer())
    session.commit()
    return created, submission.bank_file


def drop(inbox, name, content):
    (inbox / name).write_text(content, encoding="utf-8")


def run(session, inbox):
    return import_inbox(session, inbox, date(2027, 2, 1))


def test_reject_makes_the_payment_rejected_with_an_r_transaction(session, inbox, submitted):
    (first, second), outbox_file = submitted
    drop(inbox, "status.xml", pain002("ST1", outbox_file.message_id, (first.end_to_end_id, "AM04")))
    report = run(session, inbox)
    assert [p.id for p in report.rejected] == [first.id] and len(report.files) == 1
    assert (session.get(Payment, first.id).status, session.get(Payment, second.id).status) == (
        "rejected", "submitted")
    r_transaction = session.scalar(select(RTransaction))
    assert (r_transaction.type, r_transaction.reason_code, r_transaction.reason, r_transaction.retryable,
            r_transaction.status, r_transaction.amount) == ("reject", "AM04", "insufficient funds", True, "open", 2990)
    assert (inbox / "processed" / "status.xml").exists() and not (inbox / "status.xml").exists()
    page = page_data(payments.list_r_transactions_json(session, A, load(RTransactionFiltersIn,
                                                                         {"reason_code": "am04"})))
    assert [r["id"] for r in page["items"]] == [r_transaction.id]


def test_a_whole_file_rejected_rejects_each_of_its_payments(session, inbox, submitted):
    _, outbox_file = submitted
    drop(inbox, "status.xml", pain002("ST1", outbox_file.message_id, group_status="RJCT"))
    assert len(run(session, inbox).rejected) == 2


def test_credit_makes_the_payment_paid_and_books_the_ledger(session, inbox, submitted):
    (first, _), _ = submitted
    drop(inbox, "camt.xml", camt054("CA1", entry(first.end_to_end_id, 2990)))
    report = run(session, inbox)
    assert [p.id for p in report.paid] == [first.id] and session.get(Payment, first.id).status == "paid"
    ledger = session.scalar(select(LedgerEntry))
    assert (ledger.code, ledger.amount, ledger.date, ledger.payment_id, ledger.subscriber_name) == (
        "SDD", 2990, date(2027, 2, 1), first.id, "Jeanne Martin")


def test_return_after_paid_rejects_the_payment_and_debits_the_ledger(session, inbox, submitted):
    (first, second), _ = submitted
    drop(inbox, "a.xml", camt054("CA1", entry(first.end_to_end_id, 2990), entry(second.end_to_end_id, 2990)))
    run(session, inbox)
    drop(inbox, "b.xml", camt054("CA2", entry(first.end_to_end_id, 2990, "DBIT", code="MS02", day="2027-02-03"),
                                 entry(second.end_to_end_id, 2990, "DBIT", code="MD06", day="2027-02-05")))
    report = run(session, inbox)
    assert {p.id for p in report.rejected} == {first.id, second.id}
    assert session.get(Payment, first.id).status == "rejected"
    assert sorted((r.payment_id == first.id, r.type, r.reason_code) for r in report.r_transactions) == [
        (False, "refund", "MD06"), (True, "return", "MS02")]
    entries = session.scalars(select(LedgerEntry).order_by(LedgerEntry.date)).all()
    assert [(e.code, e.amount) for e in entries] == [("SDD", 2990), ("SDD", 2990), ("RET", -2990), ("REF", -2990)]


def test_unknown_end_to_end_id_and_foreign_currency_are_kept_unmatched(session, inbox, submitted):
    (first, _), _ = submitted
    drop(inbox, "camt.xml", camt054("CA1", entry("NOSUCHPAYMENT", 1500), entry(first.end_to_end_id, 2990,
                                                                               currency="CHF")))
    report = run(session, inbox)
    assert len(report.unmatched) == 2 and report.paid == []
    kept = payments.list_unmatched(session)
    reasons = sorted(json.loads(u.details)["reason"] for u in kept)
    assert reasons == ["currency CHF: Debito collects in EUR only", "no payment has this end-to-end id"]
    assert [u.end_to_end_id for u in payments.list_unmatched(session, A)] == [first.end_to_end_id]
    assert session.get(Payment, first.id).status == "submitted"


def test_the_same_file_twice_is_imported_once(session, inbox, submitted):
    (first, _), _ = submitted
    content = camt054("CA1", entry(first.end_to_end_id, 2990))
    drop(inbox, "camt.xml", content)
    run(session, inbox)
    drop(inbox, "camt-again.xml", content)
    report = run(session, inbox)
    assert report.files == [] and report.skipped == ["camt-again.xml"]
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 1
    assert session.scalar(select(func.count()).select_from(BankFile).where(BankFile.direction == "in")) == 1
    assert (inbox / "processed" / "camt-again.xml").read_text(encoding="utf-8") == content


@pytest.mark.parametrize("content", ["this is not XML", "<Document/>", "",
                                     '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>'])
def test_an_unreadable_file_goes_to_failed_with_its_reason(session, inbox, submitted, content):
    drop(inbox, "garbage.xml", content)
    report = run(session, inbox)
    assert report.files == [] and len(report.failed) == 1
    assert (inbox / "failed" / "garbage.xml").exists()
    assert (inbox / "failed" / "garbage.xml.reason.txt").read_text(encoding="utf-8").strip()
    assert session.scalar(select(func.count()).select_from(BankFile).where(BankFile.direction == "in")) == 0


def test_a_reject_then_a_replay_chain_is_shown_on_the_payment(session, inbox, submitted):
    (first, _), outbox_file = submitted
    drop(inbox, "status.xml", pain002("ST1", outbox_file.message_id, (first.end_to_end_id, "AM04")))
    run(session, inbox)
    again = collection.replay(session, A, first.id, MANDATE, as_of=date(2027, 2, 1))
    detail = payments.get_payment(session, A, again.id)
    assert [step["attempt"] for step in detail["replays"]] == [1, 2] and detail["replay_of"] == first.id
    assert payments.get_payment(session, A, first.id)["r_transactions"][0]["status"] == "replayed"


def test_the_sandbox_bank_answers_are_imported_end_to_end(session, tmp_path):
    """pain.008 from submit_due, answered by deploy/sandbox_bank, imported back (spec §4)."""
    from sandbox_bank.bank import run as bank_run

    outbox, inbox, state = tmp_path / "out", tmp_path / "in", tmp_path / "bank.json"
    ibans = {"MDOK": "FR7630006000011234567890189", "MDREJ": "FR7630006000010000000040116",
             "MDRET": "FR7630006000010000000060292", "MDREF": "FR7630006000010000000060680"}
    mandates = {mandate_id: {**MANDATE, "id": mandate_id, "reference": f"DBT-{mandate_id}", "iban": iban,
                             "bic": None} for mandate_id, iban in ibans.items()}
    instalments = [{"key": f"PL{m}:1", "plan_id": f"PL{m}", "merchant_id": A, "mandate_id": m,
                    "subscriber_id": "SB1", "sequence_no": 1, "due_date": "2027-02-01", "amount": 2990,
                    "label": "Yoga", "is_last": False} for m in ibans]
    created = {p.mandate_id: p.id for p in collection.schedule_due(session, instalments, mandates)}
    collection.submit_due(session, date(2027, 1, 29), outbox)
    session.commit()
    for day in (date(2027, 2, 1), date(2027, 2, 3), date(2027, 2, 8)):
        bank_run(day, outbox, inbox, state)
        import_inbox(session, inbox, day)
    status = {m: session.get(Payment, pid).status for m, pid in created.items()}
    assert status == {"MDOK": "paid", "MDREJ": "rejected", "MDRET": "rejected", "MDREF": "rejected"}
    kinds = sorted((r.type, r.reason_code) for r in session.scalars(select(RTransaction)))
    assert kinds == [("refund", "MD06"), ("reject", "AM04"), ("return", "MS02")]
    balance = session.scalar(select(func.sum(LedgerEntry.amount)))
    assert balance == 2990 and session.scalar(select(func.count()).select_from(UnmatchedEntry)) == 0
    assert not (inbox / "failed").exists() and not list(inbox.glob("*.xml"))


def test_a_rejected_payment_information_block_rejects_its_payments(session, inbox, submitted):
    (first, _), outbox_file = submitted  # block 1 holds the FRST debit, block 2 the RCUR one
    content = pain002("ST1", outbox_file.message_id).replace(
        "</OrgnlPmtInfId>", "</OrgnlPmtInfId><PmtInfSts>RJCT</PmtInfSts>"
        "<StsRsnInf><Rsn><Cd>FF01</Cd></Rsn></StsRsnInf>")
    drop(inbox, "status.xml", content)
    report = run(session, inbox)
    assert [p.id for p in report.rejected] == [first.id]
    assert [r.reason_code for r in report.r_transactions] == ["FF01"]
