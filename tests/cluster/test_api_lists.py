"""The API's anchor call and list pages through the whole cluster: `GET /api/v1/ping`
(authenticated like every list, reaches a service, no database), a subscriber's page built
from three services at once, and keyset pages of plans by frequency and of a subscriber's
payments and plans across page boundaries."""
import pytest

from harness.api import assert_error, import_mandate
from harness.days import next_year

pytestmark = pytest.mark.cluster


@pytest.fixture
def merchant(cluster):
    created = cluster.create_merchant(name="Piscine des Lilas")
    created["api"] = cluster.api(created["api_key"])
    created["mandate"] = import_mandate(created["api"])
    return created


def test_ping_needs_the_api_key_and_answers_from_a_service(cluster, merchant):
    api = merchant["api"]
    response = api.get("/ping")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "service": "mandates", "merchant_id": merchant["merchant_id"]}
    anonymous = cluster.api("")
    del anonymous.session.headers["Authorization"]
    assert_error(anonymous.get("/ping"), 401)
    assert_error(cluster.api("dbt_0123456789ab_" + "x" * 32).get("/ping"), 401)
    assert_error(cluster.api(merchant["api_key"][:-2] + "zz").get("/ping"), 401)
    assert "get" in api.get("/openapi.json").json()["paths"]["/ping"]


def test_subscriber_page_gathers_mandates_plans_and_payments_and_404s_for_others(cluster, merchant):
    api = merchant["api"]
    mandate = merchant["mandate"]
    start = next_year(3, 2).isoformat()
    plan = api.post("/plans", json={"mandate_id": mandate["id"], "label": "Natation", "amount": 4200,
                                    "frequency": "quarterly", "start_date": start, "count": 2})
    assert plan.status_code == 201, plan.text
    page = api.get(f"/subscribers/{mandate['subscriber_id']}")
    assert page.status_code == 200, page.text
    body = page.json()
    assert [m["id"] for m in body["mandates"]] == [mandate["id"]]
    assert [p["id"] for p in body["plans"]] == [plan.json()["id"]] and body["payments"] == []
    assert_error(api.get("/subscribers/SB0000000000NOPE"), 404)
    other = cluster.create_merchant(name="Autre Club")
    assert_error(cluster.api(other["api_key"]).get(f"/subscribers/{mandate['subscriber_id']}"), 404)
    # the pool's proxy that carried the 404 still answers the next page right
    assert api.get(f"/subscribers/{mandate['subscriber_id']}").json()["plans"][0]["id"] == plan.json()["id"]


def test_plans_by_frequency_page_by_keyset_without_gaps_or_repeats(merchant):
    api = merchant["api"]
    start = next_year(1, 15).isoformat()
    made = {"quarterly": [], "annual": []}
    for n in range(7):
        frequency = "quarterly" if n % 3 else "annual"
        response = api.post("/plans", json={"mandate_id": merchant["mandate"]["id"], "label": f"Plan {n}",
                                            "amount": 1000 + n, "frequency": frequency, "start_date": start})
        assert response.status_code == 201, response.text
        made[frequency].append(response.json()["id"])
    for frequency, ids in made.items():
        seen, cursor = [], None
        while True:
            params = {"frequency": frequency, "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = api.get("/plans", params=params).json()
            assert len(page["items"]) <= 2 and {p["frequency"] for p in page["items"]} <= {frequency}
            seen += [p["id"] for p in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == sorted(ids, reverse=True)  # newest first, each once
    active = api.get("/plans", params={"frequency": "quarterly", "status": "active", "limit": 500}).json()
    assert sorted(p["id"] for p in active["items"]) == sorted(made["quarterly"])


def test_a_long_page_comes_in_gzip_to_a_client_that_takes_it_and_plain_to_one_that_does_not(merchant):
    """The gateway (Flask-Compress) compresses a list page of 1 KB or more for a client that
    takes gzip; a client without gzip gets the same JSON plainly, and so does every small
    answer. The services answer the page as data, never compressed."""
    import gzip
    import json

    api = merchant["api"]
    start = next_year(2, 10).isoformat()
    for n in range(6):
        response = api.post("/plans", json={"mandate_id": merchant["mandate"]["id"], "label": f"Cours « {n} »",
                                            "amount": 1500 + n, "frequency": "monthly", "start_date": start,
                                            "count": 3})
        assert response.status_code == 201, response.text
    for path, params in (("/plans", {"frequency": "monthly"}), ("/mandates", {}), ("/payments", {}),
                         ("/r-transactions", {})):
        plain = api.get(path, params=params, headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200, plain.text
        assert "Content-Encoding" not in plain.headers
        raw = api.get(path, params=params, headers={"Accept-Encoding": "gzip"}, stream=True)
        body = raw.raw.read(decode_content=False)
        if len(plain.content) >= 1024:
            assert raw.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in raw.headers["Vary"]
            assert len(body) < len(plain.content) / 3
            body = gzip.decompress(body)
        else:
            assert "Content-Encoding" not in raw.headers
        assert json.loads(body) == plain.json()
    assert len(api.get("/plans", params={"frequency": "monthly"}).json()["items"]) == 6
