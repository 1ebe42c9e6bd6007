"""A merchant's back office logs in to the dashboard and finds its sections."""
import re

import pytest
from playwright.sync_api import expect

from common import clock
from harness.dashboard import log_in

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

SECTIONS = ["overview", "mandates", "plans", "payments", "monitoring", "orders", "subscribers"]


def test_merchant_logs_in_and_sees_the_seven_sections(page, cluster):
    merchant = cluster.create_merchant(name="Librairie Voltaire")
    log_in(page, merchant)
    expect(page).to_have_url(re.compile(r"/dashboard/overview$"))
    expect(page.locator(".merchant-name")).to_have_text("Librairie Voltaire")
    links = page.locator("nav a[data-section]")
    assert [links.nth(i).get_attribute("data-section") for i in range(links.count())] == SECTIONS
    for section in SECTIONS:
        page.click(f"nav a[data-section={section}]")
        expect(page).to_have_url(re.compile(f"/dashboard/{section}$"))
        expect(page.locator("main h1")).not_to_be_empty()


def test_wrong_password_shows_an_error_and_stays_logged_out(page, cluster):
    merchant = cluster.create_merchant()
    log_in(page, dict(merchant, password="not the password"))
    expect(page.locator("[role=alert]")).to_contain_text("Wrong email or password")
    page.goto("/dashboard/overview")
    expect(page).to_have_url(re.compile(r"/login"))


def test_dashboard_speaks_french(page, cluster):
    merchant = cluster.create_merchant()
    log_in(page, merchant)
    page.click("a[href$='/language/fr']")
    expect(page.locator("nav a[data-section=mandates]")).to_have_text("Autorisations")
    expect(page.locator("nav a[data-section=subscribers]")).to_have_text("Abonnés")
    expect(page.locator("nav a[data-section=overview]")).to_have_text("Vue d'ensemble")
    page.click("nav a[data-section=mandates]")
    expect(page.locator("form.filters")).to_contain_text("Référence client")
    expect(page.locator("[data-action=export]")).to_contain_text("Exporter")


def test_logout_ends_the_session(page, cluster):
    merchant = cluster.create_merchant()
    log_in(page, merchant)
    page.click("button:has-text('Log out')")
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto("/dashboard/payments")
    expect(page).to_have_url(re.compile(r"/login"))


def test_the_browser_stands_on_the_gateways_time_so_the_session_cookie_lives(page, cluster):
    """Chromium reads the clock the test and the gateway read (under `make test-dates` faketime
    reaches it too): the session cookie the gateway stamps to expire in 12 hours is not
    already past for the browser, whatever day the suite runs on."""
    log_in(page, cluster.create_merchant())
    expect(page).to_have_url(re.compile(r"/dashboard/overview$"))
    browser_now = page.evaluate("Date.now() / 1000")
    assert abs(browser_now - clock.now().timestamp()) < 120
    session = [cookie for cookie in page.context.cookies() if cookie["name"] == "session"]
    assert session and 11 * 3600 < session[0]["expires"] - browser_now <= 12 * 3600 + 120
