"""Tenancy (issue 9): every endpoint of the OpenAPI document that takes an id answers 404 to
another merchant's id, whatever the method, and changes nothing; no list shows another
merchant's rows. The paths come from the document itself, so a new endpoint is covered."""
from datetime import timedelta

import pytest
import requests

from harness.api import DEBTOR_IBAN, import_mandate, unique
from harness.days import business_day_ahead, next_year

pytestmark = pytest.mark.cluster

# A plausible body for each action, so that the answer is about the id, not the body.
BODIES = {
    ("post", "/mandates/{mandate_id}/bank-details"): {"iban": "FR7630006000011234567890189"},
    ("post", "/mandates/{mandate_id}/revoke"): {"reason": "asked by the debtor"},
    ("post", "/payments/{payment_id}/replay"): {"due_date": business_day_ahead(20).isoformat()},
    ("patch", "/plans/{plan_id}"): {"amount": 1500},
    ("post", "/signature-orders/{order_id}/sign"): {"otp": "123456", "iban": DEBTOR_IBAN},
}
LISTS = {"/subscribers": "subscriber_id", "/mandates": "mandate_id", "/payments": "payment_id",
         "/plans": "plan_id", "/signature-orders": "order_id"}


@pytest.fixture(scope="module")
def owned(cluster):
    """Merchant A's ids, one of each kind an endpoint takes."""
    owner = cluster.create_merchant(name="Merchant A")
    api = cluster.api(owner["api_key"])
    mandate = import_mandate(api)
    start = next_year(3, 10)
    plan = api.post("/plans", json={"mandate_id": mandate["id"], "label": "Yoga", "amount": 3000,
                                    "frequency": "monthly", "start_date": start.isoformat(), "count": 3})
    assert plan.status_code == 201, plan.text
    due = business_day_ahead(30)
    one_off = api.post("/payments", json={"mandate_id": mandate["id"], "amount": 4990, "label": "Stage",
                                          "due_date": due.isoformat()})
    assert one_off.status_code == 201, one_off.text
    cluster.debito("collect", "--as-of", (due - timedelta(days=14)).isoformat())  # its pre-notification day
    payment = api.get("/payments", params={"mandate_id": mandate["id"]}).json()["items"][0]
    order = api.post("/signature-orders", json={"method": "link", "subscriber": {
        "customer_reference": unique("T"), "name": "Zoë Tenant", "email": "zoe@example.test",
        "phone": "+33612345678"}})
    assert order.status_code == 201, order.text
    export = api.post("/exports", json={"section": "subscribers"})
    assert export.status_code in (201, 202), export.text
    ids = {"mandate_id": mandate["id"], "subscriber_id": mandate["subscriber"]["id"], "plan_id": plan.json()["id"],
           "payment_id": payment["id"], "order_id": order.json()["id"], "export_id": export.json()["id"]}
    return owner, api, ids


def test_another_merchants_ids_answer_404_on_every_endpoint_and_change_nothing(cluster, owned):
    owner, owner_api, ids = owned
    before = {name: owner_api.get(path.format(**ids)).json() for name, path in (
        ("mandate", "/mandates/{mandate_id}"), ("plan", "/plans/{plan_id}"), ("order", "/signature-orders/{order_id}"))}
    other = cluster.api(cluster.create_merchant(name="Merchant B")["api_key"])
    document = requests.get(cluster.url + "/api/v1/openapi.json", timeout=10).json()
    tried = []
    for path, operations in document["paths"].items():
        if "{" not in path:
            continue
        for method in operations:
            if method not in ("get", "post", "patch", "put", "delete"):
                continue
            url = path.format(**ids)  # a KeyError names an id kind this test does not make yet
            response = getattr(other, method)(url, json=BODIES.get((method, path), {}),
                                              headers={"Idempotency-Key": unique("K")})
            assert response.status_code == 404, f"{method.upper()} {path}: {response.status_code} {response.text}"
            tried.append((method, path))
    assert len(tried) >= 20
    after = {name: owner_api.get(path.format(**ids)).json() for name, path in (
        ("mandate", "/mandates/{mandate_id}"), ("plan", "/plans/{plan_id}"), ("order", "/signature-orders/{order_id}"))}
    assert after == before


def test_another_merchants_lists_never_show_the_owners_rows(cluster, owned):
    _, owner_api, ids = owned
    other = cluster.api(cluster.create_merchant(name="Merchant C")["api_key"])
    for path, kind in LISTS.items():
        mine = {item["id"] for item in owner_api.get(path).json()["items"]}
        assert ids[kind] in mine, path  # the owner sees it
        theirs = other.get(path, params={"q": "Tenant"} if path == "/subscribers" else None).json()["items"]
        assert theirs == [], path
    reference = owner_api.get(f"/mandates/{ids['mandate_id']}").json()["subscriber"]["customer_reference"]
    for path, params in (("/mandates", {"customer_reference": reference}),
                         ("/payments", {"mandate_id": ids["mandate_id"]}),
                         ("/plans", {"mandate_id": ids["mandate_id"]}),
                         ("/payments", {"plan_id": ids["plan_id"]}),
                         ("/mandates", {"subscriber_id": ids["subscriber_id"]})):
        assert other.get(path, params=params).json()["items"] == [], (path, params)
    assert other.get("/r-transactions").json()["items"] == [] and other.get("/payouts").json()["items"] == []
    assert DEBTOR_IBAN not in other.get("/mandates").text
