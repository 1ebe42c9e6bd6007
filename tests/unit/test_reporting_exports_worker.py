"""The export RPCs and handler of the reporting service with nameko's
worker_factory on the PostgreSQL schema migrated by Alembic, rolled back (0003 included)."""
import base64

import pytest
from nameko.testing.services import worker_factory

from common.errors import Invalid, NotFound
from reporting.service import ReportingService


@pytest.fixture
def db(tmp_path, monkeypatch, db_session):
    monkeypatch.setenv("DEBITO_CLOCK", "2027-03-31T12:00:00+00:00")
    monkeypatch.setenv("EXPORT_DIR", str(tmp_path / "exports"))
    yield db_session("reporting", expire_on_commit=False)


def test_an_export_is_asked_for_then_run_by_its_event_and_read_in_chunks(db, tmp_path):
    service = worker_factory(ReportingService, db=db)
    service.plans.list_plans_json.return_value = {
        "items_json": '[{"id": "PL1", "label": "Yoga", "amount": 2990, "frequency": "monthly", "count": 4}]',
        "next_cursor": None}
    job = service.create_export("MEa", {"section": "plans", "filters": {"status": "active"}, "decimal": "."})
    assert job["status"] == "pending" and job["rows_done"] == 0 and job["id"].startswith("EX")
    service.dispatch.assert_called_once_with("export_requested", {"export_id": job["id"], "merchant_id": "MEa"})

    assert service.on_export_requested({"export_id": job["id"], "merchant_id": "MEa"}) == "done"
    service.plans.list_plans_json.assert_called_once_with("MEa", {"status": "active", "limit": 500})
    done = service.get_export("MEa", job["id"])
    assert (done["status"], done["rows_done"], done["rows_total"]) == ("done", 1, 1)
    assert (tmp_path / "exports" / "MEa" / f"{job['id']}.csv").exists()

    first = service.read_export("MEa", job["id"], 0, 10)
    rest = service.read_export("MEa", job["id"], 10, 10**6)
    content = base64.b64decode(first["content_base64"]) + base64.b64decode(rest["content_base64"])
    assert (first["eof"], rest["eof"]) == (False, True)
    assert content.decode("utf-8").endswith("\r\nPL1;Yoga;;29.90;monthly;;4;;;;;\r\n")
    with pytest.raises(NotFound):
        service.get_export("MEb", job["id"])


def test_the_source_services_refusal_ends_the_job_failed(db):
    service = worker_factory(ReportingService, db=db)
    service.payments.list_payments_json.side_effect = Invalid("status: not a status", {"status": "not a status"})
    job = service.create_export("MEa", {"section": "payments", "filters": {"status": "lost"}})
    assert service.on_export_requested({"export_id": job["id"], "merchant_id": "MEa"}) == "failed"
    failed = service.get_export("MEa", job["id"])
    assert failed["error"] == "status: not a status" and failed["finished_at"]


def test_bad_requests_are_refused_and_cleanup_deletes_old_exports(db, monkeypatch):
    service = worker_factory(ReportingService, db=db)
    with pytest.raises(Invalid):
        service.create_export("MEa", {"section": "everything"})
    assert not service.dispatch.called
    service.create_export("MEa", {"section": "subscribers"})
    assert service.cleanup_exports() == {"deleted": 0}
    monkeypatch.setenv("DEBITO_CLOCK", "2027-04-04T12:00:00+00:00")
    assert service.cleanup_old_exports() == {"deleted": 1}
