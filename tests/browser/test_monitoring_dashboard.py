"""The overview's widgets and charts, and Monitoring: balance, a statement
for a period with its CSV, the transfer form refusing more than available."""
import re

import pytest
from playwright.sync_api import expect

from harness.dashboard import log_in

pytestmark = [pytest.mark.browser, pytest.mark.cluster]


def test_overview_shows_the_widgets_and_the_charts(page, cluster):
    log_in(page, cluster.create_merchant())
    expect(page).to_have_url(re.compile(r"/dashboard/overview$"))
    for widget in ("balance", "available", "transfers_in_progress", "refunds_in_progress",
                   "mandates_signed", "payments_rejected", "plans_active"):
        expect(page.locator(f"[data-widget={widget}]")).to_be_visible()
    expect(page.locator("svg.chart")).to_have_count(2)
    assert page.locator("svg.chart").first.locator("rect").count() == 180  # 90 days × 2 series


def test_monitoring_statement_csv_and_a_refused_transfer(page, cluster):
    log_in(page, cluster.create_merchant())
    page.click("nav a[data-section=monitoring]")
    expect(page.locator("[data-widget=balance]")).to_contain_text("0,00")
    expect(page.locator("[data-field=opening_balance]")).to_contain_text("0,00")
    with page.expect_download() as download:
        page.click("[data-action=statement-csv]")
    content = open(download.value.path(), "rb").read().decode("utf-8-sig")
    lines = content.split("\r\n")
    assert lines[0].startswith("date;value_date;code;")
    assert ";OPENING;" in lines[1] and ";CLOSING;" in lines[2]

    page.fill("#payout input[name=amount]", "10,00")
    page.click("#payout button[type=submit]")
    expect(page.locator(".field-error[data-field=amount]")).to_contain_text("available")
