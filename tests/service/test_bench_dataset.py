"""The bench dataset (bench/dataset.py) at a tiny scale: its counts, its tenancy (merchant
B's rows never show in A's answers), and the services' own list functions read its rows.
The lists read as the services answer them: JSON text rendered by PostgreSQL (common.json_pages).
The load runs in a process of its own (COPY; psycopg2 is green under the suite)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from bench.common import throwaway_database
from common.database import keyset_page, make_engine
from common.json_pages import page_data
from common.schemas import dump_page, load

ROOT = Path(__file__).resolve().parents[2]
SCALE = 0.002  # 400 subscribers, 2 000 payments, 100 R-transactions


@pytest.fixture(scope="module")
def loaded(infrastructure, tmp_path_factory):
    output = tmp_path_factory.mktemp("dataset") / "dataset.json"
    with throwaway_database(infrastructure.postgres_url) as url:
        result = subprocess.run([sys.executable, "-m", "bench.dataset", "--scale", str(SCALE), "--into", url,
                                 "--output", str(output)], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        engines = {}
        try:
            yield url, json.loads(output.read_text()), engines
        finally:
            for engine in engines.values():
                engine.dispose()


def session_of(loaded, owner):
    url, _, engines = loaded
    if owner not in engines:
        engines[owner] = make_engine(owner, url)
    return sessionmaker(bind=engines[owner])()


def test_counts_of_both_merchants(loaded):
    url, data, _ = loaded
    assert data["counts"] == {"mandates.subscribers": 400, "mandates.mandates": 400, "plans.plans": 360,
                              "plans.instalments": 2000, "payments.payments": 2000, "payments.r_transactions": 100,
                              "payments.ledger_entries": data["counts"]["payments.ledger_entries"]}
    assert 1700 < data["counts"]["payments.ledger_entries"] < 2000  # collected, plus returns
    with session_of(loaded, "payments") as session:
        def count(sql):
            return session.execute(text(sql), {"m": data["merchant_id"]}).scalar()

        assert count("SELECT count(*) FROM payments WHERE merchant_id = :m") == 2000
        statuses = dict(session.execute(text("SELECT status, count(*) FROM payments WHERE merchant_id = :m "
                                             "GROUP BY status"), {"m": data["merchant_id"]}).all())
        assert statuses["rejected"] == 100 and statuses["paid"] > 1500 and statuses["scheduled"] > 0
        # every R-transaction is on a rejected payment of the same merchant; returns took their credit back
        assert count("SELECT count(*) FROM r_transactions r JOIN payments p ON p.id = r.payment_id "
                     "AND p.merchant_id = r.merchant_id WHERE r.merchant_id = :m AND p.status = 'rejected'") == 100
        assert count("SELECT count(*) FROM ledger_entries WHERE merchant_id = :m AND code IN ('RET', 'REF')") == \
            count("SELECT count(*) FROM r_transactions WHERE merchant_id = :m AND type <> 'reject'")
        assert count("SELECT count(*) FROM ledger_entries l JOIN payments p ON p.id = l.payment_id "
                     "WHERE l.merchant_id = :m AND l.code = 'SDD' AND p.status NOT IN ('paid', 'rejected')") == 0
        assert count("SELECT count(*) FROM creditors WHERE merchant_id = :m") == 1
    assert data["other_counts"]["payments.payments"] == 20
    assert data["other_counts"]["mandates.subscribers"] == 10


def test_the_other_merchant_never_shows(loaded):
    from mandates.mandates import list_mandates_json
    from contracts.mandates import MandateFiltersIn
    from payments.payments import list_payments_json
    from contracts.payments import PaymentFiltersIn

    _, data, _ = loaded
    # the same customer reference exists at both merchants: each sees its own subscriber only
    with session_of(loaded, "mandates") as session:
        def owner(merchant_id):
            (mandate,) = page_data(list_mandates_json(session, merchant_id, load(MandateFiltersIn, {
                "customer_reference": "C-0000008"})))["items"]
            return session.execute(text("SELECT merchant_id FROM mandates WHERE id = :id"),
                                   {"id": mandate["id"]}).scalar_one()
        assert owner(data["merchant_id"]) == data["merchant_id"]
        assert owner(data["other_merchant_id"]) == data["other_merchant_id"]
    with session_of(loaded, "payments") as session:
        page = page_data(list_payments_json(session, data["merchant_id"], load(PaymentFiltersIn, {"limit": 500})))
        assert {p["merchant_id"] for p in page["items"]} == {data["merchant_id"]}
    with session_of(loaded, "payments") as session:
        for table in ("payments", "r_transactions", "ledger_entries"):
            merchants = set(session.execute(text(f"SELECT DISTINCT merchant_id FROM {table}")).scalars())
            assert merchants == {data["merchant_id"], data["other_merchant_id"]}


def test_the_services_list_calls_read_the_rows(loaded):
    from mandates.mandates import get_mandate, list_mandates_json
    from contracts.mandates import MandateFiltersIn, SubscriberDetailOut, SubscriberFiltersIn
    from mandates.subscribers import get_subscriber, list_subscribers
    from payments.payments import get_payment, list_payments_json, list_r_transactions_json
    from contracts.payments import PaymentFiltersIn, RTransactionFiltersIn
    from plans.plans import get_plan, list_plans_json
    from contracts.plans import PlanFiltersIn

    _, data, _ = loaded
    merchant = data["merchant_id"]
    with session_of(loaded, "mandates") as session:
        page = page_data(list_mandates_json(session, merchant, load(MandateFiltersIn, {
            "customer_reference": "C-000001"})))  # a prefix: C-0000010 … C-0000019
        assert sorted(m["customer_reference"] for m in page["items"]) == [f"C-00000{n}" for n in range(10, 20)]
        assert all(m["iban"] and m["reference"].startswith("DBT-") for m in page["items"])
        get_mandate(session, merchant, page["items"][0]["id"])
        found = list_subscribers(session, merchant, load(SubscriberFiltersIn, {"q": "zoe"}))
        assert found.items and all("Zoë" in s.name for s in found.items)
        subscriber = SubscriberDetailOut().dump(get_subscriber(session, merchant, data["sample"]["subscriber_id"]))
        assert subscriber["customer_reference"] == data["sample"]["customer_reference"]
        assert len(subscriber["mandates"]) == 1
    with session_of(loaded, "payments") as session:
        def payments(**filters):
            return page_data(list_payments_json(session, merchant, load(PaymentFiltersIn, filters)))
        rejected = payments(status="rejected")
        assert len(rejected["items"]) == 50 and rejected["next_cursor"]
        second = payments(status="rejected", cursor=rejected["next_cursor"])
        assert len(second["items"]) == 50 and not {p["id"] for p in second["items"]} & {
            p["id"] for p in rejected["items"]}
        detail = get_payment(session, merchant, rejected["items"][0]["id"])
        assert len(detail["r_transactions"]) == 1 and detail["r_transactions"][0]["reason_code"]
        returns = page_data(list_r_transactions_json(session, merchant, load(RTransactionFiltersIn, {
            "reason_code": "MD06"})))
        assert returns["items"] and {r["type"] for r in returns["items"]} == {"refund"}
        assert payments(subscriber_id=data["sample"]["subscriber_id"])["items"]
    with session_of(loaded, "plans") as session:
        def plans(**filters):
            return page_data(list_plans_json(session, merchant, load(PlanFiltersIn, filters)))
        quarterly = plans(frequency="quarterly")
        assert quarterly["items"] and {p["frequency"] for p in quarterly["items"]} == {"quarterly"}
        plan = get_plan(session, merchant, quarterly["items"][0]["id"])
        assert plan is not None
        assert len(plans(subscriber_id=data["sample"]["subscriber_id"])["items"]) == 1


def test_a_status_in_a_due_date_window_pages_by_keyset_without_gaps_or_repeats(loaded):
    """payments.list_payments_json with a status and from/to reads the window first, then pages it
    newest first: the pages, followed by cursor, are exactly the window's rows in id order."""
    from datetime import date, timedelta

    from payments.payments import list_payments_json
    from contracts.payments import PaymentFiltersIn

    _, data, _ = loaded
    merchant, today = data["merchant_id"], date.fromisoformat(data["today"])
    start, end = today - timedelta(days=200), today - timedelta(days=100)
    with session_of(loaded, "payments") as session:
        expected = list(session.execute(text(
            "SELECT id FROM payments WHERE merchant_id = :m AND status = 'rejected' AND due_date >= :f "
            "AND due_date <= :t ORDER BY id DESC"), {"m": merchant, "f": start, "t": end}).scalars())
        assert len(expected) > 15
        seen, cursor = [], None
        while True:
            filters = {"status": "rejected", "from": start.isoformat(), "to": end.isoformat(), "limit": 7}
            page = page_data(list_payments_json(session, merchant, load(PaymentFiltersIn, {**filters, **(
                {"cursor": cursor} if cursor else {})})))
            assert all(p["status"] == "rejected" and start <= date.fromisoformat(p["due_date"]) <= end
                       for p in page["items"])
            seen += [p["id"] for p in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == expected
        other = page_data(list_payments_json(session, data["other_merchant_id"], load(PaymentFiltersIn, {
            "status": "paid", "from": start.isoformat(), "to": end.isoformat(), "limit": 500})))
        assert other["items"] and {p["merchant_id"] for p in other["items"]} == {data["other_merchant_id"]}


def test_the_api_pages_rendered_by_postgresql_are_the_schemas_pages(loaded):
    """list_*_json (common.json_pages: JSON text written by PostgreSQL) gives, page after page,
    exactly what the marshmallow schema gives for the rows the ORM reads of the same query
    (common.database.keyset_page), and the same cursors."""
    from mandates.mandates import list_mandates_json, mandates_query
    from mandates.models import Mandate
    from contracts.mandates import MandateFiltersIn, MandateListItemOut
    from payments.models import Payment, RTransaction
    from payments.payments import list_payments_json, list_r_transactions_json, payments_query, r_transactions_query
    from contracts.payments import PaymentFiltersIn, PaymentOut, RTransactionFiltersIn, RTransactionOut
    from plans.models import Plan
    from plans.plans import list_plans_json, plans_query
    from contracts.plans import PlanFiltersIn, PlanOut

    def orm(query_of, id_column, with_filters=False):
        """The page keyset_page reads of the list's query (payments_query also answers its filters)."""
        def listed(session, merchant_id, filters):
            query, filters = query_of(merchant_id, filters) if with_filters else (query_of(merchant_id, filters),
                                                                                  filters)
            return keyset_page(session, query, id_column, filters)
        return listed

    _, data, _ = loaded
    cases = [
        ("payments", orm(payments_query, Payment.id, with_filters=True), list_payments_json, PaymentOut, PaymentFiltersIn,
         [{"status": "rejected", "limit": 40}, {"limit": 500}, {"subscriber_id": data["sample"]["subscriber_id"]},
          {"status": "rejected", "from": "2020-01-01", "to": data["today"], "limit": 30}]),
        ("payments", orm(r_transactions_query, RTransaction.id), list_r_transactions_json, RTransactionOut,
         RTransactionFiltersIn,
         [{"limit": 30}, {"reason_code": "am04"}]),
        ("mandates", orm(mandates_query, Mandate.id), list_mandates_json, MandateListItemOut, MandateFiltersIn,
         [{"customer_reference": "C-00001"}, {"status": "revoked", "limit": 20}, {"q": "zoë"}]),
        ("plans", orm(plans_query, Plan.id), list_plans_json, PlanOut, PlanFiltersIn,
         [{"frequency": "quarterly", "limit": 20}, {"status": "cancelled"}]),
    ]
    for owner, listed, rendered, schema, filters_in, variants in cases:
        for variant in variants:
            cursor, pages = None, 0
            while pages < 4:
                filters = load(filters_in, {**variant, **({"cursor": cursor} if cursor else {})})
                with session_of(loaded, owner) as session:
                    expected = dump_page(schema, listed(session, data["merchant_id"], filters))
                with session_of(loaded, owner) as session:
                    page = rendered(session, data["merchant_id"], filters)
                assert json.loads(page["items_json"]) == expected["items"], (rendered.__name__, variant)
                assert page["next_cursor"] == expected["next_cursor"]
                assert expected["items"] or pages  # each variant finds rows
                cursor, pages = expected["next_cursor"], pages + 1
                if not cursor:
                    break
