"""A merchant's debits walk through the bank files, day by day, with
`debito collect --as-of` and `debito bank run --as-of`: every sandbox IBAN of
spec §4 ends where the bank sends it, replays included, and running a day
twice does nothing twice. A cluster of its own: the walk moves the clock of
every merchant, so it must not share data with other tests."""
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from lxml import etree

from common.calendar import add_business_days, next_business_day
from harness.api import import_mandate, unique
from harness.bank import walk
from harness.days import business_day_ahead, next_year

pytestmark = pytest.mark.cluster

OUTCOMES = {  # debtor IBAN: (status after the walk, reason code or None)
    "FR7630006000010000000040116": ("rejected", "AM04"),
    "FR7630006000010000000040407": ("rejected", "AC04"),
    "FR7630006000010000000060195": ("rejected", "MD01"),
    "FR7630006000010000000060389": ("rejected", "MS03"),
    "FR7630006000010000000060292": ("rejected", "MS02"),
    "FR7630006000010000000060680": ("rejected", "MD06"),
    "FR7630006000010000000070186": ("rejected", "AM04"),
    "DE89370400440532013000": ("paid", None),
}
PAIN008 = "{urn:iso:std:iso:20022:tech:xsd:pain.008.001.02}"


def payments_of(api, mandate_id):
    return api.get("/payments", params={"mandate_id": mandate_id}).json()["items"]


def test_every_sandbox_iban_ends_where_the_bank_sends_it(bank_cluster):
    cluster = bank_cluster
    merchant = cluster.create_merchant(name="Théâtre du Rond-Point")
    api = cluster.api(merchant["api_key"])
    due = business_day_ahead(30)
    mandates = {}
    for iban in OUTCOMES:
        mandate = import_mandate(api, iban=iban, subscriber={"customer_reference": unique("W"),
                                                             "name": "Débiteur " + iban[-5:],
                                                             "email": "debtor@example.test"})
        response = api.post("/payments", json={"mandate_id": mandate["id"], "amount": 4990,
                                               "due_date": due.isoformat(), "label": "Saison 2027"})
        assert response.status_code == 201, response.text
        mandates[iban] = mandate

    walk(cluster, due, 7)

    for iban, (status, code) in OUTCOMES.items():
        found = payments_of(api, mandates[iban]["id"])
        assert len(found) == 1, (iban, found)
        payment = api.get(f"/payments/{found[0]['id']}").json()
        assert payment["status"] == status, (iban, payment)
        assert payment["sequence_type"] == "FRST"
        if code:
            assert [r["reason_code"] for r in payment["r_transactions"]] == [code], iban
            assert payment["r_transactions"][0]["reason"]

    # the outbox holds XSD-valid pain.008 files with exact totals (the payments service validated them)
    outbox = cluster.var_dir / "bank" / "outbox"
    files = sorted(outbox.glob("pain008-*.xml"))  # the payouts of other tests (the demo) write pain001-*
    assert files
    ours = {found["end_to_end_id"] for mandate in mandates.values()
            for found in payments_of(api, mandate["id"])}
    submitted = []
    for path in files:
        tree = etree.parse(str(path))
        header = tree.find(f"{PAIN008}CstmrDrctDbtInitn/{PAIN008}GrpHdr")
        amounts = [int(round(float(a.text) * 100)) for a in tree.iter(f"{PAIN008}InstdAmt")]
        assert int(header.findtext(f"{PAIN008}NbOfTxs")) == len(amounts)
        assert round(float(header.findtext(f"{PAIN008}CtrlSum")) * 100) == sum(amounts)
        submitted += [e.text for e in tree.iter(f"{PAIN008}EndToEndId") if e.text in ours]
    assert sorted(submitted) == sorted(ours)  # each debit in exactly one file

    # a rejected retryable debit is replayed; 70186 is credited on its second attempt
    replayable = payments_of(api, mandates["FR7630006000010000000070186"]["id"])[0]
    replay_due = next_business_day(add_business_days(due, 7) + timedelta(days=15))
    response = api.post(f"/payments/{replayable['id']}/replay", json={"due_date": replay_due.isoformat()},
                        headers={"Idempotency-Key": "replay-70186"})
    assert response.status_code == 201, response.text
    again = api.post(f"/payments/{replayable['id']}/replay", json={"due_date": replay_due.isoformat()},
                     headers={"Idempotency-Key": "replay-70186"})
    assert again.status_code == 201 and again.json()["id"] == response.json()["id"]
    conflict = api.post(f"/payments/{replayable['id']}/replay", json={})
    assert conflict.status_code == 409
    paid = payments_of(api, mandates["DE89370400440532013000"]["id"])[0]
    assert api.post(f"/payments/{paid['id']}/replay", json={}).status_code == 409

    walk(cluster, replay_due, 1)
    chain = payments_of(api, mandates["FR7630006000010000000070186"]["id"])
    assert sorted((p["attempt"], p["status"]) for p in chain) == [(1, "rejected"), (2, "paid")]

    # a day run twice creates, submits and imports nothing twice
    before = {p["id"]: p["status"] for p in api.get("/payments", params={"limit": 500}).json()["items"]}
    files_before = sorted(p.name for p in outbox.glob("*.xml"))
    report = json.loads(cluster.debito("collect", "--as-of", replay_due.isoformat()).stdout)
    assert report["steps"]["payments.collect"]["scheduled"] == 0
    assert report["steps"]["payments.collect"]["submitted"] == 0
    after = {p["id"]: p["status"] for p in api.get("/payments", params={"limit": 500}).json()["items"]}
    assert after == before
    assert sorted(p.name for p in outbox.glob("*.xml")) == files_before

    rejected = api.get("/r-transactions", params={"reason_code": "AM04"}).json()["items"]
    assert len(rejected) == 2


def test_bank_import_keeps_what_it_cannot_book_and_sets_aside_what_it_cannot_read(bank_cluster, tmp_path):
    foreign = tmp_path / "statement.xml"
    foreign.write_text('<?xml version="1.0"?><Document xmlns="urn:example:not-iso"><X/></Document>')
    result = json.loads(bank_cluster.debito("bank", "import", str(foreign)).stdout)
    assert result["failed_files"] == 1 and result["imported_files"] == 0
    failed = bank_cluster.var_dir / "bank" / "inbox" / "failed"
    reasons = list(failed.glob("*.reason.txt"))
    assert reasons and any("statement" in path.name for path in failed.iterdir())

    # a real Swiss bank's camt.054.001.04, in CHF and for debits Debito never sent: kept, not booked
    sample = Path(__file__).resolve().parents[1] / "fixtures" / "bank" / "camt054.001.04-postfinance-ch.xml"
    result = json.loads(bank_cluster.debito("bank", "import", str(sample)).stdout)
    assert result["imported_files"] == 1 and result["paid"] == 0 and result["rejected"] == 0
    assert result["unmatched"] >= 3
    again = json.loads(bank_cluster.debito("bank", "import", str(sample)).stdout)
    assert again["imported_files"] == 0 and again["unmatched"] == 0  # the same message id: once


def test_a_monthly_plan_is_walked_through_its_months_to_completion(bank_cluster):
    from payments.iso20022 import xsd

    cluster = bank_cluster
    merchant = cluster.create_merchant(name="Conservatoire Ravel")
    api = cluster.api(merchant["api_key"])
    mandate = import_mandate(api, iban="DE89370400440532013000")
    start = next_year(4, 10)
    plan = api.post("/plans", json={"mandate_id": mandate["id"], "label": "Cours de piano",
                                    "amount": 6500, "frequency": "monthly", "start_date": start.isoformat(),
                                    "count": 3}).json()
    for instalment in plan["upcoming"]:
        walk(cluster, date.fromisoformat(instalment["due_date"]), 1)
    found = sorted(payments_of(api, mandate["id"]), key=lambda p: p["due_date"])
    assert [(p["sequence_type"], p["status"], p["amount"]) for p in found] == [
        ("FRST", "paid", 6500), ("RCUR", "paid", 6500), ("FNAL", "paid", 6500)]
    assert [p["due_date"] for p in found] == [u["due_date"] for u in plan["upcoming"]]
    done = api.get(f"/plans/{plan['id']}").json()
    assert done["status"] == "completed" and done["collected_count"] == 3
    assert api.get(f"/mandates/{mandate['id']}").json()["last_collected_on"] == found[-1]["due_date"]
    for path in (cluster.var_dir / "bank" / "outbox").glob("pain008-*.xml"):
        xsd.validate_file(path, "pain.008.001.02")  # every file the cluster wrote
