"""The API's list pages on PostgreSQL (common.json_pages.json_page) compile their SQL once per
shape (the filters present, a cursor or not) and run it as text with each call's values:
a call must get its own values' rows, never the previous call's, and the very page the
ORM's keyset_page reads of the same query, as the schema dumps it. A pooled connection PostgreSQL dropped
fails one call and is not handed out again."""
import json
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from common import database, json_pages
from common.migrations import upgrade
from common.schemas import list_dumper
from payments import payments
from payments.models import Payment
from contracts.payments import PaymentOut

A, B = "MEA" + "0" * 21, "MEB" + "0" * 21
MOMENT = datetime(2030, 1, 8, 6, 30, tzinfo=timezone.utc)
STATUSES = ("paid", "rejected", "submitted")


@pytest.fixture(scope="module")
def engine(infrastructure):
    with infrastructure.database("debito_json_pages") as url:
        engine = database.make_engine("payments", url)
        upgrade("payments", engine)
        with Session(engine) as session:
            for n in range(240):
                status = STATUSES[n % 3]
                session.add(Payment(
                    id=f"PM{n:030d}", merchant_id=A if n % 4 else B, plan_id=f"PL{n % 7}", instalment_key=f"K{n}",
                    mandate_id=f"MD{n % 5}", subscriber_id=f"SB{n % 6}", mandate_reference=f"RUM{n}",
                    mandate_signed_on=date(2029, 1, 1), debtor_name=f"Débiteur \"{n}\"",
                    iban="FR7630006000011234567890189", amount=1000 + n, currency="EUR", label="Abonnement",
                    due_date=date(2030, 1, 1) + timedelta(days=n % 60), sequence_type="RCUR",
                    end_to_end_id=f"E2E{n}", status=status, attempt=1, created_at=MOMENT,
                    rejected_at=MOMENT + timedelta(microseconds=n) if status == "rejected" else None))
            session.commit()
        yield engine
        engine.dispose()


def _newest(engine, merchant_id, filters):
    with Session(engine) as session:
        ids = sorted((payment.id for payment in session.query(Payment).filter_by(merchant_id=merchant_id)
                      if payment.status == filters["status"]
                      and filters.get("from_", date.min) <= payment.due_date <= filters.get("to", date.max)),
                     reverse=True)
    return ids[:filters["limit"]]


def _orm_page(engine, merchant_id, filters):
    with Session(engine) as session:
        query, filters = payments.payments_query(merchant_id, filters)
        page = database.keyset_page(session, query, Payment.id, filters)
        return list_dumper(PaymentOut)(page.items), page.next_cursor


def _json_page(engine, merchant_id, filters):
    with Session(engine) as session:
        page = payments.list_payments_json(session, merchant_id, filters)
        return json.loads(page["items_json"]), page["next_cursor"]


CALLS = [
    (A, {"status": "paid", "limit": 7}),
    (A, {"status": "rejected", "limit": 7}),  # the same shape, other values
    (B, {"status": "submitted", "limit": 7}),
    (A, {"status": "rejected", "limit": 5, "from_": date(2030, 1, 10), "to": date(2030, 2, 10)}),  # a window
    (B, {"status": "paid", "limit": 5, "from_": date(2030, 1, 3), "to": date(2030, 1, 20)}),
    (A, {"status": "paid", "limit": 4, "from_": date(2028, 1, 3), "to": date(2030, 1, 20)}),  # longer than MAX_DAYS
    (B, {"status": "paid", "limit": 4, "from_": date(2030, 1, 3)}),
    (A, {"subscriber_id": "SB1", "limit": 50}),
    (B, {"subscriber_id": "SB2", "mandate_id": "MD3", "limit": 50}),
]


def test_each_call_of_a_shape_gets_its_own_values_page_as_the_orm_reads_it(engine, monkeypatch):
    compiled = []
    compile_page = json_pages._compile_page
    monkeypatch.setattr(json_pages, "_page_sql", {})
    monkeypatch.setattr(json_pages, "_compile_page",
                        lambda *args: compiled.append((args[1].key, args[3])) or compile_page(*args))
    calls = 0
    for merchant_id, filters in CALLS:
        expected = _orm_page(engine, merchant_id, filters)
        assert expected[0], (merchant_id, filters)
        got = _json_page(engine, merchant_id, filters)
        calls += 1
        assert got == expected, (merchant_id, filters)
        assert {item["merchant_id"] for item in got[0]} == {merchant_id}
        if filters.get("status"):  # the window's newest, read plainly
            assert [item["id"] for item in got[0]] == _newest(engine, merchant_id, filters)
        # the next page, by the cursor, too
        following = {**filters, "cursor": expected[1]}
        if expected[1]:
            assert _json_page(engine, merchant_id, following) == _orm_page(engine, merchant_id, following)
            calls += 1
    # one compilation per shape (with a cursor or not): the three status lists share theirs,
    # the two windows (the same limit) theirs
    assert len(compiled) == len(set(compiled)) == 10 < calls


def test_a_connection_dropped_mid_burst_fails_one_page_and_is_not_handed_out_again(engine, monkeypatch):
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 60)
    filters = {"status": "paid", "limit": 3}
    _json_page(engine, A, filters)
    with engine.connect() as connection:
        pids = {row[0] for row in connection.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))}
        for pid in pids:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    time.sleep(0.2)
    failures = 0
    for _ in range(len(pids) + 2):
        try:
            assert _json_page(engine, A, filters) == _orm_page(engine, A, filters)
        except Exception:  # noqa: BLE001 - psycopg2's OperationalError, or SQLAlchemy's around it
            failures += 1
    assert failures <= len(pids)
    assert _json_page(engine, A, filters) == _orm_page(engine, A, filters)


def test_a_services_first_call_a_search_whose_pattern_escapes_its_own_percent_sign(infrastructure):
    """The page's SQL is compiled before any query of a new engine: it must still write its
    literals (the LIKE's escape character) as this server reads them."""
    from mandates import mandates
    from mandates.models import Mandate, Subscriber
    from contracts.mandates import MandateListItemOut

    with infrastructure.database("debito_json_pages_mandates") as url:
        engine = database.make_engine("mandates", url)
        upgrade("mandates", engine)
        with Session(engine) as session:
            for n, reference in enumerate(("C-10%", "C-10", "C-1001", "C_10%x", "D-10")):
                session.add(Subscriber(id=f"SB{n:030d}", merchant_id=A, customer_reference=reference,
                                       name=f"Nom {n}", search_text=f"nom {n} {reference.lower()} 100%",
                                       created_at=MOMENT))
                session.add(Mandate(id=f"MD{n:030d}", merchant_id=A, subscriber_id=f"SB{n:030d}",
                                    reference=f"RUM{n}", iban="FR7630006000011234567890189",
                                    signature_method="paper", signed_at=MOMENT, status="active", created_at=MOMENT))
            session.commit()
        engine.dispose()
        json_pages._page_sql.clear()
        fresh = database.make_engine("mandates", url)  # no connection made yet
        try:
            for filters, references in (({"customer_reference": "C-10%", "limit": 10}, ["C-10%"]),
                                        ({"customer_reference": "C-10", "limit": 10}, ["C-1001", "C-10", "C-10%"]),
                                        ({"customer_reference": "C_", "limit": 10}, ["C_10%x"]),
                                        ({"q": "0%", "limit": 10}, ["D-10", "C_10%x", "C-1001", "C-10", "C-10%"])):
                with Session(fresh) as session:
                    page = mandates.list_mandates_json(session, A, filters)
                    orm = list_dumper(MandateListItemOut)(database.keyset_page(
                        session, mandates.mandates_query(A, filters), Mandate.id, filters).items)
                got = json.loads(page["items_json"])
                assert [item["customer_reference"] for item in got] == references, filters
                assert got == orm
        finally:
            fresh.dispose()
