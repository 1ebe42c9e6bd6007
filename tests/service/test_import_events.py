"""A bank file's import announces its paid and rejected payments and its R-transactions in
batch events (payments.events.announce_import), built from the decisions noted while the
file is applied (events.ImportEvents) and stored in the outbox as JSON: they must be the very
payloads the Python builders make (payment_event, r_transaction_received), item for item,
whatever the timestamps' microseconds, the NULLs, the texts to escape, the merchants and the
batch size (batches of at most `size` items of one merchant), and each must load through its
wire schema (contracts.payments.EVENTS)."""
import json
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from common.database import make_engine
from common.migrations import upgrade
from common.outbox import Staged, row
from contracts.payments import EVENTS
from payments import collection, events
from payments.inbox import import_inbox
from payments.models import Creditor, Payment, RTransaction, outbox_events

A, B = "MEA" + "0" * 20, "MEB" + "0" * 20
MOMENT = datetime(2030, 1, 8, 6, 30, tzinfo=timezone.utc)


def _payment(n, merchant, status, **fields):
    values = dict(id=f"PM{n:030d}", merchant_id=merchant, plan_id=f"PL{n}" if n % 3 else None,
                  instalment_key=f"K{n}", mandate_id=f"MD{n % 4}", subscriber_id=f"SB{n}" if n % 5 else None,
                  mandate_reference=f"RUM{n}", mandate_signed_on=date(2029, 1, 1), debtor_name=f"Débiteur {n}",
                  iban="FR7630006000011234567890189", amount=1000 + n, currency="EUR", label="Abonnement",
                  due_date=date(2030, 1, 2) + timedelta(days=n % 4), sequence_type="RCUR" if n % 2 else "FRST",
                  end_to_end_id=f"E2E{n}", status=status, replay_of=f"PM{n - 1:030d}" if n % 7 == 0 else None,
                  attempt=2 if n % 7 == 0 else 1, bank_file_id=f"BF{n % 2}" if n % 9 else None,
                  created_at=MOMENT - timedelta(days=9, microseconds=n % 2 * 1234),
                  submitted_at=MOMENT - timedelta(days=3, microseconds=n % 3 * 100))
    if status == "paid":
        values["paid_at"] = MOMENT + timedelta(microseconds=n % 2 * 500_000)
    if status == "rejected":
        values["rejected_at"] = MOMENT if n % 2 else MOMENT + timedelta(microseconds=7)
    return Payment(**{**values, **fields})


def _r_transaction(n, payment, **fields):
    return RTransaction(**{**dict(id=f"RT{n:030d}", merchant_id=payment.merchant_id, payment_id=payment.id,
                                  type="return", reason_code="AM04" if n % 2 else "MD06", reason="insufficient funds",
                                  amount=payment.amount, received_on=date(2030, 1, 8), retryable=bool(n % 2),
                                  status="open", bank_file_id="BFIN", created_at=MOMENT), **fields})


@pytest.fixture
def session(infrastructure):
    yield from _postgresql(infrastructure)


@pytest.fixture
def postgresql_session(infrastructure):
    yield from _postgresql(infrastructure)


def _postgresql(infrastructure):
    with infrastructure.database("debito_import_events") as url:
        engine = make_engine("payments", url)
        upgrade("payments", engine)
        with Session(engine) as session:
            yield session
        engine.dispose()


def _dispatch(session):
    staged = Staged(session, outbox_events)
    return lambda event_type, payload: staged.add(row(event_type, payload))


def _outbox(session):
    """{event_type: [payload, ...]} in the outbox, and the event types in their order; each
    payload loads through its event type's wire schema."""
    written = [(r.event_type, json.loads(r.payload))
               for r in session.execute(select(outbox_events).order_by(outbox_events.c.id))]
    for event_type, payload in written:
        EVENTS[event_type]().load(payload)
    by_kind = {}
    for event_type, payload in written:
        by_kind.setdefault(event_type, []).append(payload)
    return by_kind, [event_type for event_type, _ in written]


def _without_ids(batches, key):
    items = [item for batch in batches for item in batch[key]]
    assert len({item["event_id"] for item in items}) == len(items)  # each item keeps its own id
    return sorted(({k: v for k, v in item.items() if k != "event_id"} for item in items),
                  key=lambda item: json.dumps(item, sort_keys=True))


def _items(batches, key):
    """The batches' items, each event_id as its rank (the call's prefix is random), in rank order."""
    items = [item for batch in batches for item in batch[key]]
    assert len({item["event_id"] for item in items}) == len(items)  # each item keeps its own id
    assert len({item["event_id"].rsplit("-", 1)[0] for item in items}) <= 1  # one prefix per kind
    return sorted(({**item, "event_id": int(item["event_id"].rsplit("-", 1)[1])} for item in items),
                  key=lambda item: item["event_id"])


def _hostile(payment, n):
    """Texts a JSON string cannot hold as they are (and one it can: non-ASCII)."""
    payment.subscriber_id, payment.plan_id = f'SB"{n}', f"PL\\{n}\n"
    payment.end_to_end_id = f"E2E\t{n}é"
    return payment


def test_the_import_s_json_text_is_what_the_python_builders_make_in_batches_per_merchant(session):
    paid = [_payment(n, A if n % 4 else B, "paid") for n in range(1, 12)]
    rejected = [_payment(n, A if n % 3 else B, "rejected") for n in range(20, 31)]
    _hostile(paid[8], 9)
    _hostile(rejected[9], 29)
    session.add_all(paid + rejected)
    session.flush()
    r_transactions = [_r_transaction(n, p) for n, p in enumerate(rejected)]
    r_transactions[-1].reason = 'refusé "par" le\\débiteur\x01'
    session.add_all(r_transactions)
    part = SimpleNamespace(paid=paid, rejected=rejected, r_transactions=r_transactions,
                           payouts_paid=[SimpleNamespace(merchant_id=A, id="PO1", amount=500, currency="EUR",
                                                         status="paid", end_to_end_id="PO1E2E",
                                                         paid_on=date(2030, 1, 8), paid_at=MOMENT, sent_at=None,
                                                         created_at=MOMENT)])
    part.events = events.ImportEvents()  # as the inbox does: noted as decided
    for start in range(0, 11, 4):  # chunks of 4: plain ones and ones with texts to escape
        for payment in paid[start:start + 4]:
            part.events.paid(payment)
        for payment, r_transaction in zip(rejected[start:start + 4], r_transactions[start:start + 4]):
            part.events.r_transaction(r_transaction, payment)
            part.events.rejected(payment)
    events.announce_import(_dispatch(session), session, part, 4)
    session.commit()

    by_kind, kinds = _outbox(session)
    assert kinds == sorted(kinds, key=["payments_paid", "payments_rejected", "payout_paid",
                                       "r_transactions_received"].index)  # in the order of dispatch
    for kind, key, python in (
            ("payments_paid", "payments", events.payments_events(paid, 4)),
            ("payments_rejected", "payments", events.payments_events(rejected, 4)),
            ("r_transactions_received", "r_transactions",
             events.r_transactions_events(r_transactions, {p.id: p for p in rejected}, 4))):
        python = list(python)
        written = by_kind[kind]
        assert _items(written, key) == _items(python, key), kind
        assert all(len(batch[key]) <= 4 and {item["merchant_id"] for item in batch[key]} == {batch["merchant_id"]}
                   for batch in written), kind
        items, merchants = sum(len(b[key]) for b in written), len({b["merchant_id"] for b in written})
        assert len(written) <= -(-items // 4) * merchants, kind
    assert len({payload["event_id"] for payloads in by_kind.values() for payload in payloads}) == len(kinds)
    assert by_kind["payout_paid"] == [{**events.payout_event(part.payouts_paid[0]),
                                       "event_id": by_kind["payout_paid"][0]["event_id"]}]
    stamps = {item["at"] for batch in by_kind["payments_rejected"] for item in batch["payments"]}
    assert stamps == {"2030-01-08T06:30:00+00:00", "2030-01-08T06:30:00.000007+00:00"}
    texts = {item["subscriber_id"] for batch in by_kind["payments_paid"] for item in batch["payments"]}
    assert 'SB"9' in texts and None in texts
    assert 'refusé "par" le\\débiteur\x01' in {item["reason"] for batch in by_kind["r_transactions_received"]
                                                for item in batch["r_transactions"]}


CLOCK = "2030-01-08T06:30:00.250000+00:00"


def _camt054(*entries):
    def entry(e2e, credit_debit, code=None):
        returned = f"<RtrInf><Rsn><Cd>{code}</Cd></Rsn></RtrInf>" if code else ""
        return (f'<Ntry><Amt Ccy="EUR">12.34</Amt><CdtDbtInd>{credit_debit}</CdtDbtInd><Sts>BOOK</Sts>'
                "<BookgDt><Dt>2030-01-08</Dt></BookgDt><ValDt><Dt>2030-01-08</Dt></ValDt>"
                "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RDDT</Cd><SubFmlyCd>ESDD</SubFmlyCd></Fmly></Domn></BkTxCd>"
                f"<NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs>{returned}</TxDtls></NtryDtls>"
                "</Ntry>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><BkToCstmrDbtCdtNtfctn>'
            "<GrpHdr><MsgId>CAMT-EVENTS</MsgId><CreDtTm>2030-01-08T05:00:00</CreDtTm></GrpHdr>"
            "<Ntfctn><Id>N1</Id><CreDtTm>2030-01-08T05:00:00</CreDtTm>"
            "<Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id></Acct>"
            + "".join(entry(*e) for e in entries) + "</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>")


def test_a_payment_paid_then_returned_in_one_file_is_paid_in_its_paid_event(session, tmp_path, monkeypatch):
    """Each item states the payment as it was decided: its credit's item says `paid` at the
    import's instant, its return's `rejected`, though the row ends rejected."""
    monkeypatch.setenv("DEBITO_CLOCK", CLOCK)
    session.add(Creditor(merchant_id=A, name="Creditor", creditor_id="FR72ZZZ123456",
                         iban="FR7630006000011234567890189", bic="AGRIFRPP", automatic_retry=False,
                         first_debit_as_rcur=False, prenotification_days=14, availability_delay_days=5,
                         updated_at=MOMENT))
    session.add_all([_payment(n, A, "submitted", amount=1234, bank_file_id="BFOUT") for n in (1, 2)])
    session.commit()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "camt.xml").write_text(_camt054(("E2E1", "CRDT"), ("E2E1", "DBIT", "AM04"), ("E2E2", "CRDT")),
                                    encoding="utf-8")
    dispatch = _dispatch(session)
    report = import_inbox(session, inbox, date(2030, 1, 8),
                                     announce=lambda part: events.announce_import(dispatch, session, part, 1000))
    assert report.failed == [] and len(report.files) == 1

    by_kind, kinds = _outbox(session)
    assert kinds == ["payments_paid", "payments_rejected", "r_transactions_received"]
    [paid], [rejected], [received] = by_kind["payments_paid"], by_kind["payments_rejected"], by_kind[
        "r_transactions_received"]
    [rejected], [received] = rejected["payments"], received["r_transactions"]
    assert [(item["payment_id"], item["status"], item["at"]) for item in paid["payments"]] == [
        (f"PM{1:030d}", "paid", "2030-01-08T06:30:00.250000+00:00"),
        (f"PM{2:030d}", "paid", "2030-01-08T06:30:00.250000+00:00")]
    assert (rejected["payment_id"], rejected["status"], rejected["at"]) == (
        f"PM{1:030d}", "rejected", "2030-01-08T06:30:00.250000+00:00")
    assert (received["payment_id"], received["reason_code"], received["amount"]) == (f"PM{1:030d}", "AM04", 1234)
    assert session.get(Payment, f"PM{1:030d}").status == "rejected"


def test_an_import_without_payments_stages_nothing(session):
    events.announce_import(_dispatch(session), session, SimpleNamespace(paid=[], rejected=[], r_transactions=[], events=events.ImportEvents(),
                                                                        payouts_paid=[]), 1000)
    session.commit()
    assert session.execute(select(outbox_events)).all() == []
