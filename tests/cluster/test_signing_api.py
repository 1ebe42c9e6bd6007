"""Signature orders through the HTTP API and the public signing pages, as an
integrating developer and a debtor meet them: every endpoint, the SMS code
read from the cluster's outbox, brute force, resend limits, another
merchant's orders, tampered and reused links."""
import csv
import hashlib
import html
import io
import re
import time
from datetime import timedelta

import pytest
import requests

from common import clock
from harness.api import DEBTOR_IBAN, assert_error, unique
from harness.signing import (create_order, csrf_token, last_code, new_subscriber, sms_messages, token_of,
                             wrong_code)

pytestmark = pytest.mark.cluster
MANDATE_TEXT = re.compile(r'<pre class="mandate-text" data-document-hash="([^"]+)">(.*?)</pre>', re.S)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) DebitoTest/1.0"


@pytest.fixture(scope="module")
def merchant(cluster):
    created = cluster.create_merchant(name="Salle Horizon")
    created["api"] = cluster.api(created["api_key"])
    created["api"].session.headers["User-Agent"] = BROWSER
    return created


@pytest.fixture(scope="module")
def other(cluster):
    created = cluster.create_merchant(name="Other Shop")
    created["api"] = cluster.api(created["api_key"])
    return created


def send_code(api, order_id):
    response = api.post(f"/signature-orders/{order_id}/otp")
    assert response.status_code == 200, response.text
    return response.json()


def test_operator_order_is_signed_with_the_sms_code_and_keeps_the_evidence(cluster, merchant):
    api = merchant["api"]
    order = create_order(api, "operator", plan={"label": "Abonnement", "amount": 2990, "frequency": "monthly",
                                                "start_date": "2030-01-05"})
    assert order["id"].startswith("SO") and order["status"] == "pending" and order["signing_url"] is None
    assert order["created_by"] == f"api:{merchant['merchant_id']}"
    sent = send_code(api, order["id"])
    assert sent["status"] == "otp_sent" and sent["otp_sends"] == 1
    sms = sms_messages(cluster.var_dir, order["id"])[-1]
    assert sms["to"] == "+33612345678" and "Salle Horizon" in sms["body"]
    code = last_code(cluster.var_dir, order["id"])

    response = api.post(f"/signature-orders/{order['id']}/sign",
                        json={"otp": code, "iban": "DE89 3704 0044 0532 0130 00", "name": "Léa M. Fontaine"})
    assert response.status_code == 200, response.text
    signed = response.json()
    assert signed["status"] == "signed" and signed["mandate_id"].startswith("MD") and signed["signed_at"]
    assert signed["plan_id"].startswith("PL")
    evidence = signed["evidence"]
    assert evidence["order_id"] == order["id"] and evidence["phone"] == "+33612345678"
    assert evidence["ip_address"] == "127.0.0.1" and evidence["user_agent"] == BROWSER
    assert evidence["document_hash"].startswith("sha256:")

    mandate = api.get(f"/mandates/{signed['mandate_id']}").json()
    assert mandate["status"] == "active" and mandate["signature_method"] == "electronic"
    assert mandate["iban"] == DEBTOR_IBAN
    assert mandate["evidence"]["order_id"] == order["id"]
    assert mandate["evidence"]["document_hash"] == evidence["document_hash"]
    plan = api.get(f"/plans/{signed['plan_id']}").json()
    assert plan["mandate_id"] == signed["mandate_id"] and plan["amount"] == 2990
    assert api.get(f"/signature-orders/{order['id']}").json()["status"] == "signed"

    again = api.post(f"/signature-orders/{order['id']}/sign", json={"otp": code, "iban": DEBTOR_IBAN})
    assert_error(again, 409)
    assert_error(api.post(f"/signature-orders/{order['id']}/otp"), 409)
    assert_error(api.post(f"/signature-orders/{order['id']}/cancel"), 409)


def test_a_wrong_code_counts_an_attempt_and_the_fifth_locks_the_order(cluster, merchant):
    api = merchant["api"]
    order = create_order(api, "operator")
    send_code(api, order["id"])
    code = last_code(cluster.var_dir, order["id"])
    path = f"/signature-orders/{order['id']}/sign"

    invalid_iban = api.post(path, json={"otp": code, "iban": "DE89370400440532013001"})
    assert_error(invalid_iban, 422, "iban")
    assert api.get(f"/signature-orders/{order['id']}").json()["otp_attempts"] == 0  # not a code attempt
    for attempt in range(1, 5):
        assert_error(api.post(path, json={"otp": wrong_code(code), "iban": DEBTOR_IBAN}), 422, "otp")
        shown = api.get(f"/signature-orders/{order['id']}").json()
        assert shown["otp_attempts"] == attempt and shown["status"] == "otp_sent"
    assert_error(api.post(path, json={"otp": wrong_code(code), "iban": DEBTOR_IBAN}), 422, "otp")
    locked = api.get(f"/signature-orders/{order['id']}").json()
    assert locked["status"] == "failed" and locked["mandate_id"] is None
    # the right code after the lock-out signs nothing
    assert_error(api.post(path, json={"otp": code, "iban": DEBTOR_IBAN}), 409)
    assert api.get(f"/signature-orders/{order['id']}").json()["status"] == "failed"
    assert_error(api.post(f"/signature-orders/{order['id']}/otp"), 409)


def test_a_code_is_sent_at_most_once_a_minute(merchant):
    api = merchant["api"]
    order = create_order(api, "operator")
    send_code(api, order["id"])
    assert_error(api.post(f"/signature-orders/{order['id']}/otp"), 429)
    assert_error(api.post(f"/signature-orders/{order['id']}/resend"), 429)
    assert api.get(f"/signature-orders/{order['id']}").json()["otp_sends"] == 1


def test_bad_orders_are_refused_with_the_field_named(merchant):
    api = merchant["api"]
    for phone in ("0612345678", "+3361234", "not a phone"):
        response = api.post("/signature-orders", json={"method": "operator",
                                                       "subscriber": new_subscriber(phone=phone)})
        error = assert_error(response, 422, "subscriber")
        assert "phone" in error["fields"]["subscriber"], error
    assert_error(api.post("/signature-orders", json={"method": "fax", "subscriber": new_subscriber()}), 422,
                 "method")
    assert_error(api.post("/signature-orders", json={"method": "link", "subscriber_id": "SBNOTHING"}), 422,
                 "subscriber_id")
    assert_error(api.post("/signature-orders", json={"method": "link", "subscriber": new_subscriber(),
                                                     "plan": {"label": "x", "amount": 12.5,
                                                              "frequency": "monthly",
                                                              "start_date": "2030-01-05"}}), 422, "plan")
    assert_error(api.post("/signature-orders", data="nope"), 400)
    assert_error(api.get("/signature-orders", params={"status": "lost"}), 422, "status")


def test_orders_are_listed_newest_first_with_filters_and_pages(merchant):
    api = merchant["api"]
    reference = unique("LIST")
    link = create_order(api, "link", subscriber=new_subscriber(customer_reference=reference + "-L"))
    operator = create_order(api, "operator", subscriber=new_subscriber(customer_reference=reference + "-O"))
    cancelled = api.post(f"/signature-orders/{operator['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text

    first = api.get("/signature-orders", params={"limit": 1}).json()
    assert [o["id"] for o in first["items"]] == [operator["id"]] and first["next_cursor"]
    second = api.get("/signature-orders", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert [o["id"] for o in second["items"]] == [link["id"]]
    assert all(o["signing_url"] is None for o in second["items"])  # never stored in clear
    by_method = api.get("/signature-orders", params={"method": "link"}).json()["items"]
    assert link["id"] in [o["id"] for o in by_method] and all(o["method"] == "link" for o in by_method)
    by_status = api.get("/signature-orders", params={"status": "cancelled"}).json()["items"]
    assert operator["id"] in [o["id"] for o in by_status]
    assert all(o["status"] == "cancelled" for o in by_status)
    assert_error(api.post(f"/signature-orders/{operator['id']}/cancel"), 409)


def test_another_merchants_order_is_not_found(merchant, other):
    order = create_order(merchant["api"], "operator")
    api = other["api"]
    for method, path in (("GET", ""), ("POST", "/otp"), ("POST", "/cancel"), ("POST", "/resend")):
        assert_error(api.request(method, f"/signature-orders/{order['id']}{path}"), 404)
    assert_error(api.post(f"/signature-orders/{order['id']}/sign", json={"otp": "123456", "iban": DEBTOR_IBAN}),
                 404)
    assert order["id"] not in [o["id"] for o in api.get("/signature-orders").json()["items"]]
    assert merchant["api"].get(f"/signature-orders/{order['id']}").json()["status"] == "pending"


def test_the_openapi_document_lists_the_signature_order_paths(cluster):
    document = requests.get(cluster.url + "/api/v1/openapi.json", timeout=10).json()
    paths = document["paths"]
    assert set(paths["/signature-orders"]) == {"get", "post"}
    for path in ("/signature-orders/{order_id}", "/signature-orders/{order_id}/otp",
                 "/signature-orders/{order_id}/sign", "/signature-orders/{order_id}/cancel",
                 "/signature-orders/{order_id}/resend"):
        assert path in paths, path
    assert "SignIn" in document["components"]["schemas"]


def test_signature_orders_export_to_csv_with_their_filters(merchant):
    api = merchant["api"]
    reference = unique("EXP")
    order = create_order(api, "operator", subscriber=new_subscriber(customer_reference=reference))
    created = api.post("/exports", json={"section": "signature-orders", "filters": {"method": "operator"}})
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + 20
    while (job := api.get(f"/exports/{created.json()['id']}").json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["status"] == "done", job
    content = api.get(f"/exports/{job['id']}/download").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(content, newline=""), delimiter=";"))
    assert rows[0] == ["id", "method", "status", "customer_reference", "name", "email", "phone", "created_at",
                       "expires_at", "signed_at", "mandate_id"]
    mine = [row for row in rows[1:] if row[0] == order["id"]]
    assert mine and mine[0][1:5] == ["operator", "pending", reference, "Léa Fontaine"]
    assert mine[0][6] == "'+33612345678"  # spec §8: a cell starting with + is defused
    assert all(row[1] == "operator" for row in rows[1:])


# --- the public pages -------------------------------------------------------

def page(cluster, token, suffix="", session=None, **kwargs):
    return (session or requests).get(f"{cluster.url}/sign/{token}{suffix}", timeout=30, **kwargs)


def test_the_link_is_signed_through_the_public_pages(cluster, merchant):
    api = merchant["api"]
    order = create_order(api, "link")
    assert order["signing_url"].startswith(cluster.url + "/sign/")
    assert order["expires_at"] and order["status"] == "pending"
    mails = [path.read_text() for path in (cluster.var_dir / "outbox-mail").glob("*.eml")]
    assert any("lea.fontaine@example.test" in mail and token_of(order["signing_url"])[:20] in mail
               for mail in mails)
    token = token_of(order["signing_url"])
    browser = requests.Session()
    browser.headers["User-Agent"] = BROWSER

    shown = page(cluster, token, session=browser, params={"lang": "en"})
    assert shown.status_code == 200
    assert "Salle Horizon" in shown.text and "FR72ZZZ123456" in shown.text
    assert "8 weeks" in shown.text and "13 months" in shown.text
    shown_hash, text = MANDATE_TEXT.search(shown.text).groups()
    # the text on the page is exactly the document whose hash becomes the evidence
    assert "sha256:" + hashlib.sha256(html.unescape(text).encode()).hexdigest() == shown_hash

    details = browser.post(f"{cluster.url}/sign/{token}?lang=en", data={
        "csrf_token": csrf_token(shown.text), "name": "Léa Fontaine", "iban": "DE8937040044053201300"})
    assert details.status_code == 422 and 'data-field="iban"' in details.text
    assert not sms_messages(cluster.var_dir, order["id"])  # nothing sent for an invalid IBAN
    no_csrf = browser.post(f"{cluster.url}/sign/{token}", data={"name": "Léa Fontaine", "iban": DEBTOR_IBAN})
    assert no_csrf.status_code == 400 and "expired" in no_csrf.text

    details = browser.post(f"{cluster.url}/sign/{token}?lang=en", data={
        "csrf_token": csrf_token(shown.text), "name": "Léa Fontaine", "iban": DEBTOR_IBAN})
    assert details.status_code == 200 and 'name="otp"' in details.text, details.text
    assert details.history and details.history[0].status_code == 302  # reloading sends no second SMS
    code = last_code(cluster.var_dir, order["id"])

    wrong = browser.post(f"{cluster.url}/sign/{token}/code?lang=en",
                         data={"csrf_token": csrf_token(details.text), "otp": wrong_code(code)})
    assert wrong.status_code == 422 and 'data-attempts-left="4"' in wrong.text and "4 attempts left" in wrong.text
    done = browser.post(f"{cluster.url}/sign/{token}/code?lang=en",
                        data={"csrf_token": csrf_token(wrong.text), "otp": code})
    assert done.status_code == 200 and "Mandate signed" in done.text, done.text
    pdf = page(cluster, token, "/mandate.pdf", session=browser)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")

    signed = api.get(f"/signature-orders/{order['id']}").json()
    assert signed["status"] == "signed"
    evidence = api.get(f"/mandates/{signed['mandate_id']}").json()["evidence"]
    assert evidence["user_agent"] == BROWSER and evidence["ip_address"] == "127.0.0.1"
    assert evidence["document_hash"] == signed["evidence"]["document_hash"]
    signed_text = MANDATE_TEXT.search(wrong.text).group(2)  # with the IBAN given, as signed
    assert evidence["document_hash"] == "sha256:" + hashlib.sha256(html.unescape(signed_text).encode()).hexdigest()

    reused = page(cluster, token, session=browser)
    assert reused.status_code == 410 and "already used" in reused.text


def test_a_resent_link_replaces_the_old_one(cluster, merchant):
    api = merchant["api"]
    order = create_order(api, "link")
    assert_error(api.post(f"/signature-orders/{order['id']}/resend"), 429)  # the first mail just left
    old = token_of(order["signing_url"])
    assert page(cluster, old).status_code == 200
    with cluster.clock_at(clock.now() + timedelta(minutes=2)):  # a minute later, allowed
        resent = api.post(f"/signature-orders/{order['id']}/resend")
        assert resent.status_code == 200, resent.text
        new = token_of(resent.json()["signing_url"])
        assert new != old
        assert page(cluster, old).status_code == 410
        assert page(cluster, new).status_code == 200


def test_tampered_or_unknown_links_are_a_clear_404_page(cluster, merchant):
    token = token_of(create_order(merchant["api"], "link")["signing_url"])
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (tampered, "nonsense", token + "x"):
        shown = page(cluster, bad)
        assert shown.status_code == 404 and "not valid" in shown.text, bad
    assert page(cluster, tampered, "/mandate.pdf").status_code == 404
    assert page(cluster, token, "/done").status_code == 404  # not signed yet


def test_the_page_speaks_french_or_english(cluster, merchant):
    token = token_of(create_order(merchant["api"], "link", lang="fr")["signing_url"])
    french = page(cluster, token, headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert french.status_code == 200 and "Signer le mandat" in french.text and 'lang="fr"' in french.text
    english = page(cluster, token, params={"lang": "en"}, headers={"Accept-Language": "fr-FR"})
    assert "Sign the mandate" in english.text and 'lang="en"' in english.text
    assert "?lang=fr" in english.text  # the language switch


def test_a_cancelled_order_link_is_gone(cluster, merchant):
    order = create_order(merchant["api"], "link")
    assert merchant["api"].post(f"/signature-orders/{order['id']}/cancel").status_code == 200
    assert page(cluster, token_of(order["signing_url"])).status_code == 410
