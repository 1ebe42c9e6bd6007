"""A debtor signs by the emailed link (the mail received by a real SMTP
server, the code read from the SMS outbox), and a back-office operator signs
a customer on the phone from the dashboard, resends and cancels orders."""
import re
import uuid

import pytest
from playwright.sync_api import expect

from harness.dashboard import log_in
from harness.signing import cluster_mailing_through, last_code, link_in, mail_to, wrong_code
from harness.smtp_server import smtp_server

pytestmark = [pytest.mark.browser, pytest.mark.cluster]
IBAN = "DE89370400440532013000"


@pytest.fixture(scope="module")
def mailing(infrastructure, tmp_path_factory):
    """A cluster of its own, mailing through a real SMTP server; yields (cluster, Maildir)."""
    workdir = tmp_path_factory.mktemp("signing")
    with smtp_server(workdir) as (port, maildir):
        with cluster_mailing_through(infrastructure, workdir, port) as cluster:
            yield cluster, maildir


def test_a_debtor_signs_through_the_emailed_link(browser, mailing):
    cluster, maildir = mailing
    merchant = cluster.create_merchant(name="Piscine des Lilas")
    api = cluster.api(merchant["api_key"])
    address = f"camille-{uuid.uuid4().hex[:6]}@example.test"
    created = api.post("/signature-orders", json={"method": "link", "lang": "fr", "subscriber": {
        "customer_reference": f"L-{uuid.uuid4().hex[:6]}", "name": "Camille Roche", "email": address,
        "phone": "+33698765432"}})
    assert created.status_code == 201, created.text
    order = created.json()
    url = link_in(mail_to(maildir, address))
    assert url == order["signing_url"]

    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        page.goto(url)
        expect(page.locator("h1")).to_have_text("Signer le mandat")
        expect(page.locator("[data-field=creditor-name]")).to_have_text("Piscine des Lilas")
        expect(page.locator("[data-field=creditor-id]")).to_have_text("FR72ZZZ123456")
        expect(page.locator(".mandate-text")).to_contain_text("8 semaines")
        page.click(".languages a[hreflang=en]")
        expect(page.locator("h1")).to_have_text("Sign the mandate")
        expect(page.locator(".mandate-text")).to_contain_text("8 weeks")
        expect(page.locator("input[name=name]")).to_have_value("Camille Roche")

        page.fill("input[name=iban]", "DE89370400440532013001")
        page.click("#details button[type=submit]")
        expect(page.locator(".field-error[data-field=iban]")).to_be_visible()
        page.fill("input[name=iban]", IBAN)
        page.click("#details button[type=submit]")
        expect(page.locator("h1")).to_have_text("Enter the code")
        expect(page.locator("#code-card")).to_contain_text("+33698765432")
        code = last_code(cluster.var_dir, order["id"])

        page.fill("input[name=otp]", wrong_code(code))
        page.click("#code button[type=submit]")
        expect(page.locator(".field-error[data-field=otp]")).to_be_visible()
        expect(page.locator("[data-attempts-left]")).to_have_text("4 attempts left.")
        page.fill("input[name=otp]", code)
        page.click("#code button[type=submit]")
        expect(page.locator("h1")).to_have_text("Mandate signed")
        expect(page.locator("[role=status]")).to_contain_text("Piscine des Lilas")
        pdf = page.request.get(cluster.url + page.locator("[data-action=pdf]").get_attribute("href"))
        assert pdf.status == 200 and pdf.body().startswith(b"%PDF-")

        user_agent = page.evaluate("navigator.userAgent")
        page.goto(url)  # the link served once
        expect(page.locator("#problem")).to_have_attribute("data-status", "410")
    finally:
        context.close()
    signed = api.get(f"/signature-orders/{order['id']}").json()
    assert signed["status"] == "signed"
    mandate = api.get(f"/mandates/{signed['mandate_id']}").json()
    assert mandate["evidence"]["phone"] == "+33698765432" and mandate["evidence"]["user_agent"] == user_agent


def test_an_operator_signs_a_customer_on_the_phone_from_the_dashboard(page, cluster):
    merchant = cluster.create_merchant(name="Club Hippique")
    reference = f"OP-{uuid.uuid4().hex[:6]}"
    log_in(page, merchant)
    page.click("nav a[data-section=orders]")
    page.click("[data-action=new-operator]")
    expect(page.locator("input[name=method][value=operator]")).to_be_checked()
    page.fill("input[name=customer_reference]", reference)
    page.fill("input[name=name]", "Hugo Marchand")
    page.fill("input[name=phone]", "06 12")
    page.click("#order button[type=submit]")
    expect(page.locator(".field-error[data-field=phone]")).to_be_visible()
    page.fill("input[name=phone]", "+33611223344")
    page.fill("input[name=plan_label]", "Pension mensuelle")
    page.fill("input[name=plan_amount]", "180,00")
    page.fill("input[name=plan_start_date]", "2030-02-10")
    page.click("#order button[type=submit]")
    expect(page).to_have_url(re.compile(r"/dashboard/orders/SO"))
    order_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("[data-field=status]")).to_have_text("pending")

    page.click("[data-action=send-code]")
    expect(page.locator("[role=status]")).to_contain_text("sent by SMS")
    expect(page.locator("[data-field=otp_sends]")).to_have_text("1")
    code = last_code(cluster.var_dir, order_id)
    page.fill("#sign input[name=otp]", wrong_code(code))
    page.fill("#sign input[name=iban]", IBAN)
    page.click("[data-action=sign]")
    expect(page.locator(".field-error[data-field=otp]")).to_be_visible()
    expect(page.locator("[data-field=otp_attempts]")).to_have_text("1")
    page.fill("#sign input[name=otp]", code)
    page.fill("#sign input[name=iban]", IBAN)
    page.click("[data-action=sign]")
    expect(page.locator("[role=status]")).to_contain_text("signed")
    expect(page.locator("[data-field=status]")).to_have_text("signed")
    expect(page.locator("#evidence [data-field=evidence-order_id]")).to_have_text(order_id)

    page.click("[data-action=mandate]")
    expect(page.locator("[data-field=status]")).to_have_text("active")
    expect(page.locator("#evidence [data-field=evidence-phone]")).to_have_text("+33611223344")
    expect(page.locator("#evidence [data-field=evidence-ip_address]")).to_have_text("127.0.0.1")
    expect(page.locator("#evidence [data-field=evidence-document_hash]")).to_contain_text("sha256:")

    page.goto("/dashboard/orders?status=signed")
    expect(page.locator("table#orders tbody tr")).to_have_count(1)
    expect(page.locator(f"tr[data-order={order_id}]")).to_contain_text(reference)


def test_a_link_order_from_a_subscriber_page_is_resent_and_cancelled(page, cluster):
    merchant = cluster.create_merchant(name="Librairie Nuit")
    api = cluster.api(merchant["api_key"])
    subscriber = api.post("/subscribers", json={"customer_reference": f"SUB-{uuid.uuid4().hex[:6]}",
                                                "name": "Inès Caron", "email": "ines@example.test",
                                                "phone": "+33655443322"}).json()
    log_in(page, merchant)
    page.goto(f"/dashboard/subscribers/{subscriber['id']}")
    page.click("[data-action=have-signed]")
    expect(page.locator("#known-subscriber")).to_contain_text("Inès Caron")
    page.check("input[name=method][value=link]")
    page.click("#order button[type=submit]")
    signing_url = page.locator("[data-field=signing_url]").input_value()
    assert signing_url.startswith(cluster.url + "/sign/")
    expect(page.locator("[role=status]")).to_contain_text("emailed")
    order_id = page.locator("h1 small").inner_text()

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("[data-action=resend]")  # the first mail left a moment ago
    expect(page.locator("p.error[role=alert]")).to_be_visible()
    page.goto(f"/dashboard/orders/{order_id}")
    page.click("[data-action=cancel]")
    expect(page.locator("[role=status]")).to_contain_text("cancelled")
    expect(page.locator("[data-field=status]")).to_have_text("cancelled")
    expect(page.locator("[data-action=resend]")).to_have_count(0)

    page.goto("/dashboard/orders?method=link")
    expect(page.locator(f"tr[data-order={order_id}]")).to_contain_text("Inès Caron")
    page.goto("/dashboard/orders?method=operator")
    expect(page.locator(f"tr[data-order={order_id}]")).to_have_count(0)
    with page.expect_download() as download:
        page.goto("/dashboard/orders?method=link")
        page.click("[data-action=export]")
    content = open(download.value.path(), "rb").read().decode("utf-8-sig")
    assert content.startswith("id;method;status;customer_reference;") and order_id in content
    assert page.request.get(signing_url).status == 410
