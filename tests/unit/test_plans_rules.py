"""The rules of the plans service, as plain functions on a rolled-back PostgreSQL
session: validation, edits of unissued instalments with history,
pause/resume/cancel, the collection horizon exactly once, tenancy."""
from datetime import date

import pytest

from common.errors import Conflict, Invalid, NotFound
from plans import plans
from common.json_pages import page_data
from common.schemas import load
from contracts.plans import PlanChangesIn, PlanFiltersIn, PlanIn

A, B = "MEaaaa", "MEbbbb"
MANDATE = {"id": "MD1", "subscriber_id": "SB1", "status": "active"}


@pytest.fixture
def session(monkeypatch, db_session):
    monkeypatch.setenv("DEBITO_CLOCK", "2027-01-04T12:00:00+00:00")
    yield db_session("plans")


def create(session, merchant=A, mandate=MANDATE, **fields):
    payload = {"mandate_id": mandate["id"], "label": "Yoga", "amount": 2990, "frequency": "monthly",
               "start_date": "2027-02-01", "count": 6, **fields}
    return plans.create_plan(session, merchant, load(PlanIn, payload), mandate)


def update(session, plan, merchant=A, actor="ops@acme.example", **changes):
    return plans.update_plan(session, merchant, plan.id, load(PlanChangesIn, changes), actor)


def refused_field(error):
    return set(error.value.fields)


def test_created_plan_answers_its_schedule(session):
    plan = create(session)
    detail = plans.get_plan(session, A, plan.id)
    assert detail["id"].startswith("PL") and detail["status"] == "active" and detail["currency"] == "EUR"
    assert [u["due_date"] for u in detail["upcoming"]] == [
        "2027-02-01", "2027-03-01", "2027-04-01", "2027-05-03", "2027-06-01", "2027-07-01"]
    assert detail["next_due_date"] == "2027-02-01" and detail["collected_count"] == 0
    assert detail["instalments"] == [] and detail["history"] == []


def test_open_ended_plan_shows_twelve_upcoming(session):
    detail = plans.get_plan(session, A, create(session, count=None).id)
    assert len(detail["upcoming"]) == 12


def test_once_forces_one_instalment(session):
    plan = create(session, frequency="once", count=None)
    assert plan.count == 1 and len(plans.get_plan(session, A, plan.id)["upcoming"]) == 1


@pytest.mark.parametrize("fields, field", [
    ({"amount": 0}, "amount"), ({"amount": -5}, "amount"), ({"amount": 29.9}, "amount"),
    ({"amount": "2990"}, "amount"), ({"amount": True}, "amount"), ({"amount": 10_000_001}, "amount"),
    ({"frequency": "daily"}, "frequency"),
    ({"start_date": "2027-01-03"}, "start_date"),
    ({"end_date": "2027-01-20", "count": None}, "end_date"),
    ({"day_of_month": 29}, "day_of_month"), ({"day_of_month": 0}, "day_of_month"),
    ({"frequency": "weekly", "day_of_month": 5}, "day_of_month"),
    ({"mandate_id": None}, "mandate_id"), ({"colour": "blue"}, "colour"),
])
def test_bad_input_is_refused_naming_the_field(session, fields, field):
    with pytest.raises(Invalid) as error:
        create(session, **fields)
    assert field in refused_field(error)
    assert session.scalars(plans.select(plans.Plan)).all() == []


def test_count_and_end_date_together_are_refused(session):
    with pytest.raises(Invalid) as error:
        create(session, end_date="2027-12-31")
    assert refused_field(error) == {"count", "end_date"}


def test_a_plan_needs_an_active_mandate(session):
    with pytest.raises(Conflict) as error:
        create(session, mandate={**MANDATE, "status": "revoked"})
    assert refused_field(error) == {"mandate_id"}


def test_edit_applies_to_unissued_instalments_only_and_is_kept_in_history(session):
    plan = create(session)
    issued = plans.due_instalments(session, date(2027, 2, 20))  # 1 Mar - 14 days = 15 Feb
    assert [i["sequence_no"] for i in issued] == [1, 2]
    update(session, plan, amount=3490)
    detail = plans.get_plan(session, A, plan.id)
    assert [(i["sequence_no"], i["amount"]) for i in detail["instalments"]] == [(1, 2990), (2, 2990)]
    assert {u["amount"] for u in detail["upcoming"]} == {3490} and len(detail["upcoming"]) == 4
    (change,) = detail["history"]
    assert change["changes"] == {"amount": [2990, 3490]} and change["actor"] == "ops@acme.example"


def test_frequency_edit_continues_after_the_last_issued_instalment(session):
    plan = create(session, start_date="2027-01-29", count=None)
    plans.due_instalments(session, date(2027, 1, 15))
    update(session, plan, frequency="weekly")
    detail = plans.get_plan(session, A, plan.id)
    assert [i["due_date"] for i in detail["instalments"]] == ["2027-01-29"]
    assert [u["due_date"] for u in detail["upcoming"][:2]] == ["2027-02-05", "2027-02-12"]
    assert detail["history"][0]["changes"] == {"frequency": ["monthly", "weekly"]}


def test_count_edit_replaces_end_date_and_cannot_go_below_the_issued(session):
    plan = create(session, count=None, end_date="2027-12-31")
    update(session, plan, count=3)
    assert (plan.count, plan.end_date) == (3, None)
    plans.due_instalments(session, date(2027, 3, 31))
    with pytest.raises(Invalid) as error:
        update(session, plan, count=2)
    assert refused_field(error) == {"count"}
    with pytest.raises(Invalid) as error:
        update(session, plan, day_of_month=31)
    assert refused_field(error) == {"day_of_month"}


def test_pause_resume_cancel_transitions(session):
    plan = create(session)
    with pytest.raises(Conflict):
        plans.resume_plan(session, A, plan.id)
    assert plans.pause_plan(session, A, plan.id, "ops").status == "paused"
    with pytest.raises(Conflict):
        plans.pause_plan(session, A, plan.id)
    assert plans.resume_plan(session, A, plan.id, "ops").status == "active"
    assert plans.cancel_plan(session, A, plan.id, "ops").status == "cancelled"
    for action in (plans.pause_plan, plans.resume_plan, plans.cancel_plan):
        with pytest.raises(Conflict):
            action(session, A, plan.id)
    with pytest.raises(Conflict):
        update(session, plan, amount=100)
    history = plans.get_plan(session, A, plan.id)["history"]
    assert [h["changes"]["status"] for h in history] == [
        ["active", "paused"], ["paused", "active"], ["active", "cancelled"]]
    assert plans.get_plan(session, A, plan.id)["upcoming"] == []


def test_a_paused_plan_issues_nothing(session):
    plan = create(session)
    plans.pause_plan(session, A, plan.id)
    assert plans.due_instalments(session, date(2027, 6, 1)) == []


def test_due_instalments_issues_each_exactly_once_over_repeated_and_overlapping_days(session):
    plan = create(session, count=3)
    other = create(session, merchant=B, frequency="weekly", count=None, start_date="2027-01-20")
    first = plans.due_instalments(session, date(2027, 1, 18))
    assert [(i["plan_id"], i["sequence_no"]) for i in first] == [(plan.id, 1), (other.id, 1), (other.id, 2)]
    assert plans.acknowledge(session, [i["key"] for i in first]) == 3
    assert plans.due_instalments(session, date(2027, 1, 18)) == []
    assert plans.due_instalments(session, date(2027, 1, 17)) == []
    later = plans.due_instalments(session, date(2027, 3, 20))
    keys = [i["key"] for i in first + later]
    assert len(keys) == len(set(keys))
    mine = [i for i in first + later if i["plan_id"] == plan.id]
    assert [(i["key"], i["due_date"], i["is_last"]) for i in mine] == [
        (f"{plan.id}:1", "2027-02-01", False), (f"{plan.id}:2", "2027-03-01", False),
        (f"{plan.id}:3", "2027-04-01", True)]
    assert mine[0]["merchant_id"] == A and mine[0]["mandate_id"] == "MD1" and mine[0]["amount"] == 2990
    assert plans.due_instalments(session, date(2027, 12, 31))[0]["plan_id"] == other.id
    assert plan.status == "active"  # the last one issued, not yet collected


def test_plan_completes_after_its_last_instalment_is_collected(session):
    plan = create(session, count=2)
    plans.due_instalments(session, date(2027, 3, 1))
    assert plans.record_collected(session, A, plan.id, 1)[1] is False
    assert plans.record_collected(session, A, plan.id, 1)[1] is False  # twice: once
    _, completed = plans.record_collected(session, A, plan.id, 2)
    assert completed and plan.status == "completed" and plan.collected_count == 2
    assert plan.next_due_date is None


def test_a_bank_files_credits_are_recorded_at_once_unknown_and_foreign_ones_skipped(session):
    plan, other = create(session, count=2), create(session, merchant=B)
    plans.due_instalments(session, date(2027, 3, 1))
    items = [{"merchant_id": A, "plan_id": plan.id, "sequence_no": 2},
             {"merchant_id": A, "plan_id": plan.id, "sequence_no": 1},
             {"merchant_id": A, "plan_id": plan.id, "sequence_no": 1},  # twice: once
             {"merchant_id": A, "plan_id": other.id, "sequence_no": 1},  # B's plan
             {"merchant_id": A, "plan_id": "PLNONE", "sequence_no": 1}]
    recorded, completed, unknown = plans.record_collected_many(session, items)
    assert recorded == 3 and [p.id for p in completed] == [plan.id] and plan.collected_count == 2
    assert [i["plan_id"] for i in unknown] == sorted([other.id, "PLNONE"])
    assert other.collected_count == 0
    assert plans.record_collected_many(session, items[:2])[1] == []  # completed once


def test_cancel_for_mandate_cancels_active_and_paused_plans_once(session):
    active, paused = create(session), create(session)
    plans.pause_plan(session, A, paused.id)
    other_merchant = create(session, merchant=B)
    cancelled = plans.cancel_for_mandate(session, A, "MD1")
    assert {p.id for p in cancelled} == {active.id, paused.id}
    assert plans.cancel_for_mandate(session, A, "MD1") == []
    assert other_merchant.status == "active"


def test_another_merchants_plan_is_not_found(session):
    plan = create(session)
    for action in (plans.get_plan, plans.pause_plan, plans.cancel_plan):
        with pytest.raises(NotFound):
            action(session, B, plan.id)
    with pytest.raises(NotFound):
        update(session, plan, merchant=B, amount=100)
    assert page_data(plans.list_plans_json(session, B, load(PlanFiltersIn, {})))["items"] == []


def test_list_filters_and_pages_newest_first(session):
    monthly = create(session)
    weekly = create(session, frequency="weekly", start_date="2027-03-01")
    plans.pause_plan(session, A, weekly.id)

    def page(**filters):
        return page_data(plans.list_plans_json(session, A, load(PlanFiltersIn, filters)))

    def ids(**filters):
        return [p["id"] for p in page(**filters)["items"]]
    assert ids() == [weekly.id, monthly.id]
    assert ids(status="paused") == [weekly.id] and ids(frequency="monthly") == [monthly.id]
    assert ids(**{"from": "2027-02-15"}) == [weekly.id] and ids(to="2027-02-15") == [monthly.id]
    first = page(limit=1)
    assert [p["id"] for p in first["items"]] == [weekly.id] and first["next_cursor"] == weekly.id
    assert ids(cursor=first["next_cursor"]) == [monthly.id]
    with pytest.raises(Invalid):
        load(PlanFiltersIn, {"limit": 501})


def test_an_instalment_payments_did_not_acknowledge_is_handed_over_again_never_reissued(session):
    plan = create(session, count=3)
    first = plans.due_instalments(session, date(2027, 1, 18))
    assert [i["key"] for i in first] == [f"{plan.id}:1"]
    # the answer to payments was lost: the same instalment comes again, with the same key
    again = plans.due_instalments(session, date(2027, 1, 19))
    assert [(i["key"], i["instalment_id"]) for i in again] == [(f"{plan.id}:1", first[0]["instalment_id"])]
    assert plans.acknowledge(session, [f"{plan.id}:1"]) == 1
    assert plans.acknowledge(session, [f"{plan.id}:1"]) == 0
    assert plans.due_instalments(session, date(2027, 1, 19)) == []
