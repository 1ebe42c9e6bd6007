"""The ledger of the payments service on PostgreSQL (a rolled-back session): balance figures with a reserve
counted in TARGET2 business days, statements that always reconcile, payouts
limited to available funds, written as XSD-valid pain.001 files, paid when the
bank's camt.054 debit comes back, never sent twice across a crash."""
import random
from datetime import date, timedelta

import pytest
from lxml import etree
from sqlalchemy import func, select

from common.errors import Invalid
from payments import collection, ledger, payments
from payments.inbox import import_inbox
from payments.iso20022 import xsd
from payments.models import BankFile, LedgerEntry, Payout, RTransaction
from common.schemas import load
from contracts.payments import CreditorIn, PayoutIn, StatementIn

A, B = "MEaaaa", "MEbbbb"
PROFILE = {"name": "Acme SAS", "creditor_id": "FR72ZZZ123456", "iban": "FR7630006000011234567890189"}
SEQUENCE = 0


@pytest.fixture
def session(monkeypatch, db_session):
    monkeypatch.setenv("DEBITO_CLOCK", "2027-03-01T12:00:00+00:00")
    session = db_session("payments")
    payments.register_creditor(session, A, load(CreditorIn, PROFILE))
    payments.register_creditor(session, B, load(CreditorIn, {**PROFILE, "name": "Bravo"}))
    session.commit()
    yield session


def book(session, on, amount, code="SDD", merchant=A, value_date=None):
    global SEQUENCE
    SEQUENCE += 1
    session.add(LedgerEntry(id=f"LE{SEQUENCE:08d}", merchant_id=merchant, date=on, value_date=value_date or on,
                            code=code, reference=f"PM{SEQUENCE}", subscriber_name="Jeanne Martin",
                            label="Yoga", amount=amount, created_at=ledger.clock.now()))
    session.flush()


def camt054_debit(message_id, e2e, cents, day):
    amount = f'<Amt Ccy="EUR">{cents // 100}.{cents % 100:02d}</Amt>'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><BkToCstmrDbtCdtNtfctn>'
        f"<GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2027-03-02T08:00:00</CreDtTm></GrpHdr>"
        "<Ntfctn><Id>N1</Id><CreDtTm>2027-03-02T08:00:00</CreDtTm>"
        "<Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id></Acct>"
        f"<Ntry>{amount}<CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>{day}</Dt></BookgDt>"
        f"<ValDt><Dt>{day}</Dt></ValDt>"
        "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
        f"<NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs>"
        f"<AmtDtls><TxAmt>{amount}</TxAmt></AmtDtls></TxDtls></NtryDtls></Ntry>"
        "</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>")


# --- balance ----------------------------------------------------------------

def test_credits_younger_than_the_availability_delay_are_reserved_in_business_days(session):
    book(session, date(2027, 2, 1), 10000)  # released long ago
    book(session, date(2027, 2, 22), 2000)  # Monday: 5 business days later is Monday 1 March
    book(session, date(2027, 2, 23), 3000)  # Tuesday: still reserved on 1 March
    book(session, date(2027, 2, 26), -500, code="RET")  # a debit is never reserved
    book(session, date(2027, 3, 5), 7000)  # not yet valued on 1 March
    book(session, date(2027, 2, 24), 999, merchant=B)
    figures = ledger.balance(session, A, date(2027, 3, 1))
    assert figures == {"balance": 14500, "available": 11500, "reserved": 3000, "transfers_in_progress": 0,
                       "refunds_in_progress": 0, "currency": "EUR", "as_of": "2027-03-01"}


def test_the_reserve_skips_weekends_and_target2_holidays(session):
    book(session, date(2027, 3, 24), 4000)  # Wednesday before Easter (Good Friday 26 March, Monday 29)
    # 5 business days after Wed 24 March: Thu 25, Tue 30, Wed 31, Thu 1, Fri 2 April
    assert ledger.balance(session, A, date(2027, 4, 1))["reserved"] == 4000
    assert ledger.balance(session, A, date(2027, 4, 2))["reserved"] == 0
    payments.register_creditor(session, A, {"availability_delay_days": 0})
    assert ledger.balance(session, A, date(2027, 3, 24))["available"] == 4000


def test_payouts_in_progress_and_open_refunds_are_shown(session):
    book(session, date(2027, 1, 4), 50000)
    session.add(Payout(id="PO1", merchant_id=A, amount=1000, currency="EUR", status="sent", end_to_end_id="PO1",
                       creditor_name="Acme", creditor_iban=PROFILE["iban"], execution_date=date(2027, 2, 1),
                       created_at=ledger.clock.now()))
    session.add(Payout(id="PO2", merchant_id=A, amount=9000, currency="EUR", status="paid", end_to_end_id="PO2",
                       creditor_name="Acme", creditor_iban=PROFILE["iban"], execution_date=date(2027, 2, 1),
                       created_at=ledger.clock.now()))
    for number, (kind, status) in enumerate((("refund", "open"), ("refund", "closed"), ("return", "open"))):
        session.add(RTransaction(id=f"RT{number}", merchant_id=A, payment_id="PM1", type=kind, reason_code="MD06",
                                 reason="refund", amount=700, received_on=date(2027, 2, 1), retryable=False,
                                 status=status, created_at=ledger.clock.now()))
    figures = ledger.balance(session, A, date(2027, 3, 1))
    assert (figures["transfers_in_progress"], figures["refunds_in_progress"]) == (1000, 700)
    assert figures["available"] == 49000


# --- statement --------------------------------------------------------------

def test_statement_reconciles_for_random_periods(session):
    rng = random.Random(20270301)
    start = date(2026, 1, 1)
    for _ in range(200):
        amount = rng.choice([1, -1, 1, 1]) * rng.randint(1, 50000)
        code = "SDD" if amount > 0 else rng.choice(["RET", "REF", "PAYOUT", "FEE"])
        book(session, start + timedelta(days=rng.randint(0, 400)), amount, code=code)
    book(session, date(2026, 6, 1), 123, merchant=B)
    total = session.scalar(select(func.sum(LedgerEntry.amount)).where(LedgerEntry.merchant_id == A))
    for _ in range(40):
        first = start + timedelta(days=rng.randint(-10, 410))
        last = first + timedelta(days=rng.randint(0, 120))
        answer = ledger.statement(session, A, first, last)
        amounts = [entry["amount"] for entry in answer["entries"]]
        assert answer["closing_balance"] == answer["opening_balance"] + sum(amounts)
        assert answer["closing_balance"] == ledger.opening_balance(session, A, last + timedelta(days=1))
        running = answer["opening_balance"]
        for entry in answer["entries"]:
            running += entry["amount"]
            assert entry["balance"] == running and first.isoformat() <= entry["date"] <= last.isoformat()
        assert [e["date"] for e in answer["entries"]] == sorted(e["date"] for e in answer["entries"])
    whole = ledger.statement(session, A, date(2025, 1, 1), date(2028, 1, 1))
    assert whole["opening_balance"] == 0 and whole["closing_balance"] == total and len(whole["entries"]) == 200


def test_statement_entries_carry_what_the_merchant_reads(session):
    book(session, date(2027, 2, 1), 2990, value_date=date(2027, 2, 2))
    [entry] = ledger.statement(session, A, date(2027, 2, 1), date(2027, 2, 1))["entries"]
    assert entry == {"date": "2027-02-01", "value_date": "2027-02-02", "code": "SDD", "reference": entry["reference"],
                     "subscriber": "Jeanne Martin", "label": "Yoga", "amount": 2990, "balance": 2990}


def test_a_statement_from_after_to_is_refused_on_from(session):
    with pytest.raises(Invalid) as error:
        ledger.statement(session, A, date(2027, 3, 2), date(2027, 3, 1))
    assert "from" in error.value.fields
    with pytest.raises(Invalid) as error:
        load(StatementIn, {"from": "2027-03-02", "to": "2027-03-01"})
    assert "from" in error.value.fields


# --- payouts ----------------------------------------------------------------

@pytest.mark.parametrize("amount", [0, -100, 10.5, "100", True])
def test_a_payout_of_zero_negative_or_not_whole_cents_is_refused(session, tmp_path, amount):
    book(session, date(2027, 1, 4), 50000)
    with pytest.raises(Invalid) as error:
        ledger.request_payout(session, A, amount, date(2027, 3, 1), tmp_path)
    assert "amount" in error.value.fields
    if not isinstance(amount, bool):
        with pytest.raises(Invalid):
            load(PayoutIn, {"amount": amount})
    assert session.scalar(select(func.count()).select_from(Payout)) == 0 and not list(tmp_path.iterdir())


def test_a_payout_above_available_is_refused_naming_the_available_figure(session, tmp_path):
    book(session, date(2027, 1, 4), 50000)
    book(session, date(2027, 2, 26), 9000)  # reserved on 1 March
    with pytest.raises(Invalid) as error:
        ledger.request_payout(session, A, 50001, date(2027, 3, 1), tmp_path)
    assert "50000" in error.value.fields["amount"]
    assert session.scalar(select(func.count()).select_from(Payout)) == 0 and not list(tmp_path.iterdir())


def test_a_payout_within_available_writes_a_valid_pain001_and_a_second_beyond_what_remains_is_refused(
        session, tmp_path):
    book(session, date(2027, 1, 4), 50000)
    payout = ledger.request_payout(session, A, 30000, date(2027, 3, 1), tmp_path)
    assert payout.id.startswith("PO") and payout.status == "sent" and payout.end_to_end_id == payout.id
    [path] = tmp_path.glob("*.xml")
    xsd.validate_file(path, "pain.001.001.03")
    root = etree.parse(str(path)).getroot()
    ns = {"p": root.nsmap[None]}
    assert root.findtext(".//p:CdtTrfTxInf/p:PmtId/p:EndToEndId", namespaces=ns) == payout.id
    assert root.findtext(".//p:CdtTrfTxInf/p:Amt/p:InstdAmt", namespaces=ns) == "300.00"
    assert root.findtext(".//p:CdtrAcct/p:Id/p:IBAN", namespaces=ns) == PROFILE["iban"]
    assert root.findtext(".//p:ReqdExctnDt", namespaces=ns) == "2027-03-01"
    assert session.scalar(select(BankFile.status).where(BankFile.kind == "pain.001")) == "written"
    figures = ledger.balance(session, A, date(2027, 3, 1))
    assert (figures["transfers_in_progress"], figures["available"], figures["balance"]) == (30000, 20000, 50000)
    with pytest.raises(Invalid) as error:
        ledger.request_payout(session, A, 20001, date(2027, 3, 1), tmp_path)
    assert "20000" in error.value.fields["amount"]
    ledger.request_payout(session, A, 20000, date(2027, 3, 1), tmp_path)
    assert ledger.balance(session, A, date(2027, 3, 1))["available"] == 0
    page = ledger.list_payouts(session, A, {"limit": 1})
    assert [p.amount for p in page.items] == [20000] and page.next_cursor
    rest = ledger.list_payouts(session, A, {"limit": 1, "cursor": page.next_cursor})
    assert [p.amount for p in rest.items] == [30000] and rest.next_cursor is None
    assert ledger.list_payouts(session, B, {"limit": 10}).items == []


def test_the_bank_debit_marks_the_payout_paid_and_books_it(session, tmp_path):
    book(session, date(2027, 1, 4), 50000)
    payout = ledger.request_payout(session, A, 12345, date(2027, 3, 1), tmp_path / "out")
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "camt.xml").write_text(camt054_debit("CA1", payout.end_to_end_id, 12345, "2027-03-02"))
    report = import_inbox(session, inbox, date(2027, 3, 2))
    assert [p.id for p in report.payouts_paid] == [payout.id] and report.unmatched == []
    assert session.get(Payout, payout.id).status == "paid" and payout.paid_on == date(2027, 3, 2)
    entry = session.scalar(select(LedgerEntry).where(LedgerEntry.code == "PAYOUT"))
    assert (entry.amount, entry.date, entry.reference) == (-12345, date(2027, 3, 2), payout.id)
    figures = ledger.balance(session, A, date(2027, 3, 2))
    assert (figures["balance"], figures["transfers_in_progress"], figures["available"]) == (37655, 0, 37655)
    (inbox / "again.xml").write_text(camt054_debit("CA2", payout.end_to_end_id, 12345, "2027-03-02"))
    again = import_inbox(session, inbox, date(2027, 3, 2))
    assert again.payouts_paid == [] and len(again.unmatched) == 1  # a second debit is kept aside
    assert session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.code == "PAYOUT")) == 1


def test_the_sandbox_bank_pays_a_payout_the_next_business_day(session, tmp_path):
    from sandbox_bank.bank import run as bank_run

    book(session, date(2027, 1, 4), 50000)
    outbox, inbox, state = tmp_path / "out", tmp_path / "in", tmp_path / "bank.json"
    payout = ledger.request_payout(session, A, 10000, date(2027, 3, 5), outbox)  # a Friday
    for day in (date(2027, 3, 5), date(2027, 3, 8)):
        bank_run(day, outbox, inbox, state)
        import_inbox(session, inbox, day)
    assert session.get(Payout, payout.id).status == "paid" and payout.paid_on == date(2027, 3, 8)
    assert ledger.balance(session, A, date(2027, 3, 8))["balance"] == 40000


def test_a_crash_while_writing_the_pain001_never_sends_a_payout_twice(session, tmp_path):
    book(session, date(2027, 1, 4), 50000)

    def crashing_writer(path, **_):
        raise OSError("disk full")

    with pytest.raises(OSError):
        ledger.request_payout(session, A, 30000, date(2027, 3, 1), tmp_path, crashing_writer)
    session.rollback()
    payout = session.scalar(select(Payout))
    assert payout.status == "pending" and not list(tmp_path.glob("*.xml"))
    assert ledger.balance(session, A, date(2027, 3, 1))["transfers_in_progress"] == 30000
    with pytest.raises(Invalid):  # the claimed money is spoken for
        ledger.request_payout(session, A, 30000, date(2027, 3, 1), tmp_path)
    assert [p.id for p in ledger.write_unwritten_payouts(session, tmp_path)] == [payout.id]
    assert payout.status == "sent" and len(list(tmp_path.glob("*.xml"))) == 1
    assert ledger.write_unwritten_payouts(session, tmp_path) == []
    assert session.scalar(select(func.count()).select_from(Payout)) == 1
    assert session.scalar(select(func.count()).select_from(BankFile)) == 1


def test_the_rpcs_answer_balance_statement_and_payouts_and_announce_them(monkeypatch, tmp_path, db_session):
    from unittest.mock import Mock

    from nameko.testing.services import worker_factory
    from payments.service import PaymentsService

    monkeypatch.setenv("DEBITO_CLOCK", "2027-03-01T12:00:00+00:00")
    monkeypatch.setenv("BANK_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("BANK_INBOX", str(tmp_path / "inbox"))
    session = db_session("payments", expire_on_commit=False)
    worker = worker_factory(PaymentsService, db=session, plans=Mock(), mandates=Mock())
    worker.register_creditor(A, PROFILE)
    book(session, date(2027, 2, 1), 5000)
    session.commit()
    assert worker.get_balance(A)["available"] == 5000
    assert worker.get_balance(A, "2027-01-31")["balance"] == 0
    with pytest.raises(Invalid) as error:
        worker.request_payout(A, {"amount": 5001})
    assert "amount" in error.value.fields
    payout = worker.request_payout(A, {"amount": 5000})
    assert payout["status"] == "sent" and payout["id"].startswith("PO")
    assert [c.args[0] for c in worker.dispatch.call_args_list] == ["payout_requested"]
    assert worker.list_payouts(A, {"status": "sent"})["items"][0]["id"] == payout["id"]
    with pytest.raises(Invalid):
        worker.list_payouts(A, {"status": "lost"})
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "camt.xml").write_text(camt054_debit("CA9", payout["end_to_end_id"], 5000, "2027-03-02"))
    worker.import_inbox("2027-03-02")
    assert worker.dispatch.call_args_list[-1].args[0] == "payout_paid"
    statement = worker.get_statement(A, {"from": "2027-02-01", "to": "2027-03-31"})
    assert [(e["code"], e["amount"], e["balance"]) for e in statement["entries"]] == [
        ("SDD", 5000, 5000), ("PAYOUT", -5000, 0)]
    assert worker.get_statement(A, {"to": "2027-02-28"})["from"] == "2027-02-01"
    with pytest.raises(Invalid) as error:
        worker.get_statement(A, {"from": "2027-03-02", "to": "2027-03-01"})
    assert "from" in error.value.fields
    session.close()
