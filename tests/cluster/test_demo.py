"""`debito demo` makes a merchant whose history was walked through the real
cycle and the sandbox bank over past days: paid and rejected debits, a
replay, payouts, plans of several frequencies, and a dashboard that is not
empty today. On the bank cluster: the demo walks the cluster's clock."""
import json
import time

import pytest

from harness import days

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

    # the history is behind us: the walk ended today and the clock is the real one again
    today = days.today().isoformat()
    assert out["history"]["history_to"] == today and out["history"]["history_from"] < today
    assert not (bank_cluster.var_dir / "clock").exists()
    assert all(p["due_date"] <= today for p in payments if p["status"] in ("paid", "rejected"))
    balance = api.get("/balance").json()
    assert balance["as_of"] == today and balance["balance"] > 0 and balance["available"] > 0
    assert out["history"]["payouts"] >= 1
    assert {p["status"] for p in api.get("/payouts").json()["items"]} & {"paid", "sent", "pending"}
    deadline = time.monotonic() + 20  # reporting reads the events as they come
    while time.monotonic() < deadline:
        overview = api.get("/overview").json()
        if sum(point["collected_count"] for point in overview["series"]) >= out["history"]["subscribers"] // 3:
            break
        time.sleep(0.5)
    assert overview["series"][-1]["day"] == today
    assert sum(point["collected_count"] for point in overview["series"]) > 0, overview
    assert sum(point["rejected_count"] for point in overview["series"]) > 0
    assert overview["mandates_signed"] == out["history"]["subscribers"]


def test_the_demo_refuses_a_cluster_that_does_not_share_its_clock(bank_cluster, tmp_path):
    import subprocess

    from harness.cluster import DEBITO

    env = dict(bank_cluster.env, DEBITO_CLOCK_FILE=str(tmp_path / "another-clock"))
    result = subprocess.run([DEBITO, "demo", "--subscribers", "3", "--months", "1"], env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "must read the same DEBITO_CLOCK_FILE" in result.stderr, result.stderr
    assert not (tmp_path / "another-clock").exists()  # the clock is given back even on failure
    assert "merchant_id" not in result.stdout  # refused before making anything
