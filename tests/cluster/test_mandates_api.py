"""Mandates and subscribers through the HTTP API, as an integrating developer
meets them: every endpoint, every bad input, another merchant's ids."""
import base64
import io
import time

import pytest
from pypdf import PdfReader

from harness.api import DEBTOR_IBAN, PNG, assert_error, import_mandate, unique
from harness.days import days_ago, days_ahead, next_year, today

pytestmark = pytest.mark.cluster


@pytest.fixture
def merchant(cluster):
    created = cluster.create_merchant(name="Club Lumière")
    created["api"] = cluster.api(created["api_key"])
    return created


@pytest.fixture
def other(cluster):
    created = cluster.create_merchant(name="Other Shop")
    created["api"] = cluster.api(created["api_key"])
    return created


def test_subscriber_is_created_searched_and_shown_with_everything(merchant):
    api = merchant["api"]
    reference = unique("CRM")
    response = api.post("/subscribers", json={"customer_reference": reference, "name": "Zoë Dupré",
                                              "email": "zoe@example.test", "phone": None})
    assert response.status_code == 201, response.text
    subscriber = response.json()
    assert subscriber["id"].startswith("SB")
    found = api.get("/subscribers", params={"q": "zoe dupre"}).json()
    assert [s["id"] for s in found["items"]] == [subscriber["id"]]
    detail = api.get(f"/subscribers/{subscriber['id']}").json()
    assert detail["customer_reference"] == reference
    assert detail["mandates"] == [] and detail["plans"] == [] and detail["payments"] == []


def test_imported_paper_mandate_is_active_with_a_generated_umr_and_derived_bic(merchant):
    mandate = import_mandate(merchant["api"])
    assert mandate["id"].startswith("MD")
    assert mandate["status"] == "active"
    assert mandate["signature_method"] == "paper"
    assert mandate["reference"]
    assert mandate["bic"] == "COBADEFFXXX"
    shown = merchant["api"].get(f"/mandates/{mandate['id']}").json()
    assert shown["reference"] == mandate["reference"]
    assert shown["subscriber"]["name"] == "Émilie Durand"


def test_mandates_are_found_by_customer_reference_umr_status_and_dates(merchant):
    api = merchant["api"]
    base = unique("CUST")
    first = import_mandate(api, subscriber={"customer_reference": base, "name": "Anne Martin"})
    second = import_mandate(api, subscriber={"customer_reference": base + "7", "name": "Bob Martin"},
                            signed_at=days_ago(40).isoformat())
    exact = api.get("/mandates", params={"customer_reference": base + "7"}).json()["items"]
    assert [m["id"] for m in exact] == [second["id"]]
    prefix = api.get("/mandates", params={"customer_reference": base}).json()["items"]
    assert {m["id"] for m in prefix} == {first["id"], second["id"]}
    by_umr = api.get("/mandates", params={"reference": first["reference"]}).json()["items"]
    assert [m["id"] for m in by_umr] == [first["id"]]
    recent = api.get("/mandates", params={"customer_reference": base,
                                          "signed_from": days_ago(10).isoformat(),
                                          "signed_to": today().isoformat()}).json()["items"]
    assert [m["id"] for m in recent] == [first["id"]]
    page = api.get("/mandates", params={"customer_reference": base, "limit": 1}).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = api.get("/mandates", params={"customer_reference": base, "limit": 1,
                                        "cursor": page["next_cursor"]}).json()
    assert {page["items"][0]["id"], rest["items"][0]["id"]} == {first["id"], second["id"]}


def test_amendment_keeps_history_and_revocation_is_final(merchant):
    api = merchant["api"]
    mandate = import_mandate(api)
    response = api.post(f"/mandates/{mandate['id']}/bank-details",
                        json={"iban": "FR7630006000010000000040116"})
    assert response.status_code == 200, response.text
    amended = api.get(f"/mandates/{mandate['id']}").json()
    assert amended["iban"] == "FR7630006000010000000040116"
    assert amended["amendments"][0]["old_iban"] == DEBTOR_IBAN
    assert amended["amendments"][0]["new_iban"] == "FR7630006000010000000040116"
    revoked = api.post(f"/mandates/{mandate['id']}/revoke", json={"reason": "customer left"})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert_error(api.post(f"/mandates/{mandate['id']}/revoke", json={}), 409)
    assert_error(api.post(f"/mandates/{mandate['id']}/bank-details", json={"iban": DEBTOR_IBAN}), 409)


def test_mandate_pdf_shows_the_mandate(merchant):
    mandate = import_mandate(merchant["api"])
    response = merchant["api"].get(f"/mandates/{mandate['id']}/pdf", params={"lang": "fr"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert mandate["reference"] in text
    assert "Club Lumière" in text and "FR72ZZZ123456" in text


def test_paper_scan_is_stored_and_downloadable(merchant):
    scan = {"filename": "mandate.png", "content_base64": base64.b64encode(PNG).decode()}
    mandate = import_mandate(merchant["api"], scan=scan)
    response = merchant["api"].get(f"/mandates/{mandate['id']}/scan")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.content == PNG


@pytest.mark.parametrize("overrides, field", [
    ({"iban": "DE89370400440532013001"}, "iban"),
    ({"iban": "DE8937040044053201300"}, "iban"),
    ({"iban": "XX89370400440532013000"}, "iban"),
    ({"bic": "COBADEF"}, "bic"),
    ({"bic": "COBAXXFF"}, "bic"),
    ({"reference": "UMR_WITH_UNDERSCORE"}, "reference"),
    ({"reference": "A" * 36}, "reference"),
    ({"signed_at": days_ahead(2).isoformat()}, "signed_at"),
    ({"signature_method": "telepathy"}, "signature_method"),
    ({"scan": {"filename": "x.txt", "content_base64": base64.b64encode(b"hello").decode()}}, "scan"),
    ({"scan": {"filename": "big.png",
               "content_base64": base64.b64encode(PNG + b"\x00" * (10 * 1024 * 1024)).decode()}}, "scan"),
])
def test_bad_mandate_input_is_refused_naming_the_field_and_changes_nothing(merchant, overrides, field):
    api = merchant["api"]
    customer_reference = unique("BAD")
    body = {"subscriber": {"customer_reference": customer_reference, "name": "Bad Input"},
            "iban": DEBTOR_IBAN, "signature_method": "paper", "signed_place": "Lyon",
            "signed_at": today().isoformat()}
    body.update(overrides)
    assert_error(api.post("/mandates", json=body), 422, field)
    assert api.get("/subscribers", params={"q": customer_reference}).json()["items"] == []


def test_duplicate_umr_and_customer_reference_answer_409(merchant):
    api = merchant["api"]
    mandate = import_mandate(api)
    assert_error(api.post("/mandates", json={
        "subscriber": {"customer_reference": unique("D"), "name": "Dup"}, "iban": DEBTOR_IBAN,
        "signature_method": "phone", "signed_at": today().isoformat(),
        "reference": mandate["reference"]}), 409, "reference")
    reference = unique("DUP")
    assert api.post("/subscribers", json={"customer_reference": reference, "name": "A"}).status_code == 201
    assert_error(api.post("/subscribers", json={"customer_reference": reference, "name": "B"}),
                 409, "customer_reference")


def test_non_json_body_answers_400(merchant):
    response = merchant["api"].post("/mandates", data="not json",
                                    headers={"Content-Type": "application/json"})
    assert_error(response, 400)


def test_another_merchants_objects_answer_404_and_never_show(merchant, other):
    mandate = import_mandate(merchant["api"])
    api = other["api"]
    for path in (f"/mandates/{mandate['id']}", f"/mandates/{mandate['id']}/pdf",
                 f"/mandates/{mandate['id']}/scan", f"/subscribers/{mandate['subscriber_id']}"):
        assert_error(api.get(path), 404)
    assert_error(api.post(f"/mandates/{mandate['id']}/revoke", json={}), 404)
    assert_error(api.post(f"/mandates/{mandate['id']}/bank-details", json={"iban": DEBTOR_IBAN}), 404)
    assert_error(api.post("/mandates", json={"subscriber_id": mandate["subscriber_id"], "iban": DEBTOR_IBAN,
                                             "signature_method": "paper", "signed_place": "Paris",
                                             "signed_at": today().isoformat()}), 404)
    listed = api.get("/mandates", params={"reference": mandate["reference"]}).json()["items"]
    assert listed == []
    assert merchant["api"].get(f"/mandates/{mandate['id']}").json()["status"] == "active"


def test_unknown_mandate_answers_404(merchant):
    assert_error(merchant["api"].get("/mandates/MD00000000000000000000NOPE"), 404)


def test_openapi_lists_the_mandate_endpoints(cluster):
    import requests

    paths = requests.get(cluster.url + "/api/v1/openapi.json", timeout=10).json()["paths"]
    for path in ("/subscribers", "/subscribers/{subscriber_id}", "/mandates", "/mandates/{mandate_id}",
                 "/mandates/{mandate_id}/pdf", "/mandates/{mandate_id}/scan",
                 "/mandates/{mandate_id}/bank-details", "/mandates/{mandate_id}/revoke"):
        assert path in paths, path


def test_daily_cycle_expires_a_mandate_at_36_months_and_not_a_day_earlier(cluster, merchant):
    api = merchant["api"]
    mandate = import_mandate(api, signed_at="2019-03-14", signature_method="phone")
    plan = api.post("/plans", json={"mandate_id": mandate["id"], "label": "Adhésion", "amount": 1500,
                                    "frequency": "annual",
                                    "start_date": next_year(6, 1).isoformat()}).json()
    cluster.debito("collect", "--as-of", "2022-03-13")
    assert api.get(f"/mandates/{mandate['id']}").json()["status"] == "active"
    cluster.debito("collect", "--as-of", "2022-03-14")
    expired = api.get(f"/mandates/{mandate['id']}").json()
    assert expired["status"] == "expired"
    assert expired["expired_at"]
    deadline = time.monotonic() + 15  # plans hears of the expiry by an event
    while api.get(f"/plans/{plan['id']}").json()["status"] != "cancelled" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert api.get(f"/plans/{plan['id']}").json()["status"] == "cancelled"
    assert_error(api.post(f"/mandates/{mandate['id']}/bank-details",
                          json={"iban": "FR7630006000011234567890189"}), 409)
