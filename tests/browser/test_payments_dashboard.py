"""Accounting filters the rejected debits one click away, reads the reason,
and replays one with « Rejouer »."""
import re

import pytest
from playwright.sync_api import expect

from harness.api import import_mandate, unique
from harness.bank import walk
from harness.dashboard import log_in
from harness.days import business_day_ahead

pytestmark = [pytest.mark.browser, pytest.mark.cluster]


def test_filter_rejected_payments_read_the_reason_and_replay(bank_page, bank_cluster):
    page, cluster = bank_page, bank_cluster
    merchant = cluster.create_merchant(name="Piscine Molitor")
    api = cluster.api(merchant["api_key"])
    due = business_day_ahead(20)
    for iban in ("FR7630006000010000000040116", "DE89370400440532013000"):
        mandate = import_mandate(api, iban=iban, subscriber={"customer_reference": unique("P"),
                                                             "name": f"Nageur {iban[-4:]}"})
        assert api.post("/payments", json={"mandate_id": mandate["id"], "amount": 1990,
                                           "due_date": due.isoformat(), "label": "Carte 10 entrées"}
                        ).status_code == 201
    walk(cluster, due, 1)

    log_in(page, merchant)
    page.click("nav a[data-section=payments]")
    expect(page.locator("table#payments tbody tr")).to_have_count(2)
    page.click("[data-filter=rejected]")
    expect(page).to_have_url(re.compile(r"status=rejected"))
    rows = page.locator("table#payments tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Nageur 0116")
    rows.first.locator("a").first.click()
    expect(page.locator("[data-field=reason_code]")).to_have_text("AM04")
    expect(page.locator("[data-field=reason]")).to_contain_text("insufficient funds")

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("[data-action=replay]")
    expect(page.locator("[role=status]")).to_contain_text("replayed")
    expect(page.locator("[data-field=status]")).to_have_text("scheduled")
    expect(page.locator("#chain tbody tr")).to_have_count(2)
