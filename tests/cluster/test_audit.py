"""The audit log (issue 9): each sensitive action that succeeded, through the API or the
dashboard, is recorded with who and when, IBANs masked; a refused one is not; the log is
the merchant's own, paged, in the API and on the dashboard."""
import pytest
import requests

from harness.api import import_mandate
from harness.signing import csrf_token

pytestmark = pytest.mark.cluster


def entries(api, **params):
    response = api.get("/audit-log", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_sensitive_actions_are_logged_with_who_and_when(cluster):
    merchant = cluster.create_merchant(name="Audité SARL")
    api = cluster.api(merchant["api_key"])
    created = entries(api)["items"]
    assert [(e["action"], e["actor"]) for e in created] == [("api_key.create", "cli")]

    mandate = import_mandate(api)
    amended = api.post(f"/mandates/{mandate['id']}/bank-details", json={"iban": "FR7630006000011234567890189"})
    assert amended.status_code == 200, amended.text
    assert api.post(f"/mandates/{mandate['id']}/revoke", json={"reason": "moved abroad"}).status_code == 200
    assert api.post("/payouts", json={"amount": 10_000_000}).status_code == 422  # refused: not logged
    export = api.post("/exports", json={"section": "mandates"}).json()

    items = entries(api)["items"]
    assert [e["action"] for e in items] == ["export.create", "mandate.revoke", "mandate.amend", "api_key.create"]
    assert all(e["actor"] == "api" for e in items[:3]) and items[0]["at"] >= created[0]["at"]
    assert items[0]["object_id"] == export["id"] and items[0]["detail"] == {"section": "mandates"}
    assert items[1]["object_id"] == mandate["id"] and items[1]["detail"] == {"reason": "moved abroad"}
    assert items[2]["detail"]["iban"] == "FR76 **** **** **** **** ***0 189"
    assert "1234567890189" not in str(items)

    first = entries(api, limit=2)
    assert [e["id"] for e in first["items"]] == [e["id"] for e in items[:2]] and first["next_cursor"]
    rest = entries(api, limit=2, cursor=first["next_cursor"])
    assert [e["id"] for e in rest["items"]] == [e["id"] for e in items[2:]]
    assert api.get("/audit-log", params={"limit": 0}).status_code == 422

    other = cluster.api(cluster.create_merchant(name="Autre")["api_key"])
    assert [e["action"] for e in entries(other)["items"]] == ["api_key.create"]


def test_a_dashboard_action_is_logged_with_the_users_email_and_shown(cluster):
    merchant = cluster.create_merchant(name="Tableau & Cie")
    mandate = import_mandate(cluster.api(merchant["api_key"]))
    browser = requests.Session()
    token = csrf_token(browser.get(cluster.url + "/login", timeout=10).text)
    assert browser.post(cluster.url + "/login", data={"email": merchant["email"], "password": merchant["password"],
                                                      "csrf_token": token}, timeout=10).ok
    page = browser.get(f"{cluster.url}/dashboard/mandates/{mandate['id']}", timeout=10).text
    done = browser.post(f"{cluster.url}/dashboard/mandates/{mandate['id']}/revoke",
                        data={"reason": "fermeture", "csrf_token": csrf_token(page)}, allow_redirects=False, timeout=10)
    assert done.status_code in (302, 303)
    refused = browser.post(f"{cluster.url}/dashboard/mandates/{mandate['id']}/revoke",
                           data={"reason": "again", "csrf_token": csrf_token(page)}, allow_redirects=False, timeout=10)
    assert refused.status_code not in (302, 303)  # already revoked: shown again, not logged

    items = entries(cluster.api(merchant["api_key"]))["items"]
    assert [(e["action"], e["actor"], e["object_id"], e["detail"]) for e in items[:1]] == [
        ("mandate.revoke", merchant["email"], mandate["id"], {"reason": "fermeture"})]
    assert len(items) == 2
    shown = browser.get(cluster.url + "/dashboard/monitoring/audit", timeout=10)
    assert shown.status_code == 200 and merchant["email"] in shown.text and "fermeture" in shown.text
    assert 'id="audit-log"' in shown.text and 'id="audit-log-link"' in browser.get(
        cluster.url + "/dashboard/monitoring", timeout=10).text
