"""API steps shared by cluster and browser tests."""
import time
import uuid

from harness.days import days_ago

DEBTOR_IBAN = "DE89370400440532013000"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


def import_mandate(api, **overrides):
    body = {
        "subscriber": {"customer_reference": unique("C"), "name": "Émilie Durand",
                       "email": "emilie@example.test", "phone": "+33612345678",
                       "address": "3 rue des Lilas, 69001 Lyon"},
        "iban": DEBTOR_IBAN, "signature_method": "paper",
        "signed_at": days_ago(3).isoformat(), "signed_place": "Lyon",
    }
    body.update(overrides)
    response = api.post("/mandates", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response, status, field=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"]
    if field:
        assert field in error["fields"], error
    return error


def finished(api, export_id, seconds=30):
    """The export job once done or failed (or as it is after `seconds`)."""
    deadline = time.monotonic() + seconds
    while True:
        job = api.get(f"/exports/{export_id}").json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)
