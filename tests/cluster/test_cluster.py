"""The cluster as a merchant and an operator meet it: every service up on
RabbitMQ and PostgreSQL, the API locked to API keys, health that names the
silent service."""
import time

import pytest
import requests

from harness import days

pytestmark = pytest.mark.cluster

SERVICES = {"mandates", "plans", "payments", "signing", "reporting"}


def test_healthz_is_green_when_every_service_answers(cluster):
    status, body = cluster.health()
    assert status == 200
    assert body["status"] == "ok"
    assert set(body["services"]) == SERVICES
    assert set(body["services"].values()) == {"ok"}


def test_merchant_created_by_the_command_line_can_call_the_api(cluster):
    merchant = cluster.create_merchant(name="Salle Lumière")
    assert merchant["merchant_id"].startswith("MC")
    response = cluster.api(merchant["api_key"]).get("/merchant")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == merchant["merchant_id"]
    assert body["name"] == "Salle Lumière"
    assert body["creditor_id"] == "FR72ZZZ123456"
    assert body["iban"] == "FR7630006000011234567890189"


def test_api_without_a_key_answers_401_in_json(cluster):
    response = requests.get(cluster.url + "/api/v1/merchant", timeout=10)
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("key", [
    "dbt_000000000000_notarealkeynotarealkeynotarealkey",
    "not-even-the-format",
])
def test_api_with_a_wrong_key_answers_401_in_json(cluster, key):
    merchant = cluster.create_merchant()
    tampered = merchant["api_key"][:-1] + ("A" if merchant["api_key"][-1] != "A" else "B")
    for wrong in (key, tampered):
        response = cluster.api(wrong).get("/merchant")
        assert response.status_code == 401, wrong
        assert response.json()["error"]["code"] == "unauthorized"


def test_unknown_api_path_answers_404_in_json(cluster):
    merchant = cluster.create_merchant()
    response = cluster.api(merchant["api_key"]).get("/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_openapi_document_describes_the_endpoints(cluster):
    response = requests.get(cluster.url + "/api/v1/openapi.json", timeout=10)
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert "/merchant" in document["paths"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_command_line_refuses_a_bad_iban_naming_the_field(cluster):
    result = cluster.debito("merchant", "create", "--name", "X", "--creditor-id", "FR72ZZZ123456",
                            "--iban", "FR7630006000011234567890188", "--email", "x@x.test",
                            "--password", "long enough pass", check=False)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "iban" in result.stderr


def test_a_stopped_service_makes_healthz_503_naming_it(cluster):
    cluster.supervisor.stop_child("signing")
    try:
        deadline = time.monotonic() + 30
        while True:
            status, body = cluster.health()
            if status == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert status == 503
        assert body["silent"] == ["signing"]
        assert body["services"]["signing"] != "ok"
        assert body["services"]["payments"] == "ok"
    finally:
        cluster.supervisor.start_child("signing")
        cluster.wait_healthy()


def test_login_form_without_its_csrf_token_is_refused(cluster):
    merchant = cluster.create_merchant()
    browser = requests.Session()
    response = browser.post(cluster.url + "/login", timeout=10, allow_redirects=False,
                            data={"email": merchant["email"], "password": merchant["password"]})
    assert response.status_code == 400
    assert "CSRF" in response.text
    after = browser.get(cluster.url + "/dashboard/overview", timeout=10, allow_redirects=False)
    assert after.status_code == 302 and "/login" in after.headers["Location"]


def test_session_cookie_is_http_only_and_same_site(cluster):
    import re

    merchant = cluster.create_merchant()
    browser = requests.Session()
    form = browser.get(cluster.url + "/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    response = browser.post(cluster.url + "/login", timeout=10, allow_redirects=False,
                            data={"email": merchant["email"], "password": merchant["password"],
                                  "csrf_token": token})
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert browser.get(cluster.url + "/dashboard/mandates", timeout=10).status_code == 200


def test_the_services_stand_on_the_day_the_test_builds_its_data_from(cluster):
    """Their clock is the test's: under `make test-dates` faketime's day reaches every process
    the cluster starts, so a due date a test computes is judged on the day it was computed for."""
    api = cluster.api(cluster.create_merchant()["api_key"])
    today = days.today().isoformat()
    assert api.get("/balance").json()["as_of"] == today  # the payments service's today
    assert api.get("/overview").json()["series"][-1]["day"] == today  # the reporting service's
