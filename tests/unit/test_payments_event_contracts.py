"""Each event `payments` dispatches has one builder (payments.events) and one wire schema
(contracts.payments.EVENTS): the builder's dict has exactly the schema's fields, in the
schema's order, loads through it, and is what the schema itself would write (dates and UTC
instants in its format), NULLs and texts to escape included; so the two cannot drift."""
import json
from datetime import date, datetime, timedelta, timezone

import pytest
from marshmallow import ValidationError

from contracts.payments import (EVENTS, PaymentCancelledEvent, PaymentEvent, PaymentsEvent, PayoutEvent,
                                RTransactionEvent, RTransactionsEvent)
from payments import events
from payments.models import Payment, Payout, RTransaction

MOMENT = datetime(2030, 1, 8, 6, 30, 0, 250_000, tzinfo=timezone.utc)
PARIS = timezone(timedelta(hours=1))


def _payment(n, merchant="MEA", **fields):
    return Payment(**{**dict(id=f"PM{n}", merchant_id=merchant, plan_id=f"PL{n}", mandate_id=f"MD{n}",
                             subscriber_id=f"SB{n}", amount=1000 + n, currency="EUR", due_date=date(2030, 1, 2),
                             sequence_type="RCUR", end_to_end_id=f"E2E{n}", status="submitted", replay_of=None,
                             attempt=1, bank_file_id="BF1", created_at=MOMENT - timedelta(days=9),
                             submitted_at=MOMENT.astimezone(PARIS)), **fields})


def _r_transaction(n, payment, **fields):
    return RTransaction(**{**dict(id=f"RT{n}", merchant_id=payment.merchant_id, payment_id=payment.id,
                                  type="return", reason_code="AM04", reason="insufficient funds",
                                  amount=payment.amount, received_on=date(2030, 1, 8), retryable=True,
                                  status="open"), **fields})


def _payout(**fields):
    return Payout(**{**dict(id="PO1", merchant_id="MEA", amount=500, currency="EUR", status="sent",
                            end_to_end_id="PO1E2E", paid_on=None, paid_at=None,
                            sent_at=MOMENT.astimezone(PARIS), created_at=MOMENT - timedelta(days=1)), **fields})


def _hostile(payment):
    payment.subscriber_id, payment.plan_id, payment.end_to_end_id = 'SB"1', None, "E2E\t1é\\"
    return payment


def _keys(schema_class):
    return list(schema_class().fields)


def _agrees(schema_class, payload):
    """`payload` has the schema's fields in its order, loads through it and is its dump."""
    schema = schema_class()
    assert list(payload) == list(schema.fields)
    assert schema.dump(schema.load(payload)) == payload
    assert schema.load(json.loads(json.dumps(payload))) == schema.load(payload)  # as the wire carries it


CASES = {
    "payment_event": (PaymentEvent, lambda: events.payment_event(_payment(1))),
    "payment_event, nulls and texts to escape": (PaymentEvent, lambda: events.payment_event(_hostile(
        _payment(2, replay_of="PM1", attempt=2, bank_file_id=None, subscriber_id=None)))),
    "payment_event as decided": (PaymentEvent, lambda: events.payment_event(
        _payment(3, status="rejected", paid_at=MOMENT, rejected_at=MOMENT + timedelta(days=1)),
        "prefix-0", "paid", MOMENT.astimezone(PARIS))),
    "payment_cancelled": (PaymentCancelledEvent, lambda: events.payment_cancelled(
        _payment(4, status="cancelled", cancelled_at=MOMENT), "mandate_revoked")),
    "r_transaction_received": (RTransactionEvent, lambda: events.r_transaction_received(
        _r_transaction(1, _payment(5), reason='refusé "par" le\\débiteur\x01', retryable=False),
        _hostile(_payment(5)))),
    "payout_event, sent": (PayoutEvent, lambda: events.payout_event(_payout())),
    "payout_event, paid": (PayoutEvent, lambda: events.payout_event(
        _payout(status="paid", paid_on=date(2030, 1, 8), paid_at=MOMENT))),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_builder_writes_its_wire_schema_s_fields_in_its_order_and_format(case):
    schema_class, build = CASES[case]
    _agrees(schema_class, build())


def test_the_batches_are_their_schema_s_with_items_of_one_merchant_each():
    payments = [_payment(n, "MEA" if n % 3 else "MEB") for n in range(1, 8)]
    batches = list(events.payments_events(payments, 2))
    assert sum(len(batch["payments"]) for batch in batches) == 7
    for batch in batches:
        _agrees(PaymentsEvent, batch)
        for item in batch["payments"]:
            _agrees(PaymentEvent, item)
    by_id = {payment.id: payment for payment in payments}
    r_batches = list(events.r_transactions_events([_r_transaction(n, p) for n, p in enumerate(payments)], by_id, 3))
    for batch in r_batches:
        _agrees(RTransactionsEvent, batch)
        for item in batch["r_transactions"]:
            _agrees(RTransactionEvent, item)


def test_the_import_s_batches_are_the_same_builders_and_schemas():
    noted = events.ImportEvents()
    paid, rejected = _payment(1), _payment(2, "MEB")
    paid.status, paid.paid_at = "paid", MOMENT
    noted.paid(paid)
    paid.status, paid.rejected_at = "rejected", MOMENT + timedelta(seconds=1)  # returned later in the file
    noted.rejected(paid)
    r_transaction = _r_transaction(1, paid)
    noted.r_transaction(r_transaction, paid)
    rejected.status, rejected.rejected_at = "rejected", MOMENT
    noted.rejected(rejected)
    [paid_batch] = noted.batches("payments_paid", 10)
    _agrees(PaymentsEvent, paid_batch)
    [item] = paid_batch["payments"]
    assert item == events.payment_event(paid, item["event_id"], "paid", MOMENT)  # as it was decided
    assert (item["status"], item["at"]) == ("paid", "2030-01-08T06:30:00.250000+00:00")
    rejected_batches = list(noted.batches("payments_rejected", 10))
    assert sorted(batch["merchant_id"] for batch in rejected_batches) == ["MEA", "MEB"]
    for batch in rejected_batches:
        _agrees(PaymentsEvent, batch)
    [received] = noted.batches("r_transactions_received", 10)
    _agrees(RTransactionsEvent, received)
    assert received["r_transactions"] == [events.r_transaction_received(
        r_transaction, paid, received["r_transactions"][0]["event_id"])]


def test_the_schemas_refuse_a_field_missing_or_unknown_a_wrong_type_and_a_batch_mixing_merchants():
    payload = events.payment_event(_payment(1))
    schema = PaymentEvent()
    for broken in ({k: v for k, v in payload.items() if k != "subscriber_id"},  # null is written, never left out
                   {**payload, "reason": "mandate_revoked"},
                   {**payload, "amount": "1001"},
                   {**payload, "status": "lost"},
                   {**payload, "at": None}):
        with pytest.raises(ValidationError):
            schema.load(broken)
    batch = {"event_id": "E1", "merchant_id": "MEB", "payments": [payload]}
    with pytest.raises(ValidationError, match="merchant"):
        PaymentsEvent().load(batch)
    with pytest.raises(ValidationError):
        RTransactionEvent().load({**events.r_transaction_received(_r_transaction(1, _payment(1)), _payment(1)),
                                  "retryable": "true"})


def test_every_event_payments_emits_has_its_wire_schema():
    emitted = {"payments_scheduled", "payments_submitted", "payments_paid", "payments_rejected",
               "r_transactions_received", "payment_cancelled", "payout_requested", "payout_paid"}
    assert emitted <= set(EVENTS)
    assert {event_type for event_type, schema in EVENTS.items() if schema is PaymentsEvent} == {
        "payments_scheduled", "payments_submitted", "payments_paid", "payments_rejected"}
    assert _keys(PaymentCancelledEvent) == _keys(PaymentEvent) + ["reason"]
