"""The collection cycle in batches, as plain functions on PostgreSQL, rolled back (issue 8): plans hands
over its due instalments a page at a time, each exactly once; payments announces its
payments in batch events per merchant; reporting applies a batch event of N payments
as N events would, and its redelivery changes nothing."""
import json
import uuid
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from common.schemas import load
from payments import events as payment_events
from plans import plans
from plans.models import Instalment
from contracts.plans import PlanIn
from reporting import figures
from reporting.models import Fact

A, B = "MEaaaa", "MEbbbb"


@pytest.fixture
def session_of(db_session):
    """session_of(owner): a rolled-back session of its own on that owner's schema (two of them
    see nothing of each other's work)."""
    return db_session


@pytest.fixture
def clock(monkeypatch):
    monkeypatch.setenv("DEBITO_CLOCK", "2027-01-04T12:00:00+00:00")


def create(session, merchant, mandate_id, **fields):
    payload = {"mandate_id": mandate_id, "label": "Yoga", "amount": 2990, "frequency": "monthly",
               "start_date": "2027-02-01", "count": 3, **fields}
    return plans.create_plan(session, merchant, load(PlanIn, payload),
                             {"id": mandate_id, "subscriber_id": "SB" + mandate_id, "status": "active"})


def test_pages_of_due_instalments_hand_over_each_once_as_one_call_would(clock, session_of):
    paged, whole = session_of("plans"), session_of("plans")
    for session in (paged, whole):
        for n in range(23):
            create(session, A if n % 2 else B, f"MD{n:03d}", frequency="weekly" if n % 5 == 0 else "monthly",
                   start_date="2027-01-20" if n % 3 == 0 else "2027-02-01")
        session.commit()
    as_of = date(2027, 1, 25)
    expected = plans.due_instalments(whole, as_of)
    handed, calls = [], 0
    while True:  # what payments.collect does: a page, its acknowledgment, the next page
        page = plans.due_instalments(paged, as_of, batch_size=4, limit=7)
        calls += 1
        handed += page
        plans.acknowledge(paged, [i["key"] for i in page])
        if len(page) < 7:
            break
    assert calls > 2
    strip = lambda items: sorted((i["mandate_id"], i["sequence_no"], i["due_date"], i["is_last"],  # noqa: E731
                                  i["merchant_id"], i["amount"]) for i in items)
    assert strip(handed) == strip(expected) and len({i["key"] for i in handed}) == len(handed)
    assert plans.due_instalments(paged, as_of, limit=7) == []
    # the plans moved on as one call moves them: same next due dates and issue days
    state = lambda session: sorted((p.mandate_id, p.next_sequence, p.issue_on, p.next_due_date)  # noqa: E731
                                   for p in session.scalars(select(plans.Plan)))
    assert state(paged) == state(whole)


def test_a_page_not_acknowledged_is_handed_over_again_never_issued_twice(clock, session_of):
    session = session_of("plans")
    for n in range(5):
        create(session, A, f"MD{n}")
    first = plans.due_instalments(session, date(2027, 1, 20), limit=3)
    assert len(first) >= 3
    again = plans.due_instalments(session, date(2027, 1, 20), limit=10)
    assert {i["key"] for i in first} <= {i["key"] for i in again}  # the lost page comes back
    assert session.scalar(select(func.count()).select_from(Instalment)) == 5  # issued once each
    plans.acknowledge(session, [i["key"] for i in again])
    assert plans.due_instalments(session, date(2027, 1, 20), limit=10) == []


def test_payments_are_announced_in_batches_per_merchant():
    def payment(merchant, n):
        return SimpleNamespace(merchant_id=merchant, id=f"PM{n}", plan_id="PL1", mandate_id="MD1",
                               subscriber_id="SB1", amount=100 + n, currency="EUR", due_date=date(2027, 2, 1),
                               sequence_type="FRST", end_to_end_id=f"PM{n}", status="scheduled", replay_of=None,
                               attempt=1, bank_file_id=None, cancelled_at=None, rejected_at=None, paid_at=None,
                               submitted_at=None, created_at=None)

    batches = list(payment_events.payments_events(
        (payment(A if n % 3 else B, n) for n in range(10)), 3))
    assert [(b["merchant_id"], len(b["payments"])) for b in batches] == [
        (A, 3), (B, 3), (A, 3), (B, 1)]
    assert sorted(p["payment_id"] for b in batches for p in b["payments"]) == sorted(f"PM{n}" for n in range(10))
    assert all(p["merchant_id"] == b["merchant_id"] for b in batches for p in b["payments"])
    assert len({b["event_id"] for b in batches}) == 4
    assert len({p["event_id"] for b in batches for p in b["payments"]}) == 10


def paid(merchant, amount, due):
    return {"event_id": uuid.uuid4().hex, "merchant_id": merchant, "payment_id": "PM" + uuid.uuid4().hex[:8],
            "amount": amount, "currency": "EUR", "due_date": due, "status": "paid",
            "at": "2027-03-30T07:00:00+00:00"}


def test_one_batch_of_n_payments_gives_the_figures_of_n_events_and_its_redelivery_changes_nothing(
        monkeypatch, session_of):
    monkeypatch.setenv("DEBITO_CLOCK", "2027-03-31T12:00:00+00:00")
    batched = session_of("reporting")
    payloads = [paid(A if n % 4 else B, 1000 + n, (date(2027, 3, 1) + timedelta(days=n % 6)).isoformat())
                for n in range(40)]
    rejected = [{**paid(A, 500 + n, "2027-03-03"), "status": "rejected"} for n in range(5)]

    def view(session):
        return [figures.overview(session, merchant, date(2027, 3, 31)) for merchant in (A, B)]

    one_by_one = batched.begin_nested()  # the same events one by one, then undone
    for payload in payloads:
        assert figures.record(batched, "payments", "payment_paid", payload) is not None
    for payload in rejected:
        figures.record(batched, "payments", "payment_rejected", payload)
    batched.flush()
    expected = view(batched)
    one_by_one.rollback()
    assert figures.record_batch(batched, "payments", "payment_paid", payloads) == 40
    assert figures.record_batch(batched, "payments", "payment_rejected", rejected) == 5
    batched.commit()
    before = view(batched)
    assert before == expected
    assert sum(row["collected_count"] for row in before[0]["series"]) == 30
    assert before[0]["payments_rejected"] == 5
    # the same batch again (a redelivery that passed the processed_events check), or part of it
    assert figures.record_batch(batched, "payments", "payment_paid", payloads) == 0
    assert figures.record_batch(batched, "payments", "payment_paid", payloads[:7] + payloads[:7]) == 0
    batched.commit()
    assert view(batched) == before
    assert batched.scalar(select(func.count()).select_from(Fact)) == 45
    # a rebuild from the stored facts gives the same figures
    figures.rebuild(batched)
    batched.commit()
    assert view(batched) == before


def test_scheduled_and_submitted_facts_are_stored_one_per_payment_and_move_no_figure(monkeypatch, session_of):
    monkeypatch.setenv("DEBITO_CLOCK", "2027-03-31T12:00:00+00:00")
    session = session_of("reporting")
    payloads = [{**paid(A, 100, "2027-04-01"), "status": "submitted"} for _ in range(3)]
    assert figures.record_batch(session, "payments", "payment_submitted", payloads) == 3
    session.commit()
    stored = session.scalars(select(Fact).order_by(Fact.id)).all()
    assert [f.name for f in stored] == ["payment_submitted"] * 3
    assert [json.loads(f.payload)["event_id"] for f in stored] == [p["event_id"] for p in payloads]
    assert stored[0].occurred_on == date(2027, 3, 30)  # `at`
    view = figures.overview(session, A, date(2027, 3, 31))
    assert all(row[field] == 0 for row in view["series"] for field in figures.SERIES_FIELDS)


def test_mandates_debit_views_answer_a_page_of_the_merchants_mandates_only(session_of):
    from datetime import datetime, timezone

    from mandates import mandates
    from mandates.models import Mandate, Subscriber

    session = session_of("mandates")
    now = datetime(2029, 6, 1, 10, tzinfo=timezone.utc)
    for merchant, n in ((A, 1), (A, 2), (B, 3)):
        session.add(Subscriber(id=f"SB{n}", merchant_id=merchant, customer_reference=f"C{n}", name=f"Zoë {n}",
                               email=f"z{n}@example.test", search_text=f"zoe {n}", created_at=now))
        session.add(Mandate(id=f"MD{n}", merchant_id=merchant, subscriber_id=f"SB{n}", reference=f"DBT-{n}",
                            iban="FR7630006000011234567890189", bic="AGRIFRPP", signature_method="paper",
                            signed_at=now, sequence="recurrent", status="active", created_at=now))
    session.commit()
    views = mandates.debit_views(session, A, ["MD1", "MD2", "MD3", "MDX"])
    assert [v["id"] for v in views] == ["MD1", "MD2"]  # another merchant's and unknown ids left out
    assert views[0] == {"id": "MD1", "subscriber_id": "SB1", "status": "active", "reference": "DBT-1",
                        "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP", "sequence": "recurrent",
                        "signed_at": "2029-06-01T10:00:00+00:00",
                        "subscriber": {"name": "Zoë 1", "email": "z1@example.test"}}


def test_fresh_pages_each_after_the_last_then_the_unacknowledged_as_payments_pipelines_them(clock, session_of):
    paged, whole = session_of("plans"), session_of("plans")
    for session in (paged, whole):
        for n in range(17):
            create(session, A, f"MD{n:03d}", start_date="2027-01-20" if n % 3 == 0 else "2027-02-01")
        session.commit()
    as_of = date(2027, 1, 25)
    expected = {(i["mandate_id"], i["sequence_no"]) for i in plans.due_instalments(whole, as_of)}
    handed, after = [], None
    while True:  # the next page is asked before this one is acknowledged
        page = plans.due_instalments(paged, as_of, batch_size=3, limit=4, fresh=True, after=after)
        handed += page
        if len(page) < 4:
            break
        after = page[-1]["plan_id"]
    assert {(i["mandate_id"], i["sequence_no"]) for i in handed} == expected and len(handed) == len(expected)
    # nothing acknowledged yet: the non-fresh call hands them all over again, issues nothing new
    again = plans.due_instalments(paged, as_of, limit=100)
    assert sorted(i["key"] for i in again) == sorted(i["key"] for i in handed)
    assert paged.scalar(select(func.count()).select_from(Instalment)) == len(expected)
