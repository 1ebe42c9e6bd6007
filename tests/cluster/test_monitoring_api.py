"""Balance, statement and payouts through the API, after debits went through
the bank: the statement reconciles, payouts never exceed what is available."""
from datetime import date, timedelta

import pytest

from common.calendar import add_business_days, next_business_day
from harness.api import assert_error, import_mandate, unique
from harness.bank import walk

pytestmark = pytest.mark.cluster


def test_statement_and_balance_follow_the_ledger(bank_cluster):
    cluster = bank_cluster
    merchant = cluster.create_merchant(name="Atelier Calder")
    api = cluster.api(merchant["api_key"])
    due = next_business_day(date.today() + timedelta(days=25))
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
