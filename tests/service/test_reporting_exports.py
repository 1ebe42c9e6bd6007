"""Export jobs on the real broker and PostgreSQL: create_export commits,
dispatches reporting.export_requested to the service itself, whose handler
writes the file; a redelivered event does nothing more; the source service's
refusal ends the job failed."""
import base64
import uuid

import pytest
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_hook, entrypoint_waiter, replace_dependencies

from common.database import make_engine
from common.errors import Invalid
from common.migrations import upgrade
from reporting.service import ReportingService


@pytest.fixture
def service(container_factory, rabbit_config, postgres_database, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", postgres_database)
    monkeypatch.setenv("EXPORT_DIR", str(tmp_path))
    upgrade("reporting", make_engine("reporting", postgres_database))
    container = container_factory(ReportingService, rabbit_config)
    container.sources = replace_dependencies(container, "mandates", "payments")
    container.start()
    return container


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def test_an_export_runs_after_its_event_and_a_redelivery_changes_nothing(service, rabbit_config, tmp_path):
    mandates, _ = service.sources
    merchant = "ME" + uuid.uuid4().hex[:20].upper()
    pages = [{"items": [{"customer_reference": f"C{n}", "name": f"Client {n}"} for n in range(500)],
              "next_cursor": "SB500"},
             {"items": [{"customer_reference": "C500", "name": "=1+1"}], "next_cursor": None}]
    mandates.list_subscribers.side_effect = pages
    with entrypoint_waiter(service, "on_export_requested") as waiter:
        job = call(service, "create_export", merchant, {"section": "subscribers", "filters": {"q": "C"}})
    assert waiter.get() == "done"
    done = call(service, "get_export", merchant, job["id"])
    assert (done["status"], done["rows_done"], done["rows_total"]) == ("done", 501, 501)
    assert [c.args[1].get("cursor") for c in mandates.list_subscribers.call_args_list] == [None, "SB500"]
    content = base64.b64decode(call(service, "read_export", merchant, job["id"], 0, 10**7)["content_base64"])
    assert content.endswith(b"C500;'=1+1;;;;\r\n") and content.count(b"\r\n") == 502
    assert (tmp_path / merchant / f"{job['id']}.csv").read_bytes() == content

    with entrypoint_waiter(service, "on_export_requested") as waiter:
        event_dispatcher(rabbit_config)("reporting", "export_requested",
                                        {"export_id": job["id"], "merchant_id": merchant})
    assert waiter.get() == "done" and mandates.list_subscribers.call_count == 2


def test_the_source_services_refusal_ends_the_job_failed_without_a_file(service, tmp_path):
    _, payments = service.sources
    merchant = "ME" + uuid.uuid4().hex[:20].upper()
    payments.statement_page.side_effect = Invalid("from: on or before to", {"from": "on or before to"})
    with entrypoint_waiter(service, "on_export_requested") as waiter:
        job = call(service, "create_export", merchant,
                   {"section": "statement", "filters": {"from": "2027-01-01", "to": "2027-01-31"}})
    assert waiter.get() == "failed"
    failed = call(service, "get_export", merchant, job["id"])
    assert failed["status"] == "failed" and failed["error"] == "from: on or before to"
    assert not list(tmp_path.rglob("*.csv*"))


def test_a_job_whose_worker_died_is_started_again_and_a_live_one_is_left_alone(service, postgres_database,
                                                                               tmp_path):
    """A running job's event was consumed by a worker killed mid-file: its redelivery leaves a
    running job alone, so the stall check starts it again once its heartbeat is old."""
    from datetime import timedelta

    from sqlalchemy import update

    from common import clock
    from reporting.models import ExportJob

    mandates, _ = service.sources
    merchant = "ME" + uuid.uuid4().hex[:20].upper()
    mandates.list_subscribers.side_effect = lambda merchant_id, filters: {
        "items": [{"customer_reference": "C1", "name": "Client 1"}], "next_cursor": None}
    with entrypoint_waiter(service, "on_export_requested") as waiter:
        dead = call(service, "create_export", merchant, {"section": "subscribers"})
    waiter.get()
    with entrypoint_waiter(service, "on_export_requested") as waiter:
        live = call(service, "create_export", merchant, {"section": "subscribers"})
    waiter.get()
    partial = tmp_path / merchant / f"{dead['id']}.csv.part"
    partial.write_bytes(b"half a file")
    engine = make_engine("reporting", postgres_database)
    with engine.begin() as connection:  # as a killed worker leaves them: running, half-written
        for job, age in ((dead, 600), (live, 5)):
            connection.execute(update(ExportJob).where(ExportJob.id == job["id"]).values(
                status="running", rows_done=1, heartbeat_at=clock.wall() - timedelta(seconds=age)))
    engine.dispose()

    with entrypoint_waiter(service, "on_export_requested") as waiter:
        assert call(service, "resume_stalled_exports") == [dead["id"]]
    assert waiter.get() == "done"
    resumed = call(service, "get_export", merchant, dead["id"])
    assert (resumed["status"], resumed["rows_done"], resumed["rows_total"]) == ("done", 1, 1)
    assert not partial.exists() and (tmp_path / merchant / f"{dead['id']}.csv").exists()
    assert call(service, "get_export", merchant, live["id"])["status"] == "running"
    assert call(service, "resume_stalled_exports") == []
