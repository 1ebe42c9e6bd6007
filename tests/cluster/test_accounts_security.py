"""Accounts (issue 9): every form of the dashboard and of the signing pages refuses a POST
without its CSRF token, or with another session's, and changes nothing; the routes come from
the gateway's own url_map, so a new form is covered. The session cookie is HttpOnly and
SameSite=Lax, and Secure once the gateway is served over HTTPS (PUBLIC_URL https://…)."""
import json
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
import requests

from harness.api import import_mandate
from harness.cluster import ROOT
from harness.ports import free_port
from harness.signing import create_order, csrf_token, token_of

pytestmark = pytest.mark.cluster

ROUTES = ("import json; from gateway.app import create_app; print(json.dumps([[rule.rule, sorted(rule.methods), "
          "rule.endpoint] for rule in create_app().url_map.iter_rules()]))")


def gateway_routes(cluster):
    """[(rule, methods, endpoint)] of the gateway's url_map, read in a process of its own."""
    out = subprocess.run([sys.executable, "-c", ROUTES], env=cluster.env, cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return [(rule, set(methods), endpoint) for rule, methods, endpoint in json.loads(out.splitlines()[-1])]


def logged_in(url, merchant):
    browser = requests.Session()
    token = csrf_token(browser.get(url + "/login", timeout=10).text)
    answer = browser.post(url + "/login", data={"email": merchant["email"], "password": merchant["password"],
                                                "csrf_token": token}, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return browser, answer


@pytest.fixture(scope="module")
def merchant_with_objects(cluster):
    """A merchant with a mandate, a plan, an operator order and a link order of its own: every
    form's action would go through if its token were not checked."""
    merchant = cluster.create_merchant(name="Jetons & Fils")
    api = cluster.api(merchant["api_key"])
    mandate = import_mandate(api)
    plan = api.post("/plans", json={"mandate_id": mandate["id"], "label": "Cours", "amount": 2500,
                                    "frequency": "monthly", "start_date": "2031-01-10", "count": 3})
    assert plan.status_code == 201, plan.text
    operator = create_order(api, method="operator")
    link = create_order(api, method="link")
    ids = {"mandate_id": mandate["id"], "plan_id": plan.json()["id"], "order_id": operator["id"],
           "payment_id": "PM00000000000000000000", "export_id": "EX00000000000000000000",
           "token": token_of(link["signing_url"]), "action": "cancel"}
    return merchant, api, ids


# A body each form would accept, so that only the token is missing.
BODIES = {
    "/login": lambda merchant: {"email": merchant["email"], "password": merchant["password"]},
    "/dashboard/mandates/new": lambda _: {"customer_reference": "CSRF-1", "name": "Jean Forgé", "iban":
                                          "DE89370400440532013000", "signature_method": "paper",
                                          "signed_at": "2026-01-05", "signed_place": "Lyon"},
    "/dashboard/subscribers/new": lambda _: {"customer_reference": "CSRF-2", "name": "Jean Forgé",
                                             "email": "jean@example.test", "phone": "+33612345678"},
    "/dashboard/mandates/<mandate_id>/bank-details": lambda _: {"iban": "FR7630006000011234567890189"},
    "/dashboard/mandates/<mandate_id>/revoke": lambda _: {"reason": "forged"},
    "/dashboard/plans/<plan_id>/edit": lambda _: {"amount": "99,00"},
    "/dashboard/monitoring/payouts": lambda _: {"amount": "1,00"},
    "/dashboard/exports": lambda _: {"section": "mandates"},
    "/sign/<token>": lambda _: {"name": "Jean Forgé", "iban": "DE89370400440532013000"},
    "/sign/<token>/code": lambda _: {"otp": "123456"},
}


def test_every_post_form_refuses_a_request_without_its_csrf_token_and_changes_nothing(cluster,
                                                                                     merchant_with_objects):
    merchant, api, ids = merchant_with_objects
    browser, _ = logged_in(cluster.url, merchant)
    other_session, _ = logged_in(cluster.url, cluster.create_merchant(name="Autre session"))
    someone_elses = csrf_token(other_session.get(cluster.url + "/dashboard/subscribers/new", timeout=10).text)
    before = {"mandate": api.get(f"/mandates/{ids['mandate_id']}").json(),
              "plan": api.get(f"/plans/{ids['plan_id']}").json(),
              "orders": api.get("/signature-orders").json()["items"],
              "subscribers": api.get("/subscribers").json()["items"]}
    posts = [(rule, endpoint) for rule, methods, endpoint in gateway_routes(cluster)
             if "POST" in methods and not rule.startswith("/api/")]  # the API takes a bearer key, no cookie
    assert len(posts) >= 18, posts
    for rule, endpoint in posts:
        path = rule.replace("<", "{").replace(">", "}").format(**ids)
        body = BODIES.get(rule, lambda _: {})(merchant)
        for token in (None, someone_elses):
            data = dict(body, csrf_token=token) if token else body
            answer = browser.post(cluster.url + path, data=data, allow_redirects=False, timeout=30)
            assert answer.status_code in (400, 403), f"POST {rule} ({endpoint}): {answer.status_code}"
    assert browser.get(cluster.url + "/dashboard/overview", allow_redirects=False, timeout=10).status_code == 200
    after = {"mandate": api.get(f"/mandates/{ids['mandate_id']}").json(),
             "plan": api.get(f"/plans/{ids['plan_id']}").json(),
             "orders": api.get("/signature-orders").json()["items"],
             "subscribers": api.get("/subscribers").json()["items"]}
    assert after == before
    # nothing sensitive happened either (no revoke, amendment, payout, export): only the key's creation
    assert [e["action"] for e in api.get("/audit-log").json()["items"]] == ["api_key.create"]


@contextmanager
def gateway_behind_https(cluster):
    """A second gateway on the cluster's broker and database, configured as served over HTTPS
    (a TLS proxy in front: PUBLIC_URL https://…), answering plain HTTP on its own port."""
    port = free_port()
    env = dict(cluster.env, GATEWAY_PORT=str(port), PUBLIC_URL="https://debito.example")
    process = subprocess.Popen([sys.executable, "-m", "debito.gateway_server"], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url + "/login", timeout=2)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "the HTTPS gateway did not start"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(15)


def cookie_flags(set_cookie):
    return {part.strip().split("=")[0].lower(): part.strip() for part in set_cookie.split(";")[1:]}


def test_the_session_cookie_is_secure_behind_https_and_always_http_only_and_same_site(cluster):
    merchant = cluster.create_merchant(name="Cookie SAS")
    _, plain = logged_in(cluster.url, merchant)
    flags = cookie_flags(plain.headers["Set-Cookie"])
    assert "httponly" in flags and flags["samesite"] == "SameSite=Lax"
    assert "secure" not in flags  # plain HTTP (make run on one machine): a Secure cookie would never come back
    with gateway_behind_https(cluster) as url:
        form = requests.get(url + "/login", timeout=10)  # the browser holds the cookie: HTTPS up to the proxy
        assert "secure" in cookie_flags(form.headers["Set-Cookie"])
        behind = requests.post(url + "/login", timeout=10, allow_redirects=False,
                               headers={"Cookie": form.headers["Set-Cookie"].split(";")[0]},
                               data={"email": merchant["email"], "password": merchant["password"],
                                     "csrf_token": csrf_token(form.text)})
    assert behind.status_code == 302, behind.text
    flags = cookie_flags(behind.headers["Set-Cookie"])
    assert "secure" in flags and "httponly" in flags and flags["samesite"] == "SameSite=Lax"
