"""The reporting read models as plain functions on PostgreSQL (rolled back): facts applied give
the counters and the 90-day series, an event stored twice counts once, a
rebuild from the stored facts gives the live figures, tenancy."""
import json
import random
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from common.idempotency import first_delivery
from reporting import figures
from reporting.models import Counters, DailyFigures, Fact, processed_events

A, B = "MEaaaa", "MEbbbb"
AS_OF = date(2027, 3, 31)


@pytest.fixture
def session(monkeypatch, db_session):
    monkeypatch.setenv("DEBITO_CLOCK", "2027-03-31T12:00:00+00:00")
    yield db_session("reporting")


def event(merchant=A, **fields):
    return {"event_id": uuid.uuid4().hex, "merchant_id": merchant, **fields}


def signed(merchant=A, on="2027-03-01"):
    return "mandates", "mandate_signed", event(merchant, mandate_id="MD1", signed_at=f"{on}T09:30:00+00:00")


def revoked(merchant=A, on="2027-03-02"):
    return "mandates", "mandate_revoked", event(merchant, mandate_id="MD1", revoked_at=f"{on}T10:00:00+00:00")


def expired(merchant=A, on="2027-03-02"):
    return "mandates", "mandate_expired", event(merchant, mandate_id="MD1", expired_at=f"{on}T01:00:00+00:00")


def plan(name, merchant=A):
    return "plans", name, event(merchant, plan_id="PL1", status="active", amount=2990, next_due_date=None)


def payment(name, merchant=A, amount=2990, due="2027-03-10"):
    return "payments", name, event(merchant, payment_id="PM1", amount=amount, due_date=due,
                                   at="2027-03-31T08:00:00+00:00")


def r_transaction(merchant=A, amount=2990, on="2027-03-12"):
    return "payments", "r_transaction_received", event(merchant, payment_id="PM1", amount=amount,
                                                       received_on=on, type="return", reason_code="AM04")


def payout(merchant=A, amount=50000, on="2027-03-20"):
    return "payments", "payout_paid", event(merchant, payout_id="PO1", amount=amount, paid_on=on)


def receive(session, fact):
    """What a handler does: first delivery, store, apply, commit."""
    service, name, payload = fact
    if not first_delivery(session, processed_events, payload["event_id"], f"{service}.{name}"):
        return False
    stored = figures.record(session, service, name, payload)
    session.commit()
    return stored is not None


def day_of(view, day):
    return next(row for row in view["series"] if row["day"] == day)


def test_facts_applied_give_the_counters_and_the_days_figures(session):
    for fact in (signed(on="2027-03-01"), signed(on="2027-03-01"), signed(on="2027-03-05"), revoked(),
                 expired(), signed(on="2027-03-06"),
                 plan("plan_created"), plan("plan_created"), plan("plan_created"),
                 plan("plan_cancelled"), plan("plan_completed"),
                 payment("payment_paid", amount=1000), payment("payment_paid", amount=2500),
                 payment("payment_rejected", amount=700), r_transaction(amount=700),
                 payout(amount=3000)):
        assert receive(session, fact)
    view = figures.overview(session, A, AS_OF)
    assert (view["mandates_signed"], view["payments_rejected"], view["plans_active"]) == (2, 1, 1)
    assert day_of(view, "2027-03-01")["mandates_signed"] == 2
    assert day_of(view, "2027-03-05")["mandates_signed"] == 1
    assert day_of(view, "2027-03-02")["mandates_signed"] == 0  # a revocation lowers the counter only
    assert day_of(view, "2027-03-10") == {
        "day": "2027-03-10", "collected_amount": 3500, "collected_count": 2, "rejected_amount": 700,
        "rejected_count": 1, "mandates_signed": 0, "paid_out_amount": 0}
    # the R-transaction is the same rejection: stored, not counted again on its day
    assert day_of(view, "2027-03-12")["rejected_count"] == 0
    assert day_of(view, "2027-03-20")["paid_out_amount"] == 3000


def test_the_day_of_a_fact_comes_from_its_payload(session):
    _, _, late = signed(on="2027-03-01")
    late["signed_at"] = "2027-03-01T23:30:00-02:00"  # 1:30 UTC on 2 March
    assert figures.occurred_on("mandates", "mandate_signed", late) == date(2027, 3, 2)
    assert figures.occurred_on("payments", "payment_paid", payment("payment_paid", due="2027-01-15")[2]) \
        == date(2027, 1, 15)
    assert figures.occurred_on("payments", "r_transaction_received", r_transaction(on="2027-02-03")[2]) \
        == date(2027, 2, 3)
    assert figures.occurred_on("plans", "plan_created", plan("plan_created")[2]) == AS_OF  # no date: received


def test_the_same_event_twice_counts_once(session):
    facts = [signed(), plan("plan_created"), payment("payment_paid"), payment("payment_rejected"), payout()]
    for fact in facts:
        assert receive(session, fact)
    before = figures.overview(session, A, AS_OF)
    for fact in facts:
        assert not receive(session, fact)
    # even past a lost processed_events row, the fact's unique event id refuses it
    service, name, payload = facts[2]
    assert figures.record(session, service, name, payload) is None
    assert figures.overview(session, A, AS_OF) == before


def test_the_series_is_90_days_ending_as_of_zero_filled(session):
    receive(session, payment("payment_paid", due="2027-01-01", amount=100))  # day 1 of the 90
    receive(session, payment("payment_paid", due="2026-12-31", amount=999))  # the day before: out
    receive(session, payment("payment_paid", due="2027-04-01", amount=999))  # after as_of: out
    view = figures.overview(session, A, AS_OF)
    days = [row["day"] for row in view["series"]]
    assert len(days) == 90 and days[0] == "2027-01-01" and days[-1] == "2027-03-31"
    assert days == [(date(2027, 1, 1) + timedelta(days=i)).isoformat() for i in range(90)]
    assert view["series"][0]["collected_amount"] == 100
    assert sum(row["collected_amount"] for row in view["series"]) == 100
    assert all(row[field] == 0 for row in view["series"][1:] for field in figures.SERIES_FIELDS)


def test_a_merchant_with_nothing_sees_zeros(session):
    view = figures.overview(session, B, AS_OF)
    assert (view["mandates_signed"], view["payments_rejected"], view["plans_active"]) == (0, 0, 0)
    assert len(view["series"]) == 90
    assert all(row[field] == 0 for row in view["series"] for field in figures.SERIES_FIELDS)


def test_merchant_b_never_sees_the_figures_of_a(session):
    for fact in (signed(A), plan("plan_created", A), payment("payment_paid", A),
                 payment("payment_rejected", A), payout(A)):
        receive(session, fact)
    receive(session, payment("payment_paid", B, amount=5, due="2027-03-10"))
    a, b = figures.overview(session, A, AS_OF), figures.overview(session, B, AS_OF)
    assert (b["mandates_signed"], b["payments_rejected"], b["plans_active"]) == (0, 0, 0)
    assert sum(row["collected_amount"] for row in b["series"]) == 5
    assert sum(row["paid_out_amount"] + row["rejected_amount"] + row["mandates_signed"]
               for row in b["series"]) == 0
    assert sum(row["collected_amount"] for row in a["series"]) == 2990


def random_fact(rng, merchants):
    merchant = rng.choice(merchants)
    on = (AS_OF - timedelta(days=rng.randrange(120))).isoformat()
    kind = rng.randrange(10)
    if kind == 0:
        return signed(merchant, on)
    if kind == 1:
        return revoked(merchant, on)
    if kind == 2:
        return expired(merchant, on)
    if kind in (3, 4, 5):
        return plan(rng.choice(["plan_created", "plan_created", "plan_cancelled", "plan_completed"]), merchant)
    if kind == 6:
        return payment("payment_paid", merchant, rng.randrange(1, 100000), on)
    if kind == 7:
        return payment("payment_rejected", merchant, rng.randrange(1, 100000), on)
    if kind == 8:
        return r_transaction(merchant, rng.randrange(1, 100000), on)
    return payout(merchant, rng.randrange(1, 1000000), on)


def snapshot(session):
    rows = session.scalars(select(DailyFigures).order_by(DailyFigures.merchant_id, DailyFigures.day)).all()
    counters = session.scalars(select(Counters).order_by(Counters.merchant_id)).all()
    return ([(r.merchant_id, r.day, r.collected_count, r.collected_amount, r.rejected_count, r.rejected_amount,
              r.mandates_signed, r.paid_out_amount) for r in rows],
            [(c.merchant_id, c.mandates_signed, c.payments_rejected, c.plans_active) for c in counters])


def test_a_rebuild_from_the_stored_facts_gives_the_live_figures(session):
    rng = random.Random(20270331)
    merchants = [A, B, "MEcccc"]
    facts = [random_fact(rng, merchants) for _ in range(400)]
    facts += rng.sample(facts, 40)  # redeliveries
    for fact in facts:
        receive(session, fact)
    live = snapshot(session)
    views = {m: figures.overview(session, m, AS_OF) for m in merchants}
    assert live[0] and len(live[1]) == 3

    # the figures lost (or wrong): the facts alone bring them back
    session.execute(DailyFigures.__table__.update().values(collected_amount=0))
    session.commit()
    assert figures.rebuild(session, batch=37) == {"facts": 400}
    session.commit()
    assert snapshot(session) == live
    assert {m: figures.overview(session, m, AS_OF) for m in merchants} == views

    # the expected totals, recomputed from the facts independently
    unique = {payload["event_id"]: (service, name, payload) for service, name, payload in facts}.values()
    paid = sum(p["amount"] for s, n, p in unique if n == "payment_paid" and p["merchant_id"] == A)
    assert sum(r[3] for r in live[0] if r[0] == A) == paid
    plans_a = sum({"plan_created": 1, "plan_cancelled": -1, "plan_completed": -1}.get(n, 0)
                  for s, n, p in unique if p["merchant_id"] == A)
    assert views[A]["plans_active"] == plans_a


def test_a_fact_keeps_the_event_as_received(session):
    service, name, payload = payout()
    receive(session, (service, name, payload))
    fact = session.scalars(select(Fact)).one()
    assert (fact.service, fact.name, fact.merchant_id, fact.occurred_on) == (
        "payments", "payout_paid", A, date(2027, 3, 20))
    assert json.loads(fact.payload) == payload
