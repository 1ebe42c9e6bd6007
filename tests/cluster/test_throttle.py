"""Guessing is refused (issue 9): past the failures allowed in a window, a login and an API
key answer 429 with Retry-After, even with the right password or key, until the window
moves on; what is counted is hashed, and a success forgets the email's failures."""
from datetime import timedelta

import pytest
import requests
from sqlalchemy import delete, select

from common import clock
from common.database import make_engine
from gateway.models import FailedAttempt
from harness.signing import csrf_token

pytestmark = pytest.mark.cluster


@pytest.fixture
def failures(cluster, cluster_database):
    """The gateway's failed_attempts table, emptied after the test (the other tests share the address)."""
    engine = make_engine("gateway", cluster_database)
    yield engine
    with engine.begin() as connection:
        connection.execute(delete(FailedAttempt))
    engine.dispose()


def login(cluster, email, password):
    browser = requests.Session()
    token = csrf_token(browser.get(cluster.url + "/login", timeout=10).text)
    return browser.post(cluster.url + "/login", data={"email": email, "password": password, "csrf_token": token},
                        allow_redirects=False, timeout=10)


def test_too_many_wrong_passwords_lock_the_login_for_a_while(cluster, failures):
    merchant = cluster.create_merchant()
    email = merchant["email"]
    assert login(cluster, email, "wrong one").status_code == 401
    assert login(cluster, email, merchant["password"]).status_code == 302  # a success forgets the email's failure
    for _ in range(9):  # the address keeps its first failure: 10 in the window now
        assert login(cluster, email, "wrong again").status_code == 401
    locked = login(cluster, email, merchant["password"])
    assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 900
    assert "Too many failed attempts" in locked.text
    with failures.connect() as connection:
        keys = connection.execute(select(FailedAttempt.key).where(FailedAttempt.kind == "login")).scalars().all()
    assert keys and not any(email in key or "127.0.0.1" in key for key in keys)  # hashed
    with cluster.clock_at(clock.now() + timedelta(seconds=901)):
        assert login(cluster, email, merchant["password"]).status_code == 302


def test_too_many_wrong_api_keys_from_an_address_answer_429(cluster, failures):
    merchant = cluster.create_merchant()
    for n in range(20):
        wrong = requests.get(cluster.url + "/api/v1/merchant", headers={"Authorization": f"Bearer dbt_wrong{n}"},
                             timeout=10)
        assert wrong.status_code == 401
    refused = cluster.api(merchant["api_key"]).get("/merchant")
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 300
    assert refused.json()["error"]["code"] == "too_many_requests"
    with cluster.clock_at(clock.now() + timedelta(seconds=301)):
        assert cluster.api(merchant["api_key"]).get("/merchant").status_code == 200
