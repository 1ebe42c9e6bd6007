"""The reporting service on the real broker and PostgreSQL: events from
mandates, plans and payments move the overview, a duplicate delivery counts
once, and a rebuild over RPC gives the same overview."""
import uuid
from datetime import date, timedelta

import pytest
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from common.database import make_engine
from common.errors import Invalid
from common.migrations import upgrade
from reporting.service import ReportingService

AS_OF = date(2030, 3, 29)


@pytest.fixture
def service(container_factory, rabbit_config, postgres_database, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_database)
    upgrade("reporting", make_engine("reporting", postgres_database))
    container = container_factory(ReportingService, rabbit_config)
    container.start()
    return container


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def deliver(container, dispatch, service, name, payload):
    """Dispatch one event and wait for the reporting handler's answer."""
    handler = "on_" + name
    with entrypoint_waiter(container, handler) as waiter:
        dispatch(service, name, payload)
    return waiter.get()


def test_events_move_the_overview_and_a_duplicate_counts_once(service, rabbit_config):
    merchant = "ME" + uuid.uuid4().hex[:20].upper()
    other = "ME" + uuid.uuid4().hex[:20].upper()
    dispatch = event_dispatcher(rabbit_config)
    due = (AS_OF - timedelta(days=3)).isoformat()

    def event(**fields):
        return {"event_id": uuid.uuid4().hex, "merchant_id": merchant, **fields}

    signed = event(mandate_id="MD1", subscriber_id="SB1", reference="R1", iban="FR76...",
                   signed_at=f"{due}T09:00:00+00:00", sequence="recurrent")
    paid = event(payment_id="PM1", plan_id="PL1", mandate_id="MD1", amount=2990, currency="EUR",
                 due_date=due, status="paid", at="2030-03-29T07:00:00+00:00")
    assert deliver(service, dispatch, "mandates", "mandate_signed", signed) is True
    assert deliver(service, dispatch, "plans", "plan_created",
                   event(plan_id="PL1", mandate_id="MD1", status="active", amount=2990)) is True
    assert deliver(service, dispatch, "payments", "payment_paid", paid) is True
    assert deliver(service, dispatch, "payments", "payment_paid", paid) is False  # redelivered
    assert deliver(service, dispatch, "payments", "payment_rejected",
                   event(payment_id="PM2", amount=1500, due_date=due, status="rejected")) is True
    assert deliver(service, dispatch, "payments", "r_transaction_received",
                   event(r_transaction_id="RT1", payment_id="PM2", amount=1500, received_on=due)) is True
    assert deliver(service, dispatch, "payments", "payout_paid",
                   event(payout_id="PO1", amount=1000, paid_on=AS_OF.isoformat())) is True
    assert deliver(service, dispatch, "payments", "payment_paid",
                   {**paid, "event_id": uuid.uuid4().hex, "merchant_id": other}) is True

    view = call(service, "overview", merchant, AS_OF.isoformat())
    assert (view["mandates_signed"], view["payments_rejected"], view["plans_active"]) == (1, 1, 1)
    assert len(view["series"]) == 90 and view["series"][-1]["day"] == AS_OF.isoformat()
    day = next(row for row in view["series"] if row["day"] == due)
    assert day == {"day": due, "collected_amount": 2990, "collected_count": 1, "rejected_amount": 1500,
                   "rejected_count": 1, "mandates_signed": 1, "paid_out_amount": 0}
    assert view["series"][-1]["paid_out_amount"] == 1000

    theirs = call(service, "overview", other, AS_OF.isoformat())
    assert (theirs["mandates_signed"], theirs["plans_active"]) == (0, 0)
    assert sum(row["collected_amount"] for row in theirs["series"]) == 2990

    assert call(service, "rebuild")["facts"] >= 7
    assert call(service, "overview", merchant, AS_OF.isoformat()) == view

    with entrypoint_waiter(service, "on_plan_cancelled"):
        dispatch("plans", "plan_cancelled", event(plan_id="PL1", status="cancelled"))
    assert call(service, "overview", merchant, AS_OF.isoformat())["plans_active"] == 0


def test_an_import_s_batch_events_count_each_item_once(service, rabbit_config):
    """payments_paid, payments_rejected and r_transactions_received (a bank file's import) move
    the figures as their items would one by one; a redelivered batch, or an item already
    stored, counts once."""
    merchant = "ME" + uuid.uuid4().hex[:20].upper()
    dispatch = event_dispatcher(rabbit_config)
    due = (AS_OF - timedelta(days=2)).isoformat()
    prefix = uuid.uuid4().hex

    def payment(n, status):
        return {"event_id": f"{prefix}-{n}", "merchant_id": merchant, "payment_id": f"PM{n}", "amount": 1000 + n,
                "currency": "EUR", "due_date": due, "status": status, "at": f"{due}T07:00:00+00:00"}

    paid = {"event_id": uuid.uuid4().hex, "merchant_id": merchant,
            "payments": [payment(n, "paid") for n in range(1, 4)]}
    rejected = {"event_id": uuid.uuid4().hex, "merchant_id": merchant,
                "payments": [payment(n, "rejected") for n in range(4, 6)]}
    received = {"event_id": uuid.uuid4().hex, "merchant_id": merchant, "r_transactions": [
        {"event_id": f"{prefix}-r{n}", "merchant_id": merchant, "r_transaction_id": f"RT{n}",
         "payment_id": f"PM{n}", "amount": 1000 + n, "received_on": due} for n in range(4, 6)]}
    assert deliver(service, dispatch, "payments", "payments_paid", paid) == 3
    assert deliver(service, dispatch, "payments", "payments_paid", paid) == 0  # redelivered
    assert deliver(service, dispatch, "payments", "payments_paid",  # a new batch holding a stored item
                   {**paid, "event_id": uuid.uuid4().hex, "payments": paid["payments"][:1]}) == 0
    assert deliver(service, dispatch, "payments", "payments_rejected", rejected) == 2
    assert deliver(service, dispatch, "payments", "r_transactions_received", received) == 2

    view = call(service, "overview", merchant, AS_OF.isoformat())
    day = next(row for row in view["series"] if row["day"] == due)
    assert view["payments_rejected"] == 2
    assert (day["collected_count"], day["collected_amount"]) == (3, 1001 + 1002 + 1003)
    assert (day["rejected_count"], day["rejected_amount"]) == (2, 1004 + 1005)
    call(service, "rebuild")
    assert call(service, "overview", merchant, AS_OF.isoformat()) == view


def test_overview_refuses_a_date_that_is_not_iso(service):
    with pytest.raises(Invalid):
        call(service, "overview", "MEx", "29/03/2030")
