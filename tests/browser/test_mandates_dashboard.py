"""Customer service finds a mandate by the customer's reference, opens it,
downloads its PDF, amends it and revokes it; imports a paper mandate."""
import csv
import io
import re
import uuid

import pytest
from playwright.sync_api import expect

from harness.dashboard import log_in
from harness.days import days_ago, days_ahead, today

pytestmark = [pytest.mark.browser, pytest.mark.cluster]


def test_search_by_customer_reference_open_download_pdf_and_revoke(page, cluster):
    merchant = cluster.create_merchant(name="Cave Saint-Vincent")
    api = cluster.api(merchant["api_key"])
    reference = f"CLI-{uuid.uuid4().hex[:6].upper()}"
    for suffix, name in (("", "Hélène Roux"), ("-B", "Paul Roux")):
        response = api.post("/mandates", json={
            "subscriber": {"customer_reference": reference + suffix, "name": name},
            "iban": "DE89370400440532013000", "signature_method": "paper", "signed_place": "Dijon",
            "signed_at": days_ago(1).isoformat()})
        assert response.status_code == 201, response.text
    log_in(page, merchant)
    page.click("nav a[data-section=mandates]")
    page.fill("input[name=customer_reference]", reference + "-B")
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(f"customer_reference={reference}-B"))
    rows = page.locator("table#mandates tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Paul Roux")
    rows.first.locator("a").first.click()
    expect(page.locator("[data-field=status]")).to_have_text("active")

    with page.expect_download() as download:
        page.evaluate("""() => { const a = document.querySelector('[data-action=pdf]');
                                  a.setAttribute('download', ''); a.click(); }""")
    pdf = download.value.path()
    assert open(pdf, "rb").read(5) == b"%PDF-"

    page.fill("#amend input[name=iban]", "DE8937040044053201300")
    page.click("#amend button[type=submit]")
    expect(page.locator(".field-error[data-field=iban]")).to_be_visible()

    page.on("dialog", lambda dialog: dialog.accept())
    page.fill("#revoke input[name=reason]", "moved abroad")
    page.click("#revoke button[type=submit]")
    expect(page.locator("[role=status]")).to_contain_text("revoked")
    expect(page.locator("[data-field=status]")).to_have_text("revoked")
    expect(page.locator("#history")).to_contain_text("moved abroad")


def test_paper_mandate_is_imported_from_the_form(page, cluster):
    merchant = cluster.create_merchant()
    log_in(page, merchant)
    page.goto("/dashboard/mandates/new")
    page.fill("input[name=customer_reference]", f"P-{uuid.uuid4().hex[:6]}")
    page.fill("input[name=name]", "Jean Valjean")
    page.fill("input[name=iban]", "FR7630006000011234567890189")
    page.fill("input[name=signed_at]", days_ahead(5).isoformat())
    page.fill("input[name=signed_place]", "Montreuil")
    page.click("#import button[type=submit]")
    expect(page.locator(".field-error[data-field=signed_at]")).to_be_visible()
    page.fill("input[name=signed_at]", today().isoformat())
    page.click("#import button[type=submit]")
    expect(page.locator("[role=status]")).to_contain_text("imported")
    expect(page.locator("[data-field=iban]")).to_have_text("FR7630006000011234567890189")


def test_subscriber_page_gathers_its_mandates(page, cluster):
    merchant = cluster.create_merchant()
    api = cluster.api(merchant["api_key"])
    mandate = api.post("/mandates", json={
        "subscriber": {"customer_reference": f"S-{uuid.uuid4().hex[:6]}", "name": "Lucie Aubrac"},
        "iban": "DE89370400440532013000", "signature_method": "phone",
        "signed_at": today().isoformat()}).json()
    log_in(page, merchant)
    page.click("nav a[data-section=subscribers]")
    page.fill("input[name=q]", "lucie aubrac")
    page.click("form.filters button[type=submit]")
    page.locator("table#subscribers tbody tr a").first.click()
    expect(page.locator("#subscriber-mandates")).to_contain_text(mandate["reference"])


def test_export_button_runs_a_job_with_the_filters_shows_progress_and_downloads_the_csv(page, cluster):
    merchant = cluster.create_merchant()
    api = cluster.api(merchant["api_key"])
    tag = uuid.uuid4().hex[:6]
    for name in ("=HYPERLINK(\"http://evil\")", "Marie Curie"):
        api.post("/mandates", json={
            "subscriber": {"customer_reference": f"E-{tag}-{name[:4]}", "name": name},
            "iban": "DE89370400440532013000", "signature_method": "web",
            "signed_at": today().isoformat()})
    log_in(page, merchant)
    page.goto(f"/dashboard/mandates?customer_reference=E-{tag}")
    with page.expect_download() as download:
        page.click("[data-action=export]")  # starts an export job with the list's filters
    expect(page).to_have_url(re.compile(r"/dashboard/exports/EX"))
    expect(page.locator("progress#progress")).to_be_visible()
    expect(page.locator("[data-field=status]")).to_have_text("done")
    expect(page.locator("#rows")).to_have_text("2")
    content = open(download.value.path(), "rb").read()
    assert content.startswith(b"\xef\xbb\xbfreference;customer_reference;name;iban;")
    assert content.endswith(b"\r\n")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert sorted(row["name"] for row in rows) == ["'=HYPERLINK(\"http://evil\")", "Marie Curie"]
    assert {row["iban"] for row in rows} == {"DE89370400440532013000"}
