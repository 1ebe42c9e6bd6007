"""Export jobs through the HTTP API, as a merchant would: every section is
exported with its list's filters, progresses to done and downloads as the
spec's CSV; bad requests are 422; another merchant's export is 404."""
import csv
import io

import pytest

from common.calendar import add_business_days
from harness.api import assert_error, finished, import_mandate, unique
from harness.days import business_day_ahead, days_ago, today

pytestmark = pytest.mark.cluster

PERIOD = {"from": days_ago(30).isoformat(), "to": today().isoformat()}
SECTIONS = {  # section: (its list path, the filters sent to both)
    "subscribers": ("/subscribers", {"q": "Export"}),
    "mandates": ("/mandates", {"status": "active"}),
    "plans": ("/plans", {}),
    "payments": ("/payments", {}),
    "r-transactions": ("/r-transactions", {}),
    "payouts": ("/payouts", {}),
    "statement": (None, PERIOD),
}


@pytest.fixture(scope="module")
def merchant(cluster):
    created = cluster.create_merchant(name="Export Studio")
    api = created["api"] = cluster.api(created["api_key"])
    for n in range(3):
        mandate = import_mandate(api, subscriber={"customer_reference": unique("X"),
                                                  "name": '=HYPERLINK("http://x")' if n == 0 else f"Export {n}",
                                                  "email": "x@example.test", "phone": "+33612345678"})
        due = add_business_days(business_day_ahead(40), n).isoformat()  # three business days in a row
        response = api.post("/payments", json={"mandate_id": mandate["id"], "amount": 1250 + n,
                                               "due_date": due, "label": "Export"})
        assert response.status_code == 201, response.text
    return created


@pytest.mark.parametrize("section", SECTIONS)
def test_every_section_exports_to_a_downloadable_csv(merchant, section):
    api = merchant["api"]
    path, filters = SECTIONS[section]
    created = api.post("/exports", json={"section": section, "filters": filters})
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "pending" and created.json()["download_url"] is None
    job = finished(api, created.json()["id"])
    assert job["status"] == "done", job
    assert job["download_url"] == f"/api/v1/exports/{job['id']}/download"
    assert job["rows_done"] == job["rows_total"]

    download = api.get(f"/exports/{job['id']}/download")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert all(line.endswith(b"\r") for line in download.content.split(b"\n")[:-1])
    if section == "statement":
        statement = api.get("/statement", params=filters).json()
        expected = len(statement["entries"]) + 2
        assert rows[1][2] == "OPENING" and rows[-1][2] == "CLOSING"
    else:
        expected = len(api.get(path, params=dict(filters, limit=500)).json()["items"])
    assert len(rows) - 1 == expected == job["rows_total"]
    if section == "subscribers":
        assert rows[0][:2] == ["customer_reference", "name"]
        assert expected == 2  # the filter was applied
    if section == "plans":  # each one-off debit is a `once` plan; its payment comes with collection
        assert rows[0][:4] == ["id", "label", "mandate_id", "amount"] and expected == 3
        assert sorted(r[3] for r in rows[1:]) == ["12,50", "12,51", "12,52"]


def test_a_subscriber_named_like_a_formula_is_exported_harmless(merchant):
    api = merchant["api"]
    job = finished(api, api.post("/exports", json={"section": "subscribers", "decimal": "."}).json()["id"])
    content = api.get(f"/exports/{job['id']}/download").content.decode("utf-8-sig")
    assert """;"'=HYPERLINK(""http://x"")";""" in content


def test_an_idempotency_key_gives_the_same_export(merchant):
    api = merchant["api"]
    headers = {"Idempotency-Key": unique("exp")}
    first = api.post("/exports", json={"section": "plans"}, headers=headers)
    second = api.post("/exports", json={"section": "plans"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]


def test_bad_export_requests_are_422(merchant):
    api = merchant["api"]
    assert_error(api.post("/exports", json={"section": "invoices"}), 422, "section")
    assert_error(api.post("/exports", json={"section": "payments", "filters": {"colour": "red"}}), 422, "filters")
    assert_error(api.post("/exports", json={"section": "payments", "filters": {"status": 1}}), 422, "filters")
    assert_error(api.post("/exports", json={"section": "statement",
                                            "filters": {"from": PERIOD["to"], "to": PERIOD["from"]}}),
                 422, "filters")


def test_a_filter_the_source_service_refuses_ends_the_job_failed(merchant):
    api = merchant["api"]
    created = api.post("/exports", json={"section": "payments", "filters": {"status": "lost"}})
    job = finished(api, created.json()["id"])
    assert job["status"] == "failed" and "status" in job["error"] and job["download_url"] is None
    assert_error(api.get(f"/exports/{job['id']}/download"), 409)


def test_another_merchants_export_is_not_found(cluster, merchant):
    api = merchant["api"]
    job = finished(api, api.post("/exports", json={"section": "mandates"}).json()["id"])
    other = cluster.api(cluster.create_merchant(name="Other Shop")["api_key"])
    assert_error(other.get(f"/exports/{job['id']}"), 404)
    assert_error(other.get(f"/exports/{job['id']}/download"), 404)
    assert_error(other.get("/exports/EXNOTHING/download"), 404)
