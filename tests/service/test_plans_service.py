"""The plans service on the real broker and PostgreSQL: a plan is created on a
mandate fetched over RPC, and a revoked mandate cancels its plans once even
when the event is delivered twice."""
import uuid

import pytest
from nameko.events import event_handler
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from common.database import make_engine
from common.errors import Conflict
from common.json_pages import page_data
from common.migrations import upgrade
from harness.days import business_day_ahead, days_ahead
from plans.service import PlansService


class FakeMandates:
    """Stands for the mandates service: MDREVOKED is revoked, any other mandate active."""
    name = "mandates"

    @rpc
    def get_mandate(self, merchant_id, mandate_id):
        return {"id": mandate_id, "subscriber_id": "SB1",
                "status": "revoked" if mandate_id == "MDREVOKED" else "active"}


class Listener:
    name = "plans_listener"

    @event_handler("plans", "plan_cancelled")
    def on_plan_cancelled(self, payload):
        return payload


@pytest.fixture
def containers(container_factory, rabbit_config, postgres_database, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_database)
    upgrade("plans", make_engine("plans", postgres_database))
    started = [container_factory(cls, rabbit_config) for cls in (PlansService, FakeMandates, Listener)]
    for container in started:
        container.start()
    return started[0], started[2]


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def payload(mandate_id):
    return {"mandate_id": mandate_id, "label": "Yoga", "amount": 2990, "frequency": "monthly",
            "start_date": days_ahead(30).isoformat(), "count": 3}


def test_revocation_delivered_twice_cancels_the_plan_once(containers, rabbit_config):
    service, listener = containers
    merchant = "ME" + uuid.uuid4().hex[:20].upper()
    plan = call(service, "create_plan", merchant, payload("MD1"), "ops@acme.example")
    assert plan["status"] == "active" and plan["subscriber_id"] == "SB1" and len(plan["upcoming"]) == 3
    with pytest.raises(Conflict):
        call(service, "create_plan", merchant, payload("MDREVOKED"))

    event = {"event_id": uuid.uuid4().hex, "merchant_id": merchant, "mandate_id": "MD1",
             "subscriber_id": "SB1", "reference": "R1", "revoked_at": None, "reason": None}
    dispatch = event_dispatcher(rabbit_config)
    cancelled = []
    with entrypoint_waiter(listener, "on_plan_cancelled") as waiter:
        with entrypoint_waiter(service, "on_mandate_revoked") as first:
            dispatch("mandates", "mandate_revoked", event)
        assert first.get() == [plan["id"]]
        with entrypoint_waiter(service, "on_mandate_revoked") as second:
            dispatch("mandates", "mandate_revoked", event)
        assert second.get() == []
    cancelled.append(waiter.get())
    assert cancelled[0]["plan_id"] == plan["id"]
    found = call(service, "get_plan", merchant, plan["id"])
    assert found["status"] == "cancelled"
    assert [h["changes"] for h in found["history"]] == [{"status": ["active", "cancelled"]}]
    cancelled = page_data(call(service, "list_plans_json", merchant, {"status": "cancelled"}))
    assert cancelled["items"][0]["id"] == plan["id"]


def test_due_instalments_over_rpc_issues_each_instalment_once(containers):
    service, _ = containers
    merchant = "ME" + uuid.uuid4().hex[:20].upper()
    plan = call(service, "create_plan", merchant, payload("MD1"))
    as_of = days_ahead(200).isoformat()
    mine = [i for i in call(service, "due_instalments", as_of) if i["plan_id"] == plan["id"]]
    assert [(i["key"], i["is_last"]) for i in mine] == [
        (f"{plan['id']}:1", False), (f"{plan['id']}:2", False), (f"{plan['id']}:3", True)]
    again = [i["key"] for i in call(service, "due_instalments", as_of) if i["plan_id"] == plan["id"]]
    assert again == [i["key"] for i in mine]  # not acknowledged yet: handed over again, same keys
    call(service, "acknowledge_instalments", again)
    assert [i for i in call(service, "due_instalments", as_of) if i["plan_id"] == plan["id"]] == []
    for sequence_no in (1, 2, 3):
        answer = call(service, "record_collected", merchant, plan["id"], sequence_no)
    assert answer["status"] == "completed" and answer["collected_count"] == 3


def test_a_one_off_payment_delivered_again_with_its_key_is_one_plan(containers):
    """The gateway hands each POST /payments a key (the client's Idempotency-Key, or a new
    one): the same call again, as RabbitMQ delivers it after a broker restart, answers the
    plan the first call made instead of a second debit."""
    service, _ = containers
    merchant = "ME" + uuid.uuid4().hex[:20].upper()
    one_off = {"mandate_id": "MD1", "label": "Stage", "amount": 4500,
               "due_date": business_day_ahead(20).isoformat()}
    first = call(service, "create_one_off", merchant, one_off, None, "KEY-1")
    assert call(service, "create_one_off", merchant, one_off, None, "KEY-1") == first
    assert call(service, "create_plan", merchant, payload("MD1"), None, "KEY-1") == first  # same key, same method
    second = call(service, "create_one_off", merchant, one_off, None, "KEY-2")
    assert second["id"] != first["id"]
    assert sorted(p["id"] for p in page_data(call(service, "list_plans_json", merchant, {}))["items"]) == sorted(
        [first["id"], second["id"]])
