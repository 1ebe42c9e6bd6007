"""The collection cycle of the payments service, as plain functions on an
PostgreSQL session rolled back after each test: one payment per instalment key, sequence types,
D-1 submission, replays, cancellations and amendments."""
import json
from datetime import date

import pytest
from sqlalchemy import func, select

from common.errors import Conflict, Invalid, NotFound
from payments import collection, payments
from payments.models import BankFile, Payment, RTransaction
from common.json_pages import page_data
from common.schemas import load
from contracts.payments import CreditorIn, PaymentFiltersIn

A, B = "MEaaaa", "MEbbbb"
IBAN_AGRI = "FR7630006000011234567890189"  # Crédit Agricole, AGRIFRPP
IBAN_BNP = "FR7630004000011234567890173"  # BNP Paribas, BNPAFRPP
PROFILE = {"name": "Acme SAS", "creditor_id": "FR72ZZZ123456", "iban": "FR7630006000011234567890189"}


def mandate(mandate_id="MD1", sequence="recurrent", status="active", iban=IBAN_AGRI, bic="AGRIFRPP",
            amendments=()):
    return {"id": mandate_id, "subscriber_id": "SB1", "status": status, "reference": f"DBT-{mandate_id}",
            "signed_at": "2026-12-01T10:00:00+00:00", "iban": iban, "bic": bic, "sequence": sequence,
            "subscriber": {"name": "Jeanne Martin", "email": "jeanne@example.org"},
            "amendments": list(amendments)}


def instalment(plan_id="PL1", sequence_no=1, due_date="2027-02-01", mandate_id="MD1", merchant=A,
               is_last=False, amount=2990):
    return {"key": f"{plan_id}:{sequence_no}", "plan_id": plan_id, "merchant_id": merchant,
            "mandate_id": mandate_id, "subscriber_id": "SB1", "sequence_no": sequence_no,
            "due_date": due_date, "amount": amount, "currency": "EUR", "label": "Yoga",
            "frequency": "monthly", "is_last": is_last}


class Writer:
    """Stands for pain008.build_pain008_file: consumes the stream, keeps what it saw."""

    def __init__(self):
        self.files = []

    def __call__(self, path, *, message_id, created_at, creditor, batches, totals):
        seen = [{**batch, "debits": list(batch["debits"])} for batch in batches]
        path.write_text(message_id)
        self.files.append({"path": path, "message_id": message_id, "creditor": creditor, "batches": seen})


@pytest.fixture
def session(monkeypatch, tmp_path, db_session):
    monkeypatch.setenv("DEBITO_CLOCK", "2027-01-04T12:00:00+00:00")
    monkeypatch.setenv("DEBITO_VAR", str(tmp_path / "var"))
    session = db_session("payments")
    payments.register_creditor(session, A, load(CreditorIn, PROFILE))
    payments.register_creditor(session, B, load(CreditorIn, {**PROFILE, "name": "Bravo"}))
    yield session


def schedule(session, *instalments, mandates=None):
    mandates = mandates or {"MD1": mandate()}
    return collection.schedule_due(session, list(instalments), mandates, date(2027, 1, 4))


def statuses(session):
    return {p.instalment_key or p.id: p.status for p in session.scalars(select(Payment))}


# --- scheduling -------------------------------------------------------------

def test_each_instalment_key_gets_one_payment_over_repeated_calls(session):
    first = schedule(session, instalment(sequence_no=1), instalment(sequence_no=2, due_date="2027-03-01"))
    again = schedule(session, instalment(sequence_no=1), instalment(sequence_no=2, due_date="2027-03-01"))
    assert len(first) == 2 and again == []
    assert session.scalar(select(func.count()).select_from(Payment)) == 2
    payment = first[0]
    assert payment.id.startswith("PM") and payment.status == "scheduled" and payment.attempt == 1
    assert payment.end_to_end_id == payment.id and len(payment.end_to_end_id) <= 35
    assert (payment.mandate_reference, payment.mandate_signed_on, payment.debtor_name, payment.iban) == (
        "DBT-MD1", date(2026, 12, 1), "Jeanne Martin", IBAN_AGRI)
    assert payment.due_date == date(2027, 2, 1) and payment.amount == 2990


def test_first_debit_is_frst_then_rcur_and_the_last_fnal(session):
    created = schedule(session, instalment(sequence_no=1), instalment(sequence_no=2, due_date="2027-03-01"),
                       instalment(sequence_no=3, due_date="2027-04-01", is_last=True))
    assert [p.sequence_type for p in created] == ["FRST", "RCUR", "FNAL"]
    later = schedule(session, instalment(plan_id="PL2", sequence_no=1, due_date="2027-04-01"))
    assert later[0].sequence_type == "RCUR"  # the mandate is already known to the debtor's bank


def test_one_off_mandate_is_ooff(session):
    created = schedule(session, instalment(mandate_id="MD9", is_last=True),
                       mandates={"MD9": mandate("MD9", sequence="one_off")})
    assert created[0].sequence_type == "OOFF"


def test_instalment_of_a_revoked_or_unknown_mandate_gets_no_payment(session):
    created = schedule(session, instalment(), instalment(plan_id="PL2", mandate_id="MDX"),
                       mandates={"MD1": mandate(status="revoked")})
    assert created == []


def test_first_debit_after_a_move_to_another_bank_is_frst_with_smnda(session):
    schedule(session, instalment(sequence_no=1))
    moved = mandate(iban=IBAN_BNP, bic="BNPAFRPP", amendments=[{
        "at": "2027-01-05T09:00:00+00:00", "old_iban": IBAN_AGRI, "new_iban": IBAN_BNP,
        "old_bic": "AGRIFRPP", "new_bic": "BNPAFRPP"}])
    created = schedule(session, instalment(sequence_no=2, due_date="2027-03-01"), mandates={"MD1": moved})
    assert created[0].sequence_type == "FRST" and created[0].iban == IBAN_BNP
    assert json.loads(created[0].amendment) == {"original_iban": None, "original_debtor_agent_smnda": True}
    following = schedule(session, instalment(sequence_no=3, due_date="2027-04-01"), mandates={"MD1": moved})
    assert following[0].sequence_type == "RCUR" and following[0].amendment is None


def test_amendment_at_the_same_bank_keeps_rcur_with_the_original_iban(session):
    schedule(session, instalment(sequence_no=1))
    other_account = "FR7630006000019876543210141"
    amended = mandate(iban=other_account, amendments=[{
        "at": "2027-01-05T09:00:00+00:00", "old_iban": IBAN_AGRI, "new_iban": other_account,
        "old_bic": "AGRIFRPP", "new_bic": "AGRIFRPP"}])
    created = schedule(session, instalment(sequence_no=2, due_date="2027-03-01"), mandates={"MD1": amended})
    assert created[0].sequence_type == "RCUR"
    assert json.loads(created[0].amendment) == {"original_iban": IBAN_AGRI, "original_debtor_agent_smnda": False}


# --- submission -------------------------------------------------------------

def test_payments_are_submitted_on_the_business_day_before_their_due_date(session, tmp_path):
    schedule(session, instalment(due_date="2027-02-01"))  # a Monday: D-1 is Friday 29 January
    writer = Writer()
    assert collection.submit_due(session, date(2027, 1, 28), tmp_path, writer) == []
    submissions = collection.submit_due(session, date(2027, 1, 29), tmp_path, writer)
    assert [s.count for s in submissions] == [1] and submissions[0].total_cents == 2990
    assert statuses(session) == {"PL1:1": "submitted"}
    payment = session.scalar(select(Payment))
    assert payment.bank_file_id == submissions[0].bank_file.id and payment.submitted_at is not None


def test_submission_over_easter_leaves_on_the_thursday(session, tmp_path):
    # Good Friday 26 March and Easter Monday 29 March 2027 are TARGET2 closing days
    schedule(session, instalment(due_date="2027-03-30"))
    writer = Writer()
    assert collection.submit_due(session, date(2027, 3, 24), tmp_path, writer) == []
    assert len(collection.submit_due(session, date(2027, 3, 25), tmp_path, writer)) == 1


def test_running_submission_twice_submits_nothing_twice(session, tmp_path):
    schedule(session, instalment(sequence_no=1), instalment(sequence_no=2, due_date="2027-03-01"))
    writer = Writer()
    first = collection.submit_due(session, date(2027, 3, 1), tmp_path, writer)
    assert collection.submit_due(session, date(2027, 3, 1), tmp_path, writer) == []
    assert len(first) == 1 and len(writer.files) == 1
    assert session.scalar(select(func.count()).select_from(BankFile)) == 1


def test_one_file_per_merchant_with_a_block_per_due_date_and_sequence_type(session, tmp_path):
    schedule(session, instalment(sequence_no=1), instalment(sequence_no=2, due_date="2027-02-08"),
             instalment(plan_id="PL2", sequence_no=1, amount=1000),
             instalment(plan_id="PL3", merchant=B, mandate_id="MD2"),
             mandates={"MD1": mandate(), "MD2": mandate("MD2")})
    writer = Writer()
    submissions = collection.submit_due(session, date(2027, 2, 5), tmp_path, writer)
    assert len(submissions) == 2 and {f["creditor"]["name"] for f in writer.files} == {"Acme SAS", "Bravo"}
    acme = next(f for f in writer.files if f["creditor"]["name"] == "Acme SAS")
    assert [(b["due_date"], b["sequence_type"], b["count"], b["total"]) for b in acme["batches"]] == [
        (date(2027, 2, 1), "FRST", 1, 2990), (date(2027, 2, 1), "RCUR", 1, 1000),
        (date(2027, 2, 8), "RCUR", 1, 2990)]
    assert all(b["count"] == len(b["debits"]) for b in acme["batches"])
    debit = acme["batches"][0]["debits"][0]
    assert debit["mandate_reference"] == "DBT-MD1" and debit["debtor_iban"] == IBAN_AGRI
    assert debit["remittance"] == "Yoga" and debit["amendment"] is None
    assert (tmp_path / f"pain008-{A}-{acme['message_id']}.xml").exists()


def test_a_merchant_without_creditor_profile_waits(session, tmp_path):
    schedule(session, instalment(merchant="MEnone"))
    assert collection.submit_due(session, date(2027, 1, 29), tmp_path, Writer()) == []
    assert statuses(session) == {"PL1:1": "scheduled"}


# --- replays ----------------------------------------------------------------

def rejected(session, code="AM04", **fields):
    payment = schedule(session, instalment(**fields))[0]
    payment.status = "rejected"
    session.add(RTransaction(id="RT" + payment.id[2:], merchant_id=payment.merchant_id, payment_id=payment.id,
                             type="reject", reason_code=code, reason="insufficient funds", amount=2990,
                             received_on=date(2027, 2, 1), retryable=code in ("AM04", "MS03"),
                             status="open", created_at=payment.created_at))
    session.flush()
    return payment


def test_rejected_payment_can_be_replayed_once(session):
    payment = rejected(session)
    again = collection.replay(session, A, payment.id, mandate(), as_of=date(2027, 2, 2))
    assert again.replay_of == payment.id and again.attempt == 2 and again.status == "scheduled"
    assert again.instalment_key is None and again.due_date == date(2027, 2, 16)  # 2 Feb + 14 days
    assert again.sequence_type == payment.sequence_type and again.end_to_end_id != payment.end_to_end_id
    r_transaction = session.scalar(select(RTransaction))
    assert (r_transaction.status, r_transaction.replayed_by) == ("replayed", again.id)
    with pytest.raises(Conflict) as error:
        collection.replay(session, A, payment.id, mandate(), as_of=date(2027, 2, 2))
    assert error.value.fields == {"replayed_by": again.id}
    detail = payments.get_payment(session, A, payment.id)
    assert [step["id"] for step in detail["replays"]] == [payment.id, again.id]
    assert detail["replayed_by"] == again.id and detail["r_transactions"][0]["reason_fr"] == "provision insuffisante"


def test_only_a_rejected_payment_on_an_active_mandate_is_replayed(session):
    scheduled = schedule(session, instalment())[0]
    with pytest.raises(Conflict) as error:
        collection.replay(session, A, scheduled.id, mandate(), as_of=date(2027, 2, 2))
    assert "status" in error.value.fields
    payment = rejected(session, plan_id="PL2")
    with pytest.raises(Conflict) as error:
        collection.replay(session, A, payment.id, mandate(status="revoked"), as_of=date(2027, 2, 2))
    assert "mandate_id" in error.value.fields
    with pytest.raises(NotFound):
        collection.replay(session, B, payment.id, mandate(), as_of=date(2027, 2, 2))


def test_replay_due_date_must_be_a_business_day_after_the_prenotification(session):
    payment = rejected(session)
    for due_date in (date(2027, 2, 20), date(2027, 2, 10)):  # a Saturday; too early
        with pytest.raises(Invalid) as error:
            collection.replay(session, A, payment.id, mandate(), due_date, as_of=date(2027, 2, 2))
        assert "due_date" in error.value.fields
    again = collection.replay(session, A, payment.id, mandate(), date(2027, 3, 1), as_of=date(2027, 2, 2))
    assert again.due_date == date(2027, 3, 1)


def test_replay_after_a_move_to_another_bank_uses_the_new_account_with_smnda(session):
    payment = rejected(session, code="AC04")
    again = collection.replay(session, A, payment.id, mandate(iban=IBAN_BNP, bic="BNPAFRPP"),
                              as_of=date(2027, 2, 2))
    assert again.iban == IBAN_BNP and again.sequence_type == "FRST"
    assert json.loads(again.amendment)["original_debtor_agent_smnda"] is True


def test_automatic_retry_only_when_enabled_for_retryable_codes_and_at_most_twice(session):
    payment = rejected(session)
    r_transaction = session.scalar(select(RTransaction))
    assert not collection.should_retry(session, payment, r_transaction)  # off by default
    payments.register_creditor(session, A, {"automatic_retry": True})
    assert collection.should_retry(session, payment, r_transaction)
    r_transaction.retryable = False
    assert not collection.should_retry(session, payment, r_transaction)
    r_transaction.retryable, payment.attempt = True, 3  # two retries done already
    assert not collection.should_retry(session, payment, r_transaction)


# --- the mandate's life -----------------------------------------------------

def test_revocation_cancels_only_scheduled_payments(session, tmp_path):
    schedule(session, instalment(sequence_no=1), instalment(sequence_no=2, due_date="2027-03-01"))
    collection.submit_due(session, date(2027, 1, 29), tmp_path, Writer())
    cancelled = collection.cancel_for_mandate(session, A, "MD1")
    assert [p.instalment_key for p in cancelled] == ["PL1:2"]
    assert statuses(session) == {"PL1:1": "submitted", "PL1:2": "cancelled"}
    assert collection.cancel_for_mandate(session, B, "MD1") == []


def amended(new_iban, new_bic, same_bank):
    return {"event_id": "E1", "merchant_id": A, "mandate_id": "MD1", "old_iban": IBAN_AGRI,
            "new_iban": new_iban, "old_bic": "AGRIFRPP", "new_bic": new_bic, "same_bank": same_bank}


def test_amendment_to_another_bank_makes_the_next_scheduled_debit_frst_with_smnda(session, tmp_path):
    schedule(session, instalment(sequence_no=1), instalment(sequence_no=2, due_date="2027-03-01"),
             instalment(sequence_no=3, due_date="2027-04-01"))
    collection.submit_due(session, date(2027, 1, 29), tmp_path, Writer())
    changed = collection.amend_for_mandate(session, A, "MD1", amended(IBAN_BNP, "BNPAFRPP", False))
    assert [(p.instalment_key, p.sequence_type, p.iban) for p in changed] == [
        ("PL1:2", "FRST", IBAN_BNP), ("PL1:3", "RCUR", IBAN_BNP)]
    assert json.loads(changed[0].amendment) == {"original_iban": None, "original_debtor_agent_smnda": True}
    assert changed[1].amendment is None


def test_amendment_at_the_same_bank_flags_the_original_iban(session, tmp_path):
    schedule(session, instalment(sequence_no=1), instalment(sequence_no=2, due_date="2027-03-01"))
    collection.submit_due(session, date(2027, 1, 29), tmp_path, Writer())
    other_account = "FR7630006000019876543210141"
    changed = collection.amend_for_mandate(session, A, "MD1", amended(other_account, "AGRIFRPP", True))
    assert changed[0].sequence_type == "RCUR" and changed[0].iban == other_account
    assert json.loads(changed[0].amendment) == {"original_iban": IBAN_AGRI, "original_debtor_agent_smnda": False}


def test_amendment_before_the_first_debit_changes_only_the_account(session):
    schedule(session, instalment(sequence_no=1))
    changed = collection.amend_for_mandate(session, A, "MD1", amended(IBAN_BNP, "BNPAFRPP", False))
    assert changed[0].sequence_type == "FRST" and changed[0].amendment is None and changed[0].iban == IBAN_BNP


# --- reading ----------------------------------------------------------------

def test_payments_are_listed_per_merchant_with_filters_and_keyset_pages(session):
    schedule(session, instalment(sequence_no=1), instalment(sequence_no=2, due_date="2027-03-01"),
             instalment(plan_id="PL9", merchant=B))
    def listed(filters):
        return page_data(payments.list_payments_json(session, A, load(PaymentFiltersIn, filters)))
    page = listed({"limit": 1})
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = listed({"limit": 5, "cursor": page["next_cursor"]})
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    march = listed({"from": "2027-02-15", "status": "scheduled"})
    assert [p["instalment_key"] for p in march["items"]] == ["PL1:2"]
    with pytest.raises(Invalid) as error:
        load(PaymentFiltersIn, {"status": "lost"})
    assert "status" in error.value.fields


def test_creditor_registration_is_an_idempotent_upsert(session):
    gateway_profile = {**PROFILE, "merchant_id": A, "name": "Acme SA", "email": "ops@acme.example",
                       "bic": None, "automatic_retry": False, "prenotification_days": 14,
                       "availability_delay_days": 5}
    again = payments.register_creditor(session, A, load(CreditorIn, gateway_profile))
    assert again.bic == "AGRIFRPPXXX"  # derived from the IBAN when not given
    assert again.name == "Acme SA" and again.prenotification_days == 14 and again.automatic_retry is False
    with pytest.raises(Invalid) as error:
        load(CreditorIn, {**PROFILE, "creditor_id": "FR00ZZZ123456"})
    assert "creditor_id" in error.value.fields


def test_submitted_file_is_a_valid_pain008_with_exact_totals(session, tmp_path):
    from lxml import etree

    from payments.iso20022 import xsd

    schedule(session, instalment(sequence_no=1), instalment(sequence_no=2, due_date="2027-02-08", amount=1001))
    other_account = "FR7630006000019876543210141"
    collection.submit_due(session, date(2027, 1, 29), tmp_path)
    collection.amend_for_mandate(session, A, "MD1", amended(other_account, "AGRIFRPP", True))
    submissions = collection.submit_due(session, date(2027, 2, 5), tmp_path)
    path = tmp_path / submissions[0].bank_file.filename
    xsd.validate_file(path, "pain.008.001.02")
    root = etree.parse(str(path)).getroot()
    ns = {"p": root.nsmap[None]}
    assert root.findtext("p:CstmrDrctDbtInitn/p:GrpHdr/p:NbOfTxs", namespaces=ns) == "1"
    assert root.findtext("p:CstmrDrctDbtInitn/p:GrpHdr/p:CtrlSum", namespaces=ns) == "10.01"
    assert root.findtext(".//p:SeqTp", namespaces=ns) == "RCUR"
    assert root.findtext(".//p:OrgnlDbtrAcct/p:Id/p:IBAN", namespaces=ns) == IBAN_AGRI
    assert root.findtext(".//p:DbtrAcct/p:Id/p:IBAN", namespaces=ns) == other_account


def test_a_crash_while_writing_the_file_never_submits_a_payment_twice(session, tmp_path):
    schedule(session, instalment(sequence_no=1), instalment(sequence_no=2, due_date="2027-03-01"))

    def crashing_writer(path, **_):
        raise OSError("disk full")

    with pytest.raises(OSError):
        collection.submit_due(session, date(2027, 3, 1), tmp_path, crashing_writer)
    session.rollback()
    # the claim was committed: both payments belong to one file that is still `writing`
    assert set(statuses(session).values()) == {"submitted"}
    assert session.scalar(select(BankFile.status)) == "writing"

    writer = Writer()
    submissions = collection.submit_due(session, date(2027, 3, 1), tmp_path, writer)
    assert [s.count for s in submissions] == [2]
    assert len(writer.files) == 1 and sum(len(b["debits"]) for b in writer.files[0]["batches"]) == 2
    assert session.scalar(select(func.count()).select_from(BankFile)) == 1
    assert session.scalar(select(BankFile.status)) == "written"
    assert collection.submit_due(session, date(2027, 3, 2), tmp_path, writer) == []
    assert len(writer.files) == 1


def test_a_merchant_may_send_first_debits_as_rcur(session, tmp_path):
    payments.register_creditor(session, A, load(CreditorIn, {**PROFILE, "first_debit_as_rcur": True}))
    schedule(session, instalment(sequence_no=1), instalment(plan_id="PL3", merchant=B, mandate_id="MD2"),
             mandates={"MD1": mandate(), "MD2": mandate("MD2")})
    writer = Writer()
    collection.submit_due(session, date(2027, 1, 29), tmp_path, writer)
    sent = {f["creditor"]["name"]: [b["sequence_type"] for b in f["batches"]] for f in writer.files}
    assert sent == {"Acme SAS": ["RCUR"], "Bravo": ["FRST"]}
    assert {p.merchant_id: p.sequence_type for p in session.scalars(select(Payment))} == {A: "RCUR", B: "FRST"}
