"""Plans through the HTTP API: schedules on TARGET2 business days, edits,
pause/resume/cancel, the one-off debit, bad input, another merchant's ids."""
from datetime import date, timedelta

import pytest

from common.calendar import add_business_days
from harness.api import assert_error, import_mandate
from harness.days import business_day_ahead, days_ago, days_ahead, next_year, today

pytestmark = pytest.mark.cluster


@pytest.fixture
def merchant(cluster):
    created = cluster.create_merchant(name="Yoga Parc")
    created["api"] = cluster.api(created["api_key"])
    created["mandate"] = import_mandate(created["api"])
    return created


def monthly(mandate_id, **overrides):
    body = {"mandate_id": mandate_id, "label": "Abonnement yoga", "amount": 2990,
            "frequency": "monthly", "start_date": next_year(1, 31).isoformat(), "count": 4}
    body.update(overrides)
    return body


def test_monthly_plan_from_the_31st_clamps_and_skips_closed_days(merchant):
    api = merchant["api"]
    response = api.post("/plans", json=monthly(merchant["mandate"]["id"]))
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["id"].startswith("PL") and plan["status"] == "active"
    dates = [u["due_date"] for u in plan["upcoming"]]
    assert len(dates) == 4
    assert all(date.fromisoformat(d).weekday() < 5 for d in dates)
    assert dates[1][5:7] == "02" or dates[1][5:7] == "03"  # end of February, or the next open day
    assert plan["next_due_date"] == dates[0]
    assert {u["amount"] for u in plan["upcoming"]} == {2990}


def test_plan_is_edited_paused_resumed_and_cancelled_with_history(merchant):
    api = merchant["api"]
    plan = api.post("/plans", json=monthly(merchant["mandate"]["id"], count=None)).json()
    edited = api.patch(f"/plans/{plan['id']}", json={"amount": 3490})
    assert edited.status_code == 200, edited.text
    shown = api.get(f"/plans/{plan['id']}").json()
    assert {u["amount"] for u in shown["upcoming"]} == {3490}
    assert shown["history"] and "amount" in shown["history"][-1]["changes"]
    assert api.post(f"/plans/{plan['id']}/pause").json()["status"] == "paused"
    assert api.post(f"/plans/{plan['id']}/resume").json()["status"] == "active"
    assert api.post(f"/plans/{plan['id']}/cancel").json()["status"] == "cancelled"
    assert_error(api.post(f"/plans/{plan['id']}/pause"), 409)


def test_plans_are_filtered_by_status_frequency_and_mandate(merchant):
    api = merchant["api"]
    mandate_id = merchant["mandate"]["id"]
    weekly = api.post("/plans", json=monthly(mandate_id, frequency="weekly", label="Panier")).json()
    api.post("/plans", json=monthly(mandate_id))
    found = api.get("/plans", params={"frequency": "weekly", "mandate_id": mandate_id}).json()["items"]
    assert [p["id"] for p in found] == [weekly["id"]]
    api.post(f"/plans/{weekly['id']}/cancel")
    active = api.get("/plans", params={"status": "active", "mandate_id": mandate_id}).json()["items"]
    assert weekly["id"] not in [p["id"] for p in active]


def test_one_off_debit_is_a_once_plan(merchant):
    due = business_day_ahead(30).isoformat()
    response = merchant["api"].post("/payments", json={"mandate_id": merchant["mandate"]["id"],
                                                       "amount": 12500, "due_date": due,
                                                       "label": "Stage d'été"})
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["frequency"] == "once"
    assert len(plan["upcoming"]) == 1 and plan["upcoming"][0]["amount"] == 12500


def next_saturday():
    day = days_ahead(30)
    return day + timedelta(days=(5 - day.weekday()) % 7)


@pytest.mark.parametrize("due_date", [
    next_saturday().isoformat(),
    next_year(12, 25).isoformat(),
    add_business_days(today(), 2).isoformat(),  # open, but before the pre-notification allows
    "2020-01-06",
])
def test_one_off_debit_on_a_closed_day_or_too_early_answers_422(merchant, due_date):
    api = merchant["api"]
    before = api.get("/plans", params={"mandate_id": merchant["mandate"]["id"]}).json()["items"]
    assert_error(api.post("/payments", json={"mandate_id": merchant["mandate"]["id"], "amount": 500,
                                             "due_date": due_date, "label": "x"}), 422, "due_date")
    assert api.get("/plans", params={"mandate_id": merchant["mandate"]["id"]}).json()["items"] == before


@pytest.mark.parametrize("overrides, field", [
    ({"amount": 0}, "amount"),
    ({"amount": -5}, "amount"),
    ({"amount": 12.5}, "amount"),
    ({"amount": 10_000_000_000}, "amount"),
    ({"frequency": "daily"}, "frequency"),
    ({"count": 3, "end_date": next_year(6, 1).isoformat()}, None),
    ({"count": None, "end_date": "2020-01-01"}, "end_date"),
    ({"day_of_month": 31}, "day_of_month"),
    ({"start_date": days_ago(1).isoformat()}, "start_date"),
])
def test_bad_plan_input_answers_422_and_creates_nothing(merchant, overrides, field):
    api = merchant["api"]
    before = len(api.get("/plans", params={"mandate_id": merchant["mandate"]["id"]}).json()["items"])
    assert_error(api.post("/plans", json=monthly(merchant["mandate"]["id"], **overrides)), 422, field)
    after = len(api.get("/plans", params={"mandate_id": merchant["mandate"]["id"]}).json()["items"])
    assert after == before


def test_plan_on_a_revoked_mandate_answers_409_and_revocation_cancels_plans(cluster, merchant):
    api = merchant["api"]
    mandate_id = merchant["mandate"]["id"]
    plan = api.post("/plans", json=monthly(mandate_id)).json()
    api.post(f"/mandates/{mandate_id}/revoke", json={"reason": "closed account"})
    assert_error(api.post("/plans", json=monthly(mandate_id)), 409)
    import time

    deadline = time.monotonic() + 15
    while api.get(f"/plans/{plan['id']}").json()["status"] != "cancelled" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert api.get(f"/plans/{plan['id']}").json()["status"] == "cancelled"


def test_another_merchants_plan_answers_404(cluster, merchant):
    plan = merchant["api"].post("/plans", json=monthly(merchant["mandate"]["id"])).json()
    other = cluster.api(cluster.create_merchant()["api_key"])
    assert_error(other.get(f"/plans/{plan['id']}"), 404)
    assert_error(other.post(f"/plans/{plan['id']}/pause"), 404)
    assert_error(other.patch(f"/plans/{plan['id']}", json={"amount": 100}), 404)
    assert_error(other.post("/plans", json=monthly(merchant["mandate"]["id"])), 404)
    assert other.get("/plans").json()["items"] == []


def test_one_off_debit_with_an_idempotency_key_is_created_once(merchant):
    api, mandate_id = merchant["api"], merchant["mandate"]["id"]
    body = {"mandate_id": mandate_id, "amount": 8000, "label": "Stage",
            "due_date": business_day_ahead(40).isoformat()}
    headers = {"Idempotency-Key": f"stage-{mandate_id}"}
    first = api.post("/payments", json=body, headers=headers)
    second = api.post("/payments", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert len(api.get("/plans", params={"mandate_id": mandate_id, "frequency": "once"}).json()["items"]) == 1
    assert_error(api.post("/payments", json=dict(body, amount=9000), headers=headers), 422, "Idempotency-Key")
