"""Balance, statement and payouts through the API, after debits went through
the bank: the statement reconciles, payouts never exceed what is available."""
from datetime import timedelta

import pytest

from common.calendar import add_business_days, next_business_day
from harness.api import assert_error, import_mandate, unique
from harness.bank import walk
from harness.days import business_day_ahead

pytestmark = pytest.mark.cluster


def test_statement_and_balance_follow_the_ledger(bank_cluster):
    cluster = bank_cluster
    merchant = cluster.create_merchant(name="Atelier Calder")
    api = cluster.api(merchant["api_key"])
    due = business_day_ahead(25)
    for iban, amount in (("DE89370400440532013000", 4990), ("FR7630006000010000000060292", 2500)):
        mandate = import_mandate(api, iban=iban, subscriber={"customer_reference": unique("M"),
                                                             "name": "Débiteur " + iban[-4:]})
        assert api.post("/payments", json={"mandate_id": mandate["id"], "amount": amount,
                                           "due_date": due.isoformat(), "label": "Atelier"}).status_code == 201
    walk(cluster, due, 3)  # credited on the due date, the 60292 debit returned MS02 two days later

    period = {"from": (due - timedelta(days=1)).isoformat(), "to": add_business_days(due, 3).isoformat()}
    statement = api.get("/statement", params=period).json()
    assert statement["opening_balance"] == 0
    assert sorted((e["code"], e["amount"]) for e in statement["entries"]) == [
        ("RET", -2500), ("SDD", 2500), ("SDD", 4990)]
    assert statement["closing_balance"] == statement["opening_balance"] + sum(
        e["amount"] for e in statement["entries"])
    assert statement["entries"][-1]["balance"] == statement["closing_balance"] == 4990

    later = add_business_days(due, 20).isoformat()
    balance = api.get("/balance", params={"as_of": later}).json()
    assert balance["balance"] == 4990 and balance["available"] == 4990 and balance["reserved"] == 0
    assert api.get("/balance", params={"as_of": due.isoformat()}).json()["reserved"] == 4990 + 2500

    assert_error(api.get("/statement", params={"from": period["to"], "to": period["from"]}), 422, "from")

    # reporting's read model, fed by events, says the same (its day is the debit's due date)
    import time

    deadline = time.monotonic() + 15
    while api.get("/overview").json()["payments_rejected"] != 1 and time.monotonic() < deadline:
        time.sleep(0.3)
    figures = api.get("/overview").json()
    # both one-off plans completed when their debit was credited
    assert (figures["mandates_signed"], figures["payments_rejected"], figures["plans_active"]) == (2, 1, 0)
    assert len(figures["series"]) == 90 and "available" in figures
    assert all(point["day"] < due.isoformat() for point in figures["series"])  # the due date is ahead


@pytest.mark.parametrize("amount", [0, -100, 10**9, 12.5])
def test_a_payout_beyond_what_is_available_or_not_positive_answers_422(bank_cluster, amount):
    api = bank_cluster.api(bank_cluster.create_merchant()["api_key"])
    assert_error(api.post("/payouts", json={"amount": amount}), 422, "amount")
    assert api.get("/payouts").json()["items"] == []


def test_another_merchant_never_sees_the_figures(bank_cluster):
    first = bank_cluster.api(bank_cluster.create_merchant()["api_key"])
    second = bank_cluster.api(bank_cluster.create_merchant()["api_key"])
    assert first.get("/balance").json()["balance"] == 0
    assert second.get("/statement", params={"from": "2020-01-01", "to": "2030-12-31"}).json()["entries"] == []


def test_a_payout_through_the_api_is_idempotent_sent_to_the_bank_and_paid(bank_cluster):
    """The cluster's clock stands after the reserve: the credit is available, a payout takes it
    (twice the same Idempotency-Key: one payout), the bank pays it the next business day."""
    cluster = bank_cluster
    api = cluster.api(cluster.create_merchant(name="Atelier Payout")["api_key"])
    due = business_day_ahead(25)
    mandate = import_mandate(api, subscriber={"customer_reference": unique("P"), "name": "Zoë Faure"})
    assert api.post("/payments", json={"mandate_id": mandate["id"], "amount": 12345,
                                       "due_date": due.isoformat(), "label": "Stage"}).status_code == 201
    walk(cluster, due, 1)

    later = add_business_days(due, 8)
    with cluster.clock_at(later):
        balance = api.get("/balance").json()
        assert (balance["as_of"], balance["balance"], balance["available"]) == (later.isoformat(), 12345, 12345)
        assert_error(api.post("/payouts", json={"amount": 12346}), 422, "amount")

        key = {"Idempotency-Key": unique("payout")}
        first = api.post("/payouts", json={"amount": 10000}, headers=key)
        assert first.status_code == 201, first.text
        again = api.post("/payouts", json={"amount": 10000}, headers=key)
        assert (again.status_code, again.json()) == (201, first.json())
        assert_error(api.post("/payouts", json={"amount": 500}, headers=key), 422)
        payouts = api.get("/payouts").json()["items"]
        assert [(p["id"], p["amount"]) for p in payouts] == [(first.json()["id"], 10000)]
        assert payouts[0]["status"] in ("pending", "sent")
        balance = api.get("/balance").json()
        assert (balance["available"], balance["transfers_in_progress"]) == (2345, 10000)
        assert_error(api.post("/payouts", json={"amount": 2346}), 422, "amount")
        outbox = cluster.var_dir / "bank" / "outbox"
        assert any(b"pain.001.001.03" in path.read_bytes() for path in outbox.glob("*.xml"))

    paid_on = next_business_day(later + timedelta(days=1))
    with cluster.clock_at(paid_on):
        cluster.debito("bank", "run", "--as-of", paid_on.isoformat())
        cluster.debito("collect", "--as-of", paid_on.isoformat())
        assert [p["status"] for p in api.get("/payouts").json()["items"]] == ["paid"]
        balance = api.get("/balance").json()
        assert (balance["balance"], balance["available"], balance["transfers_in_progress"]) == (2345, 2345, 0)
        statement = api.get("/statement", params={"from": due.isoformat(), "to": paid_on.isoformat()}).json()
        assert [(e["code"], e["amount"]) for e in statement["entries"]] == [("SDD", 12345), ("PAYOUT", -10000)]
        overview = api.get("/overview").json()  # reporting's 90 days end on the moved day
        by_day = {point["day"]: point for point in overview["series"]}
        assert by_day[due.isoformat()]["collected_amount"] == 12345
        assert sum(point["paid_out_amount"] for point in overview["series"]) == 10000
