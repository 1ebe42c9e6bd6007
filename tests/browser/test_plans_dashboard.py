"""A back office creates a monthly plan from a mandate, edits its amount,
pauses it and cancels it."""
import pytest
from playwright.sync_api import expect

from harness.api import import_mandate
from harness.dashboard import log_in
from harness.days import next_year

pytestmark = [pytest.mark.browser, pytest.mark.cluster]


def test_create_edit_pause_and_cancel_a_monthly_plan(page, cluster):
    merchant = cluster.create_merchant()
    mandate = import_mandate(cluster.api(merchant["api_key"]))
    log_in(page, merchant)
    page.goto(f"/dashboard/mandates/{mandate['id']}")
    page.click("[data-action=new-plan]")
    page.fill("input[name=label]", "Cotisation mensuelle")
    page.fill("input[name=amount]", "29,90")
    page.select_option("select[name=frequency]", "monthly")
    page.fill("input[name=start_date]", next_year(3, 15).isoformat())
    page.fill("input[name=count]", "6")
    page.click("#plan button[type=submit]")
    expect(page.locator("[role=status]")).to_contain_text("created")
    expect(page.locator("[data-field=amount]")).to_contain_text("29,90")
    expect(page.locator("#schedule tbody tr")).to_have_count(6)

    page.fill("#edit input[name=amount]", "34,50")
    page.click("#edit button[type=submit]")
    expect(page.locator("[data-field=amount]")).to_contain_text("34,50")
    expect(page.locator("#history")).to_contain_text("amount")

    page.click("[data-action=pause] button")
    expect(page.locator("[data-field=status]")).to_have_text("paused")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("[data-action=cancel] button")
    expect(page.locator("[data-field=status]")).to_have_text("cancelled")

    page.goto("/dashboard/plans?status=cancelled&frequency=monthly")
    expect(page.locator("table#plans")).to_contain_text("Cotisation mensuelle")
