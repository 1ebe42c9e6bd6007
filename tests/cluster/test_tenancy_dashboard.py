"""Tenancy on the dashboard (issue 9): merchant B, logged in through the login form, asking
for merchant A's ids gets 404 on every page, download and action that takes an id (mandate,
its PDF and scan, plan, payment, subscriber, order, export and its file), never a 200 nor a
500, and nothing of A changes; B's lists, searches, statement CSV and exports never show A's
ids or names. The routes come from the gateway's url_map: a new route taking an id that this
test does not try makes it fail."""
import json
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import requests

from common.sepa import mask_iban
from harness.api import DEBTOR_IBAN, finished, import_mandate, unique
from harness.cluster import ROOT
from harness.days import business_day_ahead, days_ago, days_ahead, next_year
from harness.signing import csrf_token, new_subscriber

pytestmark = pytest.mark.cluster

ROUTES = ("import json; from gateway.app import create_app; print(json.dumps([[rule.rule, sorted(rule.methods), "
          "sorted(rule.arguments)] for rule in create_app().url_map.iter_rules()]))")
# Route arguments that are not an object's id: the language, a section's name, a static file;
# /sign/<token> is the public signing page, where the token is the credential (test_signing_fuzz.py).
NOT_IDS = {"code", "name", "filename", "token"}

# Every dashboard route taking an id, with the form an action would accept (the CSRF token added).
ID_ROUTES = {
    ("GET", "/dashboard/mandates/<mandate_id>"): None,
    ("GET", "/dashboard/mandates/<mandate_id>/pdf"): None,
    ("GET", "/dashboard/mandates/<mandate_id>/scan"): None,
    ("POST", "/dashboard/mandates/<mandate_id>/bank-details"): {"iban": "FR7630006000011234567890189"},
    ("POST", "/dashboard/mandates/<mandate_id>/revoke"): {"reason": "asked by the debtor"},
    ("GET", "/dashboard/subscribers/<subscriber_id>"): None,
    ("GET", "/dashboard/plans/<plan_id>"): None,
    ("POST", "/dashboard/plans/<plan_id>/edit"): {"amount": "15,00"},
    ("POST", "/dashboard/plans/<plan_id>/<action>"): {},
    ("GET", "/dashboard/payments/<payment_id>"): None,
    ("POST", "/dashboard/payments/<payment_id>/replay"): {"due_date": business_day_ahead(20).isoformat()},
    ("GET", "/dashboard/orders/<order_id>"): None,
    ("POST", "/dashboard/orders/<order_id>/otp"): {},
    ("POST", "/dashboard/orders/<order_id>/sign"): {"otp": "123456", "iban": DEBTOR_IBAN},
    ("POST", "/dashboard/orders/<order_id>/cancel"): {},
    ("POST", "/dashboard/orders/<order_id>/resend"): {},
    ("GET", "/dashboard/exports/<export_id>"): None,
    ("GET", "/dashboard/exports/<export_id>/status"): None,
    ("GET", "/dashboard/exports/<export_id>/download"): None,
}
LISTS = ("mandates", "subscribers", "plans", "payments", "orders", "r-transactions")
EXPORT_SECTIONS = ("subscribers", "mandates", "plans", "payments", "r-transactions", "payouts", "statement",
                   "signature-orders")


def id_routes(cluster):
    """{(method, rule)} of the dashboard's routes that take an id, from the gateway's url_map."""
    out = subprocess.run([sys.executable, "-c", ROUTES], env=cluster.env, cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return {(method, rule) for rule, methods, arguments in json.loads(out.splitlines()[-1])
            for method in methods if method in ("GET", "POST", "PUT", "PATCH", "DELETE")
            and not rule.startswith("/api/") and set(arguments) - NOT_IDS}


def log_in(cluster, merchant):
    browser = requests.Session()
    token = csrf_token(browser.get(cluster.url + "/login", timeout=10).text)
    answer = browser.post(cluster.url + "/login", data={"email": merchant["email"], "password": merchant["password"],
                                                        "csrf_token": token}, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return browser


@pytest.fixture(scope="module")
def owner(cluster):
    """Merchant A with one of each object, each named so that it can be recognised anywhere."""
    merchant = cluster.create_merchant(name="Locataire A")
    api = cluster.api(merchant["api_key"])
    name = f"Zoë Locataire {unique('N')}"
    mandate = import_mandate(api, subscriber={"customer_reference": unique("TA"), "name": name,
                                              "email": "zoe@example.test", "phone": "+33612345678"})
    label = unique("Yoga")
    start = next_year(3, 10)
    plan = api.post("/plans", json={"mandate_id": mandate["id"], "label": label, "amount": 3000,
                                    "frequency": "monthly", "start_date": start.isoformat(), "count": 3})
    assert plan.status_code == 201, plan.text
    due = business_day_ahead(30)
    one_off = api.post("/payments", json={"mandate_id": mandate["id"], "amount": 4990, "label": unique("Stage"),
                                          "due_date": due.isoformat()})
    assert one_off.status_code == 201, one_off.text
    cluster.debito("collect", "--as-of", (due - timedelta(days=14)).isoformat())  # its pre-notification day
    payment = api.get("/payments", params={"mandate_id": mandate["id"]}).json()["items"][0]
    order_name = f"Zoé Commande {unique('O')}"
    order = api.post("/signature-orders", json={"method": "operator", "subscriber": new_subscriber(name=order_name)})
    assert order.status_code == 201, order.text
    export = api.post("/exports", json={"section": "mandates"})
    assert export.status_code in (201, 202), export.text
    assert finished(api, export.json()["id"])["status"] == "done"
    ids = {"mandate_id": mandate["id"], "subscriber_id": mandate["subscriber"]["id"], "plan_id": plan.json()["id"],
           "payment_id": payment["id"], "order_id": order.json()["id"], "export_id": export.json()["id"]}
    marks = set(ids.values()) | {name, order_name, label, mandate["reference"],
                                 mandate["subscriber"]["customer_reference"], payment["end_to_end_id"],
                                 mask_iban(DEBTOR_IBAN)}
    return {"api": api, "ids": ids, "marks": marks, "mandate": mandate}


def state_of(owner):
    api, ids = owner["api"], owner["ids"]
    return {"mandate": api.get(f"/mandates/{ids['mandate_id']}").json(),
            "plan": api.get(f"/plans/{ids['plan_id']}").json(),
            "payment": api.get(f"/payments/{ids['payment_id']}").json(),
            "order": api.get(f"/signature-orders/{ids['order_id']}").json(),
            "audit": api.get("/audit-log").json()["items"]}


def shown(text, marks):
    return sorted(mark for mark in marks if mark in text)


def test_another_merchants_ids_answer_404_on_every_dashboard_page_download_and_action(cluster, owner):
    assert set(ID_ROUTES) == id_routes(cluster), "a dashboard route taking an id is not tried here (or is gone)"
    before = state_of(owner)
    browser = log_in(cluster, cluster.create_merchant(name="Locataire B"))
    token = csrf_token(browser.get(cluster.url + "/dashboard/subscribers/new", timeout=10).text)
    tried = []
    for (method, rule), form in ID_ROUTES.items():
        for action in (("pause", "resume", "cancel") if "<action>" in rule else (None,)):
            path = rule.replace("<", "{").replace(">", "}").format(action=action, **owner["ids"])
            if method == "GET":
                answer = browser.get(cluster.url + path, allow_redirects=False, timeout=30)
            else:
                answer = browser.post(cluster.url + path, data=dict(form, csrf_token=token), allow_redirects=False,
                                      timeout=30)
            assert answer.status_code == 404, f"{method} {path}: {answer.status_code}"
            assert not shown(answer.text, owner["marks"] - {owner["ids"][k] for k in owner["ids"]}), path
            tried.append(path)
    assert len(tried) == len(ID_ROUTES) + 2
    assert state_of(owner) == before


def test_another_merchants_ids_in_a_form_or_a_query_are_refused_and_make_nothing(cluster, owner):
    ids = owner["ids"]
    merchant = cluster.create_merchant(name="Locataire C")
    mine = cluster.api(merchant["api_key"])
    browser = log_in(cluster, merchant)
    token = csrf_token(browser.get(cluster.url + "/dashboard/subscribers/new", timeout=10).text)
    answer = browser.get(cluster.url + "/dashboard/orders/new", params={"subscriber_id": ids["subscriber_id"]},
                         timeout=30)
    assert answer.status_code == 404 and not shown(answer.text, owner["marks"] - set(ids.values()))
    for path, form in (
            ("/dashboard/orders/new", {"method": "operator", "subscriber_id": ids["subscriber_id"]}),
            ("/dashboard/mandates/new", {"subscriber_id": ids["subscriber_id"], "iban": DEBTOR_IBAN,
                                         "signature_method": "paper", "signed_at": "2026-01-05",
                                         "signed_place": "Lyon"}),
            ("/dashboard/plans/new", {"mandate_id": ids["mandate_id"], "label": "Vol", "amount": "30,00",
                                      "frequency": "monthly", "start_date": "2031-03-10", "count": "3"})):
        answer = browser.post(cluster.url + path, data=dict(form, csrf_token=token), allow_redirects=False,
                              timeout=30)
        assert answer.status_code in (404, 422), f"POST {path}: {answer.status_code}"
        assert not shown(answer.text, owner["marks"] - set(ids.values())), path
    for path in ("/mandates", "/plans", "/signature-orders", "/subscribers", "/payments"):
        assert mine.get(path).json()["items"] == [], path


def test_another_merchants_lists_searches_statement_and_exports_never_show_the_owners_rows(cluster, owner):
    ids, mandate = owner["ids"], owner["mandate"]
    subscriber = mandate["subscriber"]
    browser = log_in(cluster, cluster.create_merchant(name="Locataire D"))
    pages = [
        ("/dashboard/mandates", {}), ("/dashboard/mandates", {"q": subscriber["name"]}),
        ("/dashboard/mandates", {"customer_reference": subscriber["customer_reference"]}),
        ("/dashboard/mandates", {"reference": mandate["reference"]}),
        ("/dashboard/mandates", {"subscriber_id": ids["subscriber_id"]}),
        ("/dashboard/subscribers", {}), ("/dashboard/subscribers", {"q": subscriber["name"]}),
        ("/dashboard/subscribers", {"q": "Zoé"}),
        ("/dashboard/plans", {}), ("/dashboard/plans", {"mandate_id": ids["mandate_id"]}),
        ("/dashboard/plans", {"subscriber_id": ids["subscriber_id"]}),
        ("/dashboard/payments", {}), ("/dashboard/payments", {"mandate_id": ids["mandate_id"]}),
        ("/dashboard/payments", {"plan_id": ids["plan_id"]}),
        ("/dashboard/payments", {"subscriber_id": ids["subscriber_id"]}),
        ("/dashboard/orders", {}), ("/dashboard/orders", {"method": "operator"}),
        ("/dashboard/r-transactions", {}), ("/dashboard/overview", {}), ("/dashboard/monitoring", {}),
        ("/dashboard/monitoring/audit", {}),
        ("/dashboard/monitoring/statement.csv", {"from": days_ago(400).isoformat(),
                                                 "to": days_ahead(400).isoformat()}),
    ]
    for path, params in pages:
        answer = browser.get(cluster.url + path, params=params, timeout=30)
        assert answer.status_code == 200, f"{path} {params}: {answer.status_code}"
        marks = owner["marks"] - set(params.values())  # a search box shows what B typed
        assert not shown(answer.text, marks), (path, params, shown(answer.text, marks))
        if path.rsplit("/", 1)[1] in LISTS:
            assert 'class="empty-state"' in answer.text, (path, params)  # not one row

    token = csrf_token(browser.get(cluster.url + "/dashboard/mandates", timeout=10).text)
    filters = {"mandates": {"filter_subscriber_id": ids["subscriber_id"]},
               "plans": {"filter_mandate_id": ids["mandate_id"]}, "payments": {"filter_plan_id": ids["plan_id"]},
               "statement": {"filter_from": days_ago(400).isoformat(),
                             "filter_to": days_ahead(400).isoformat()}}
    for section in EXPORT_SECTIONS:
        started = browser.post(cluster.url + "/dashboard/exports", allow_redirects=False, timeout=30,
                               data=dict(filters.get(section, {}), section=section, csrf_token=token))
        assert started.status_code == 302, f"{section}: {started.status_code}"
        export_id = started.headers["Location"].rstrip("/").rsplit("/", 1)[1]
        deadline = time.monotonic() + 30
        while (status := browser.get(f"{cluster.url}/dashboard/exports/{export_id}/status",
                                     timeout=10).json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status["status"] == "done", status
        download = browser.get(f"{cluster.url}/dashboard/exports/{export_id}/download", timeout=30)
        assert download.status_code == 200, section
        text = download.content.decode("utf-8-sig")
        assert not shown(text, owner["marks"]), (section, shown(text, owner["marks"]))
