"""`debito demo` makes a merchant whose history was walked through the real
cycle and the sandbox bank: paid and rejected debits, a replay, plans of
several frequencies. On the bank cluster: the demo walks the clock."""
import json

import pytest

pytestmark = pytest.mark.cluster


def test_demo_makes_a_merchant_with_history(bank_cluster):
    result = bank_cluster.debito("demo", "--subscribers", "30", "--months", "2", "--seed", "7")
    out = json.loads(result.stdout)
    assert out["merchant_id"] and out["api_key"] and out["dashboard_url"].startswith("http")
    assert out["login_email"] and out["login_password"]
    assert "week to" in result.stderr
    api = bank_cluster.api(out["api_key"])
    assert api.get("/merchant").status_code == 200

    payments = api.get("/payments", params={"limit": 500}).json()["items"]
    statuses = {p["status"] for p in payments}
    assert "paid" in statuses and "rejected" in statuses, statuses
    assert any(p.get("attempt", 1) > 1 for p in payments), "no replay"
    codes = {r["reason_code"] for r in api.get("/r-transactions", params={"limit": 500}).json()["items"]}
    assert len(codes) >= 2, codes
    plans = api.get("/plans", params={"limit": 500}).json()["items"]
    assert len({p["frequency"] for p in plans}) >= 3, plans

    login = bank_cluster.url + "/"
    assert out["dashboard_url"] == login
