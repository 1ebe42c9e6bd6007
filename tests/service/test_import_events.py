"""A bank file's import announces its paid and rejected payments and its R-transactions in
batch events (payments.events.announce_import). On PostgreSQL the database writes those
payloads (payments_events_sql, r_transactions_events_sql) into the outbox in the import's
transaction: they must be the very payloads the Python builders make (SQLite's path), item
for item, whatever the timestamps' microseconds, the NULLs, the merchants and the batch
size (batches of at most `size` items of one merchant)."""
import json
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from common.database import make_engine
from common.migrations import upgrade
from common.outbox import Staged, row
from payments import events
from payments.models import Payment, RTransaction, outbox_events

A, B = "MEA" + "0" * 20, "MEB" + "0" * 20
MOMENT = datetime(2030, 1, 8, 6, 30, tzinfo=timezone.utc)


def _payment(n, merchant, status, **fields):
    values = dict(id=f"PM{n:030d}", merchant_id=merchant, plan_id=f"PL{n}" if n % 3 else None,
                  instalment_key=f"K{n}", mandate_id=f"MD{n % 4}", subscriber_id=f"SB{n}" if n % 5 else None,
                  mandate_reference=f"RUM{n}", mandate_signed_on=date(2029, 1, 1), debtor_name=f"Débiteur {n}",
                  iban="FR7630006000011234567890189", amount=1000 + n, currency="EUR", label="Abonnement",
                  due_date=date(2030, 1, 2) + timedelta(days=n % 4), sequence_type="RCUR" if n % 2 else "FRST",
                  end_to_end_id=f"E2E{n}", status=status, replay_of=f"PM{n - 1:030d}" if n % 7 == 0 else None,
                  attempt=2 if n % 7 == 0 else 1, bank_file_id=f"BF{n % 2}",
                  created_at=MOMENT - timedelta(days=9, microseconds=n % 2 * 1234),
                  submitted_at=MOMENT - timedelta(days=3, microseconds=n % 3 * 100))
    if status == "paid":
        values["paid_at"] = MOMENT + timedelta(microseconds=n % 2 * 500_000)
    if status == "rejected":
        values["rejected_at"] = MOMENT if n % 2 else MOMENT + timedelta(microseconds=7)
    return Payment(**{**values, **fields})


@pytest.fixture
def session(infrastructure):
    with infrastructure.database("debito_import_events") as url:
        engine = make_engine("payments", url)
        upgrade("payments", engine)
        with Session(engine) as session:
            yield session
        engine.dispose()


def _without_ids(batches, key):
    items = [item for batch in batches for item in batch[key]]
    assert len({item["event_id"] for item in items}) == len(items)  # each item keeps its own id
    return sorted(({k: v for k, v in item.items() if k != "event_id"} for item in items),
                  key=lambda item: json.dumps(item, sort_keys=True))


def test_postgresql_writes_the_payloads_python_would_in_batches_per_merchant(session):
    paid = [_payment(n, A if n % 4 else B, "paid") for n in range(1, 12)]
    rejected = [_payment(n, A if n % 3 else B, "rejected") for n in range(20, 31)]
    session.add_all(paid + rejected)
    session.flush()
    r_transactions = [RTransaction(id=f"RT{n:030d}", merchant_id=p.merchant_id, payment_id=p.id, type="REJECT",
                                   reason_code="AM04" if n % 2 else "MD06", reason="Insufficient funds",
                                   amount=p.amount, received_on=date(2030, 1, 8), retryable=bool(n % 2),
                                   status="open", bank_file_id="BFIN", created_at=MOMENT)
                      for n, p in enumerate(rejected)]
    session.add_all(r_transactions)
    part = SimpleNamespace(paid=paid, rejected=rejected, r_transactions=r_transactions,
                           payouts_paid=[SimpleNamespace(merchant_id=A, id="PO1", amount=500, currency="EUR",
                                                         status="paid", end_to_end_id="PO1E2E",
                                                         paid_on=date(2030, 1, 8), paid_at=MOMENT, sent_at=None,
                                                         created_at=MOMENT)])
    staged = Staged(session, outbox_events)
    dispatch = lambda event_type, payload: staged.add(row(event_type, payload))  # noqa: E731
    dispatch.select = staged.add_select
    events.announce_import(dispatch, session, part, 4)
    session.commit()

    written = [(r.event_type, json.loads(r.payload))
               for r in session.execute(select(outbox_events).order_by(outbox_events.c.id))]
    kinds = [event_type for event_type, _ in written]
    assert kinds == sorted(kinds, key=["payments_paid", "payments_rejected", "payout_paid",
                                       "r_transactions_received"].index)  # in the order of dispatch
    by_kind = {kind: [payload for event_type, payload in written if event_type == kind] for kind in set(kinds)}
    for kind, key, python in (
            ("payments_paid", "payments", events.payments_events(paid, 4)),
            ("payments_rejected", "payments", events.payments_events(rejected, 4)),
            ("r_transactions_received", "r_transactions",
             events.r_transactions_events(r_transactions, {p.id: p for p in rejected}, 4))):
        python = list(python)
        built = by_kind[kind]
        assert _without_ids(built, key) == _without_ids(python, key), kind
        assert all(len(batch[key]) <= 4 and {item["merchant_id"] for item in batch[key]} == {batch["merchant_id"]}
                   for batch in built), kind
        # the batches follow the file's order: a merchant's items of a stretch of `size` go together
        items, merchants = sum(len(b[key]) for b in built), len({b["merchant_id"] for b in built})
        assert len(built) <= -(-items // 4) * merchants, kind
    assert len({payload["event_id"] for _, payload in written}) == len(written)
    assert by_kind["payout_paid"] == [{**events.payout_event(part.payouts_paid[0]),
                                       "event_id": by_kind["payout_paid"][0]["event_id"]}]
    stamps = {item["at"] for batch in by_kind["payments_rejected"] for item in batch["payments"]}
    assert stamps == {"2030-01-08T06:30:00+00:00", "2030-01-08T06:30:00.000007+00:00"}


def test_an_import_without_payments_stages_nothing(session):
    staged = Staged(session, outbox_events)
    dispatch = lambda event_type, payload: staged.add(row(event_type, payload))  # noqa: E731
    dispatch.select = staged.add_select
    events.announce_import(dispatch, session, SimpleNamespace(paid=[], rejected=[], r_transactions=[],
                                                              payouts_paid=[]), 1000)
    session.commit()
    assert session.execute(select(outbox_events)).all() == []


def test_the_collection_s_batches_are_the_payloads_python_would_write(session):
    """payments_scheduled (the payments just scheduled) and payments_submitted (an outbox
    file's payments), built by PostgreSQL, against payments_events."""
    from payments import scheduling

    written = [_payment(n, A if n % 5 else B, "submitted", bank_file_id="BFOUT") for n in range(40, 52)]
    scheduled = [_payment(n, A, "scheduled", bank_file_id=None, submitted_at=None) for n in range(60, 63)]
    session.add_all(written + scheduled)
    session.flush()
    staged = Staged(session, outbox_events)
    dispatch = lambda event_type, payload: staged.add(row(event_type, payload))  # noqa: E731
    dispatch.select = staged.add_select
    events.announce_payments(dispatch, session, "payments_scheduled", scheduled, 2)
    events.announce_file(dispatch, session, "BFOUT", 5, lambda: scheduling.file_payments(session, "BFOUT"))
    session.commit()
    built = {}
    for event in session.execute(select(outbox_events).order_by(outbox_events.c.id)):
        built.setdefault(event.event_type, []).append(json.loads(event.payload))
    assert _without_ids(built["payments_scheduled"], "payments") == _without_ids(
        events.payments_events(scheduled, 2), "payments")
    assert _without_ids(built["payments_submitted"], "payments") == _without_ids(
        events.payments_events(scheduling.file_payments(session, "BFOUT"), 5), "payments")
    assert all(len(batch["payments"]) <= 5 for batch in built["payments_submitted"])
    assert sum(len(batch["payments"]) for batch in built["payments_submitted"]) == 12
