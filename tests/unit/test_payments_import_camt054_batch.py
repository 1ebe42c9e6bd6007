"""A camt.054 imported in one pass (payments matched in one query, R-transactions and ledger
entries inserted in bulk) does exactly what the entry-by-entry import did, case by case:
credits, returns and refunds, a credit then a return of the same debit, the same return
twice, amounts that differ, foreign currency, unknown end-to-end ids, another merchant's
payment, a payout, an entry without details. On SQLite and on the real PostgreSQL."""
import json
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from payments import inbox as bank_inbox
from payments.inbox import import_inbox, read_bank_file
from payments.models import (BankFile, Creditor, LedgerEntry, Payment, Payout, RTransaction,
                             UnmatchedEntry)

A, B = "MEaaaa", "MEbbbb"
CLOCK = "2027-02-03T12:00:00+00:00"
BOOKED = date(2027, 2, 3)
# name: (merchant, status, amount)
PAYMENTS = {
    "credited": (A, "submitted", 2990), "short_credit": (A, "submitted", 2990),
    "returned_paid": (A, "paid", 1500), "returned_submitted": (A, "submitted", 1200),
    "refunded": (A, "paid", 4000), "returned_less": (A, "paid", 3000), "returned_twice": (A, "submitted", 1000),
    "credited_then_returned": (A, "submitted", 800), "scheduled": (A, "scheduled", 700),
    "cancelled": (A, "cancelled", 650), "credited_twice": (A, "paid", 500), "no_reason": (A, "submitted", 900),
    "in_chf": (A, "submitted", 600), "reversed_credit": (A, "paid", 650), "other_merchant": (B, "submitted", 700),
    "untouched": (A, "submitted", 1111),
}


def entry(e2e, cents, credit_debit="CRDT", reversal=False, code=None, currency="EUR", day="2027-02-03",
          value_day=None, details=True, tx_cents=None):
    amount = f'<Amt Ccy="{currency}">{cents // 100}.{cents % 100:02d}</Amt>'
    tx_cents = cents if tx_cents is None else tx_cents
    tx_amount = f'<Amt Ccy="{currency}">{tx_cents // 100}.{tx_cents % 100:02d}</Amt>'
    returned = f"<RtrInf><Rsn><Cd>{code}</Cd></Rsn></RtrInf>" if code else ""
    detail = (f"<NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs>"
              f"<AmtDtls><TxAmt>{tx_amount}</TxAmt></AmtDtls>{returned}</TxDtls></NtryDtls>") if details else (
              "<NtryDtls><Btch><NbOfTxs>3</NbOfTxs></Btch></NtryDtls>")
    return (f"<Ntry>{amount}<CdtDbtInd>{credit_debit}</CdtDbtInd><RvslInd>{str(reversal).lower()}</RvslInd>"
            f"<Sts>BOOK</Sts><BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{value_day or day}</Dt></ValDt>"
            "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RDDT</Cd><SubFmlyCd>ESDD</SubFmlyCd></Fmly></Domn></BkTxCd>"
            f"{detail}</Ntry>")


def camt054(message_id, *entries):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><BkToCstmrDbtCdtNtfctn>'
        f"<GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2027-02-03T05:00:00</CreDtTm></GrpHdr>"
        "<Ntfctn><Id>N1</Id><CreDtTm>2027-02-03T05:00:00</CreDtTm>"
        "<Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id></Acct>"
        f"{''.join(entries)}</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>")


@pytest.fixture
def session(monkeypatch, db_session):
    monkeypatch.setenv("DEBITO_CLOCK", CLOCK)
    return db_session("payments")


@pytest.fixture
def ids(session):
    """The payments of PAYMENTS (their ids by name) and a payout sent, committed."""
    created = datetime(2027, 1, 10, tzinfo=timezone.utc)
    for merchant in (A, B):
        session.add(Creditor(merchant_id=merchant, name=f"Creditor {merchant}", creditor_id="FR72ZZZ123456",
                             iban="FR7630006000011234567890189", bic="AGRIFRPP", automatic_retry=False,
                             first_debit_as_rcur=False, prenotification_days=14, availability_delay_days=5,
                             updated_at=created))
    names = {}
    for number, (name, (merchant, status, amount)) in enumerate(PAYMENTS.items()):
        payment_id = f"PM{number:04d}{name[:10]}"
        names[name] = payment_id
        session.add(Payment(
            id=payment_id, merchant_id=merchant, plan_id="PL1", instalment_key=f"PL1:{number}", sequence_no=number,
            mandate_id="MD1", subscriber_id="SB1", mandate_reference="DBT-MD1", mandate_signed_on=date(2026, 12, 1),
            debtor_name=f"Jeanne Martin {number}", iban="FR7630006000011234567890189", bic="AGRIFRPP",
            amount=amount, currency="EUR", label=f"Yoga {number}", due_date=date(2027, 2, 1), sequence_type="RCUR",
            end_to_end_id=payment_id, status=status, attempt=1, automatic=False, bank_file_id="BFOUT1",
            created_at=created, submitted_at=created if status in ("submitted", "paid") else None,
            paid_at=created if status == "paid" else None,
            cancelled_at=created if status == "cancelled" else None))
    for payout_id, amount in (("PO1", 10_000), ("PO2", 20_000)):
        session.add(Payout(id=payout_id, merchant_id=A, amount=amount, currency="EUR", status="sent",
                           end_to_end_id=payout_id, creditor_name="Acme", creditor_iban="FR7630006000011234567890189",
                           execution_date=date(2027, 2, 2), created_at=created, sent_at=created))
    session.commit()
    return names


def the_file(ids):
    return camt054(
        "CAMT-BATCH-1",
        entry(ids["credited"], 2990),
        entry(ids["short_credit"], 2500),
        entry(ids["returned_paid"], 1500, "DBIT", code="AM04", value_day="2027-02-01"),
        entry(ids["returned_submitted"], 1200, "DBIT", reversal=True, code="MS02"),
        entry(ids["refunded"], 4000, "DBIT", code="MD06", day="2027-02-02"),
        entry(ids["returned_less"], 3000, "DBIT", code="ac04", tx_cents=2800),
        entry(ids["returned_twice"], 1000, "DBIT", code="AM04"),
        entry(ids["returned_twice"], 1000, "DBIT", code="AM04"),
        entry(ids["credited_then_returned"], 800),
        entry(ids["credited_then_returned"], 800, "DBIT", code="MS03"),
        entry(ids["scheduled"], 700, "DBIT", code="AM04"),
        entry(ids["cancelled"], 650),
        entry(ids["credited_twice"], 500),
        entry(ids["no_reason"], 900, "DBIT"),
        entry(ids["in_chf"], 600, currency="CHF"),
        entry(ids["reversed_credit"], 650, "CRDT", reversal=True, code="XX99"),
        entry(ids["other_merchant"], 700, "DBIT", code="MS03"),
        entry("NOSUCHPAYMENT", 1500),
        entry("NOSUCHEITHER", 1500, "DBIT", code="AM04"),
        entry("PO1", 10_000, "DBIT"),
        entry("PO2", 19_999, "DBIT"),
        entry(None, 9999, details=False),
    )


@pytest.fixture(params=["whole", "entry by entry"])
def chunks(request, monkeypatch):
    """The file applied in one chunk, or read and applied one entry at a time (streamed)."""
    if request.param == "entry by entry":
        monkeypatch.setattr(bank_inbox, "CHUNK", 1)
    return request.param


def test_a_file_of_every_case_is_imported_as_the_entry_by_entry_import_did(session, ids, tmp_path, chunks):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "camt.xml").write_text(the_file(ids), encoding="utf-8")
    report = import_inbox(session, inbox, date(2027, 2, 4))
    name = {payment_id: key for key, payment_id in ids.items()}

    assert report.failed == [] and len(report.files) == 1 and (inbox / "processed" / "camt.xml").exists()
    [bank_file] = session.scalars(select(BankFile).where(BankFile.direction == "in")).all()
    assert (bank_file.kind, bank_file.message_id, bank_file.status) == ("camt.054", "CAMT-BATCH-1", "imported")
    assert [name[p.id] for p in report.paid] == ["credited", "credited_then_returned"]
    assert [name[p.id] for p in report.rejected] == [
        "returned_paid", "returned_submitted", "refunded", "returned_less", "returned_twice",
        "credited_then_returned", "reversed_credit", "other_merchant"]
    assert [p.status for p in report.rejected] == ["rejected"] * 8
    assert [(name[r.payment_id], r.merchant_id, r.type, r.reason_code, r.reason, r.amount, r.received_on,
             r.retryable, r.status, r.bank_file_id) for r in report.r_transactions] == [
        ("returned_paid", A, "return", "AM04", "insufficient funds", 1500, BOOKED, True, "open", bank_file.id),
        ("returned_submitted", A, "return", "MS02", "refused by debtor", 1200, BOOKED, False, "open", bank_file.id),
        ("refunded", A, "refund", "MD06", "refund requested by debtor", 4000, date(2027, 2, 2), False, "open",
         bank_file.id),
        ("returned_less", A, "return", "AC04", "account closed", 2800, BOOKED, False, "open", bank_file.id),
        ("returned_twice", A, "return", "AM04", "insufficient funds", 1000, BOOKED, True, "open", bank_file.id),
        ("credited_then_returned", A, "return", "MS03", "reason not specified", 800, BOOKED, True, "open",
         bank_file.id),
        ("reversed_credit", A, "return", "XX99", "reason code unknown to Debito", 650, BOOKED, False, "open",
         bank_file.id),
        ("other_merchant", B, "return", "MS03", "reason not specified", 700, BOOKED, True, "open", bank_file.id),
    ]
    stored = session.scalars(select(RTransaction).order_by(RTransaction.id)).all()
    assert sorted((r.id, r.payment_id, r.amount, r.reason_code) for r in stored) == sorted(
        (r.id, r.payment_id, r.amount, r.reason_code) for r in report.r_transactions)
    assert [p.id for p in report.payouts_paid] == ["PO1"]
    assert session.get(Payout, "PO1").status == "paid" and session.get(Payout, "PO2").status == "sent"

    entries = session.scalars(select(LedgerEntry)).all()
    assert sorted((e.merchant_id, e.code, e.reference, e.payment_id and name[e.payment_id], e.subscriber_name,
                   e.label, e.amount, e.date, e.value_date) for e in entries) == sorted([
        (A, "SDD", ids["credited"], "credited", "Jeanne Martin 0", "Yoga 0", 2990, BOOKED, BOOKED),
        (A, "RET", ids["returned_paid"], "returned_paid", "Jeanne Martin 2", "Yoga 2", -1500, BOOKED,
         date(2027, 2, 1)),
        (A, "REF", ids["refunded"], "refunded", "Jeanne Martin 4", "Yoga 4", -4000, date(2027, 2, 2),
         date(2027, 2, 2)),
        (A, "RET", ids["returned_less"], "returned_less", "Jeanne Martin 5", "Yoga 5", -2800, BOOKED, BOOKED),
        (A, "SDD", ids["credited_then_returned"], "credited_then_returned", "Jeanne Martin 7", "Yoga 7", 800,
         BOOKED, BOOKED),
        (A, "RET", ids["credited_then_returned"], "credited_then_returned", "Jeanne Martin 7", "Yoga 7", -800,
         BOOKED, BOOKED),
        (A, "RET", ids["reversed_credit"], "reversed_credit", "Jeanne Martin 13", "Yoga 13", -650, BOOKED, BOOKED),
        (A, "PAYOUT", "PO1", None, None, "Payout to FR7630006000011234567890189", -10_000, BOOKED, BOOKED),
    ])

    unmatched = [(u.merchant_id, u.end_to_end_id and name.get(u.end_to_end_id, u.end_to_end_id), u.amount,
                  json.loads(u.details)["reason"]) for u in report.unmatched]
    assert unmatched == [
        (A, "short_credit", 2500, "credited 2500 cents, the payment is 2990"),
        (A, "returned_twice", 1000, "return of a payment that is rejected"),
        (A, "scheduled", 700, "return of a payment that is scheduled"),
        (A, "cancelled", 650, "credit for a payment that is cancelled"),
        (A, "credited_twice", 500, "credit for a payment that is paid"),
        (A, "no_reason", 900, "a debit without a return reason"),
        (A, "in_chf", 600, "currency CHF: Debito collects in EUR only"),
        (None, "NOSUCHPAYMENT", 1500, "no payment has this end-to-end id"),
        (None, "NOSUCHEITHER", 1500, "no payment has this end-to-end id"),
        (A, "PO2", 19_999, "debited 19999 cents, the payout is 20000"),
        (None, None, 9999, "no payment has this end-to-end id"),
    ]
    assert session.scalars(select(UnmatchedEntry.id)).all().__len__() == 11
    details = json.loads(report.unmatched[0].details)["entry"]
    assert (details["end_to_end_id"], details["amount"], details["booking_date"], details["credit_debit"]) == (
        ids["short_credit"], 2500, "2027-02-03", "CRDT")

    session.expire_all()
    status = {key: session.get(Payment, payment_id).status for key, payment_id in ids.items()}
    assert status == {
        "credited": "paid", "short_credit": "submitted", "returned_paid": "rejected",
        "returned_submitted": "rejected", "refunded": "rejected", "returned_less": "rejected",
        "returned_twice": "rejected", "credited_then_returned": "rejected", "scheduled": "scheduled",
        "cancelled": "cancelled", "credited_twice": "paid", "no_reason": "submitted", "in_chf": "submitted",
        "reversed_credit": "rejected", "other_merchant": "rejected", "untouched": "submitted"}
    now = datetime.fromisoformat(CLOCK)
    stamps = {key: session.get(Payment, payment_id) for key, payment_id in ids.items()}
    assert {key for key, p in stamps.items() if p.rejected_at is not None} == {
        key for key, value in status.items() if value == "rejected"}
    assert all(p.rejected_at.replace(tzinfo=p.rejected_at.tzinfo or timezone.utc) == now
               for p in stamps.values() if p.rejected_at)
    assert stamps["credited"].paid_at.replace(tzinfo=timezone.utc) == now
    assert stamps["credited_then_returned"].paid_at is not None
    assert stamps["credited_twice"].paid_at.replace(tzinfo=timezone.utc) == datetime(2027, 1, 10, tzinfo=timezone.utc)


def test_the_same_file_again_changes_nothing(session, ids, tmp_path, chunks):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    content = the_file(ids)
    (inbox / "a.xml").write_text(content, encoding="utf-8")
    import_inbox(session, inbox, date(2027, 2, 4))
    counts = [len(session.scalars(select(table)).all()) for table in (RTransaction, LedgerEntry, UnmatchedEntry)]
    (inbox / "b.xml").write_text(content, encoding="utf-8")
    report = import_inbox(session, inbox, date(2027, 2, 4))
    assert report.skipped == ["b.xml"] and report.rejected == [] and report.r_transactions == []
    assert [len(session.scalars(select(table)).all()) for table in (RTransaction, LedgerEntry, UnmatchedEntry)] \
        == counts == [8, 8, 11]


def test_events_of_the_import_read_the_payments_as_imported(session, ids, tmp_path):
    """What the service builds its events from after the commit: each payment and R-transaction."""
    from payments import events

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "camt.xml").write_text(the_file(ids), encoding="utf-8")
    report = import_inbox(session, inbox, date(2027, 2, 4))
    by_id = {payment.id: payment for payment in report.rejected}
    rejected = [events.payment_event(payment) for payment in report.rejected]
    received = [events.r_transaction_received(r, by_id[r.payment_id]) for r in report.r_transactions]
    assert {event["status"] for event in rejected} == {"rejected"}
    assert [event["merchant_id"] for event in rejected].count(B) == 1
    assert [(event["payment_id"], event["reason_code"], event["amount"]) for event in received][:2] == [
        (ids["returned_paid"], "AM04", 1500), (ids["returned_submitted"], "MS02", 1200)]
    assert all(event["at"] for event in rejected)


def test_texts_with_quotes_commas_and_empty_or_missing_labels_are_written_as_they_are(session, ids, tmp_path):
    """On PostgreSQL the rows go through CSV COPY: a missing label stays NULL, an empty one ''."""
    named = {"returned_paid": (None, 'Zoë "Zizou" O\'Brien, Jr.'), "refunded": ("", "Łukasz\tNowak\\n")}
    for key, (label, name) in named.items():
        payment = session.get(Payment, ids[key])
        payment.label, payment.debtor_name = label, name
    session.commit()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "camt.xml").write_text(camt054("CAMT-TEXTS", entry(ids["returned_paid"], 1500, "DBIT", code="AM04"),
                                            entry(ids["refunded"], 4000, "DBIT", code="MD06")), encoding="utf-8")
    import_inbox(session, inbox, date(2027, 2, 4))
    entries = {e.payment_id: e for e in session.scalars(select(LedgerEntry))}
    for key, (label, name) in named.items():
        assert (entries[ids[key]].label, entries[ids[key]].subscriber_name) == (label, name)
    assert {r.reason for r in session.scalars(select(RTransaction))} == {"insufficient funds",
                                                                        "refund requested by debtor"}


@pytest.mark.parametrize("broken", ["bad amount at the end", "truncated", "entry without amount"])
def test_a_file_refused_after_its_first_chunks_were_applied_leaves_nothing(session, ids, tmp_path, monkeypatch,
                                                                           broken):
    monkeypatch.setattr(bank_inbox, "CHUNK", 1)
    content = the_file(ids)
    if broken == "bad amount at the end":
        last = content.rindex("<Amt ")
        start, end = content.index(">", last) + 1, content.index("</Amt>", last)
        content = content[:start] + "1.005" + content[end:]  # a tenth of a cent, in the last entry
    elif broken == "truncated":
        content = content[:content.rindex("</Ntry>")]
    else:
        last = content.rindex("<Amt ")
        content = content[:last] + content[content.index("</Amt>", last) + len("</Amt>"):]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "camt.xml").write_text(content, encoding="utf-8")
    with pytest.raises(Exception) as refused:  # what the whole file read at once says
        read_bank_file(inbox / "camt.xml")
    report = import_inbox(session, inbox, date(2027, 2, 4))
    assert report.files == [] and report.rejected == [] and report.paid == [] and report.unmatched == []
    assert report.failed == [("camt.xml", refused.value.reason)]
    assert (inbox / "failed" / "camt.xml").exists()
    assert (inbox / "failed" / "camt.xml.reason.txt").read_text(encoding="utf-8") == refused.value.reason + "\n"
    session.expire_all()
    assert session.scalars(select(BankFile).where(BankFile.direction == "in")).all() == []
    for table in (RTransaction, LedgerEntry, UnmatchedEntry):
        assert session.scalars(select(table)).all() == []
    assert {key: session.get(Payment, payment_id).status for key, payment_id in ids.items()} == {
        key: status for key, (_, status, _) in PAYMENTS.items()}


def test_a_pending_credit_changes_nothing_and_the_payment_is_paid_once_the_bank_books_it(session, ids, tmp_path):
    """The sandbox bank credits FR7630006000010000000080371 PDNG on the due date, BOOK a
    business day later (spec §4): the payment is paid on the second notification only."""
    from common.calendar import add_business_days
    from payments.iso20022.pain008 import build_pain008_file
    from sandbox_bank.bank import PENDING_FIRST, run

    payment = session.get(Payment, ids["credited"])
    due, outbox, inbox, state = payment.due_date, tmp_path / "outbox", tmp_path / "inbox", tmp_path / "bank.json"
    outbox.mkdir()
    debit = {"end_to_end_id": payment.end_to_end_id, "amount": payment.amount, "mandate_reference": "DBT-MD1",
             "mandate_signed_on": date(2026, 12, 1), "debtor_name": "Jeanne Martin", "debtor_iban": PENDING_FIRST,
             "debtor_bic": None, "remittance": "Yoga", "amendment": None}
    build_pain008_file(outbox / "pain008-BFOUT1.xml", message_id="BFOUT1", created_at=datetime.fromisoformat(CLOCK),
                       creditor={"name": "Creditor", "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP",
                                 "creditor_id": "FR72ZZZ123456"},
                       batches=[{"payment_info_id": "BFOUT1-1", "due_date": due, "sequence_type": "RCUR",
                                 "count": 1, "total": payment.amount, "debits": [debit]}],
                       totals=(1, payment.amount))

    run(due, outbox, inbox, state)
    pending = import_inbox(session, inbox, due)
    assert len(pending.files) == 1 and pending.paid == [] and pending.rejected == []
    [kept] = pending.unmatched
    assert (kept.merchant_id, kept.end_to_end_id, kept.amount) == (A, payment.end_to_end_id, payment.amount)
    assert json.loads(kept.details)["reason"] == "entry PDNG: not booked, no money moved yet"
    assert json.loads(kept.details)["entry"]["status"] == "PDNG"
    session.expire_all()
    assert session.get(Payment, ids["credited"]).status == "submitted"
    assert session.scalars(select(LedgerEntry)).all() == []

    booked_on = add_business_days(due, 1)
    assert run(booked_on, outbox, inbox, state)["credited"] == 1
    booked = import_inbox(session, inbox, booked_on)
    assert [json.loads(u.details)["reason"] for u in booked.unmatched] == [] and booked.failed == []
    assert [p.id for p in booked.paid] == [ids["credited"]]
    session.expire_all()
    assert session.get(Payment, ids["credited"]).status == "paid"
    assert [(e.code, e.amount, e.date) for e in session.scalars(select(LedgerEntry))] == [
        ("SDD", payment.amount, booked_on)]
