"""Each event a service dispatches has one builder (its `<service>.events`) and one wire
schema (its contracts module's EVENTS): the builder's dict has exactly the schema's fields, in
the schema's order, loads through it, and is what the schema itself would write (dates and UTC
instants in its format), NULLs and texts to escape included; so the two cannot drift. And every
event type dispatched anywhere in services/ (read from the code) has its schema."""
import ast
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from marshmallow import ValidationError

import contracts.mandates
import contracts.payments
import contracts.plans
import contracts.reporting
import contracts.signing
from contracts.mandates import (MandateAmendedEvent, MandateExpiredEvent, MandateRevokedEvent, MandateSignedEvent,
                                SubscriberCreatedEvent)
from contracts.payments import (EVENTS, PaymentCancelledEvent, PaymentEvent, PaymentsEvent, PayoutEvent,
                                RTransactionEvent, RTransactionsEvent)
from contracts.plans import (InstalmentEvent, InstalmentsDueEvent, PlanActorEvent, PlanCancelledEvent, PlanEvent,
                             PlanUpdatedEvent)
from contracts.reporting import ExportRequestedEvent
from contracts.signing import OrderEvent, OtpSentEvent, SignedEvent
from mandates import events as mandate_events
from mandates.models import Mandate, MandateAmendment, Subscriber
from payments import events
from payments.models import Payment, Payout, RTransaction
from plans import events as plan_events
from plans.models import Plan
from reporting import events as reporting_events
from signing import events as signing_events
from signing.models import SignatureOrder

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"mandates": contracts.mandates.EVENTS, "payments": contracts.payments.EVENTS,
            "plans": contracts.plans.EVENTS, "signing": contracts.signing.EVENTS,
            "reporting": contracts.reporting.EVENTS}

MOMENT = datetime(2030, 1, 8, 6, 30, 0, 250_000, tzinfo=timezone.utc)
PARIS = timezone(timedelta(hours=1))


def _payment(n, merchant="MEA", **fields):
    return Payment(**{**dict(id=f"PM{n}", merchant_id=merchant, plan_id=f"PL{n}", mandate_id=f"MD{n}",
                             subscriber_id=f"SB{n}", amount=1000 + n, currency="EUR", due_date=date(2030, 1, 2),
                             sequence_type="RCUR", end_to_end_id=f"E2E{n}", status="submitted", replay_of=None,
                             attempt=1, bank_file_id="BF1", created_at=MOMENT - timedelta(days=9),
                             submitted_at=MOMENT.astimezone(PARIS)), **fields})


def _r_transaction(n, payment, **fields):
    return RTransaction(**{**dict(id=f"RT{n}", merchant_id=payment.merchant_id, payment_id=payment.id,
                                  type="return", reason_code="AM04", reason="insufficient funds",
                                  amount=payment.amount, received_on=date(2030, 1, 8), retryable=True,
                                  status="open"), **fields})


def _payout(**fields):
    return Payout(**{**dict(id="PO1", merchant_id="MEA", amount=500, currency="EUR", status="sent",
                            end_to_end_id="PO1E2E", paid_on=None, paid_at=None,
                            sent_at=MOMENT.astimezone(PARIS), created_at=MOMENT - timedelta(days=1)), **fields})


def _hostile(payment):
    payment.subscriber_id, payment.plan_id, payment.end_to_end_id = 'SB"1', None, "E2E\t1é\\"
    return payment


def _keys(schema_class):
    return list(schema_class().fields)


def _agrees(schema_class, payload):
    """`payload` has the schema's fields in its order (all but the ones not required that it
    leaves out), loads through it and is its dump."""
    schema = schema_class()
    assert list(payload) == [name for name in schema.fields if name in payload]
    assert all(not field.required for name, field in schema.fields.items() if name not in payload)
    assert schema.dump(schema.load(payload)) == payload
    assert schema.load(json.loads(json.dumps(payload))) == schema.load(payload)  # as the wire carries it


def _subscriber(**fields):
    return Subscriber(**{**dict(id="SB1", merchant_id="MEA", customer_reference="C-1", name="Zoé \"l'Ânesse\"",
                                email="zoe@example.org", created_at=MOMENT.astimezone(PARIS)), **fields})


def _mandate(**fields):
    return Mandate(**{**dict(id="MD1", merchant_id="MEA", subscriber_id="SB1", reference="DEBITO-MEA-1",
                             iban="FR7630006000011234567890189", bic="AGRIFRPP", signature_method="electronic",
                             signed_at=MOMENT.astimezone(PARIS), sequence="recurrent", signing_order_id="SO1",
                             subscriber=_subscriber()), **fields})


def _plan(**fields):
    return Plan(**{**dict(id="PL1", merchant_id="MEA", mandate_id="MD1", subscriber_id="SB1", label="Gym\t\"gold\"",
                          amount=2990, currency="EUR", frequency="monthly", status="active",
                          next_due_date=date(2030, 2, 5)), **fields})


def _order(**fields):
    return SignatureOrder(**{**dict(id="SO1", merchant_id="MEA", method="link", status="pending", subscriber_id=None,
                                    customer_reference='C"1\\', mandate_id=None, plan_id=None,
                                    created_at=MOMENT.astimezone(PARIS), expires_at=MOMENT + timedelta(days=7),
                                    signed_at=None, failure_reason=None, otp_sends=0), **fields})


def _instalment(plan, n, is_last=False):
    return plan_events.instalment(plan, f"IN{n}", n, date(2030, 1, 5) + timedelta(days=31 * n), plan.amount, is_last)


CASES = {
    "payment_event": (PaymentEvent, lambda: events.payment_event(_payment(1))),
    "payment_event, nulls and texts to escape": (PaymentEvent, lambda: events.payment_event(_hostile(
        _payment(2, replay_of="PM1", attempt=2, bank_file_id=None, subscriber_id=None)))),
    "payment_event as decided": (PaymentEvent, lambda: events.payment_event(
        _payment(3, status="rejected", paid_at=MOMENT, rejected_at=MOMENT + timedelta(days=1)),
        "prefix-0", "paid", MOMENT.astimezone(PARIS))),
    "payment_cancelled": (PaymentCancelledEvent, lambda: events.payment_cancelled(
        _payment(4, status="cancelled", cancelled_at=MOMENT), "mandate_revoked")),
    "r_transaction_received": (RTransactionEvent, lambda: events.r_transaction_received(
        _r_transaction(1, _payment(5), reason='refusé "par" le\\débiteur\x01', retryable=False),
        _hostile(_payment(5)))),
    "payout_event, sent": (PayoutEvent, lambda: events.payout_event(_payout())),
    "payout_event, paid": (PayoutEvent, lambda: events.payout_event(
        _payout(status="paid", paid_on=date(2030, 1, 8), paid_at=MOMENT))),
    "subscriber_created": (SubscriberCreatedEvent, lambda: mandate_events.subscriber_created(_subscriber())),
    "subscriber_created, no email": (SubscriberCreatedEvent, lambda: mandate_events.subscriber_created(
        _subscriber(email=None))),
    "mandate_signed": (MandateSignedEvent, lambda: mandate_events.mandate_signed(_mandate())),
    "mandate_signed, imported": (MandateSignedEvent, lambda: mandate_events.mandate_signed(
        _mandate(bic=None, signing_order_id=None, signature_method="paper", sequence="one_off"))),
    "mandate_amended": (MandateAmendedEvent, lambda: mandate_events.mandate_amended(_mandate(), MandateAmendment(
        id="MA1", at=MOMENT, old_iban="FR7630006000011234567890189", new_iban="DE89370400440532013000",
        old_bic="AGRIFRPP", new_bic=None), False)),
    "mandate_revoked": (MandateRevokedEvent, lambda: mandate_events.mandate_revoked(
        _mandate(revoked_at=MOMENT, revocation_reason='asked "by" phone\\'))),
    "mandate_revoked, no reason": (MandateRevokedEvent, lambda: mandate_events.mandate_revoked(
        _mandate(revoked_at=MOMENT, revocation_reason=None))),
    "mandate_expired": (MandateExpiredEvent, lambda: mandate_events.mandate_expired(
        _mandate(expired_at=MOMENT, last_collected_on=date(2026, 12, 5)))),
    "mandate_expired, never collected": (MandateExpiredEvent, lambda: mandate_events.mandate_expired(
        _mandate(expired_at=MOMENT.astimezone(PARIS), last_collected_on=None))),
    "plan_completed": (PlanEvent, lambda: plan_events.plan_completed(_plan(status="completed", next_due_date=None))),
    "plan_acted": (PlanActorEvent, lambda: plan_events.plan_acted(_plan(), "ops@example.org")),
    "plan_acted, by the API key": (PlanActorEvent, lambda: plan_events.plan_acted(_plan(status="paused"), None)),
    "plan_updated": (PlanUpdatedEvent, lambda: plan_events.plan_updated(
        _plan(), "ops@example.org", {"amount": 3990, "label": 'x"y', "end_date": None})),
    "plan_cancelled by someone": (PlanCancelledEvent, lambda: plan_events.plan_cancelled(
        _plan(status="cancelled"), actor="ops@example.org")),
    "plan_cancelled by the API key": (PlanCancelledEvent, lambda: plan_events.plan_cancelled(
        _plan(status="cancelled"), actor=None)),
    "plan_cancelled by the mandate": (PlanCancelledEvent, lambda: plan_events.plan_cancelled(
        _plan(status="cancelled"), reason="mandate_revoked")),
    "instalment": (InstalmentEvent, lambda: _instalment(_plan(), 3, is_last=True)),
    "order_event": (OrderEvent, lambda: signing_events.order_event(_order())),
    "order_event, signed with a plan": (OrderEvent, lambda: signing_events.order_event(_order(
        method="operator", status="signed", subscriber_id="SB1", mandate_id="MD1", plan_id="PL1",
        signed_at=MOMENT, failure_reason="the plan was not created: \"amount\" é"))),
    "otp_sent": (OtpSentEvent, lambda: signing_events.otp_sent(_order(status="otp_sent", otp_sends=2))),
    "signed": (SignedEvent, lambda: signing_events.signed(_order(status="signed", signed_at=MOMENT), {
        "signed_at": MOMENT.isoformat(), "ip_address": "203.0.113.9", "user_agent": 'UA "1"', "phone": "+33612345678",
        "order_id": "SO1", "document_hash": "ab" * 32})),
    "export_requested": (ExportRequestedEvent, lambda: reporting_events.export_requested("EX1", "MEA")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_builder_writes_its_wire_schema_s_fields_in_its_order_and_format(case):
    schema_class, build = CASES[case]
    _agrees(schema_class, build())


def test_the_batches_are_their_schema_s_with_items_of_one_merchant_each():
    payments = [_payment(n, "MEA" if n % 3 else "MEB") for n in range(1, 8)]
    batches = list(events.payments_events(payments, 2))
    assert sum(len(batch["payments"]) for batch in batches) == 7
    for batch in batches:
        _agrees(PaymentsEvent, batch)
        for item in batch["payments"]:
            _agrees(PaymentEvent, item)
    by_id = {payment.id: payment for payment in payments}
    r_batches = list(events.r_transactions_events([_r_transaction(n, p) for n, p in enumerate(payments)], by_id, 3))
    for batch in r_batches:
        _agrees(RTransactionsEvent, batch)
        for item in batch["r_transactions"]:
            _agrees(RTransactionEvent, item)


def test_the_import_s_batches_are_the_same_builders_and_schemas():
    noted = events.ImportEvents()
    paid, rejected = _payment(1), _payment(2, "MEB")
    paid.status, paid.paid_at = "paid", MOMENT
    noted.paid(paid)
    paid.status, paid.rejected_at = "rejected", MOMENT + timedelta(seconds=1)  # returned later in the file
    noted.rejected(paid)
    r_transaction = _r_transaction(1, paid)
    noted.r_transaction(r_transaction, paid)
    rejected.status, rejected.rejected_at = "rejected", MOMENT
    noted.rejected(rejected)
    [paid_batch] = noted.batches("payments_paid", 10)
    _agrees(PaymentsEvent, paid_batch)
    [item] = paid_batch["payments"]
    assert item == events.payment_event(paid, item["event_id"], "paid", MOMENT)  # as it was decided
    assert (item["status"], item["at"]) == ("paid", "2030-01-08T06:30:00.250000+00:00")
    rejected_batches = list(noted.batches("payments_rejected", 10))
    assert sorted(batch["merchant_id"] for batch in rejected_batches) == ["MEA", "MEB"]
    for batch in rejected_batches:
        _agrees(PaymentsEvent, batch)
    [received] = noted.batches("r_transactions_received", 10)
    _agrees(RTransactionsEvent, received)
    assert received["r_transactions"] == [events.r_transaction_received(
        r_transaction, paid, received["r_transactions"][0]["event_id"])]


def test_the_schemas_refuse_a_field_missing_or_unknown_a_wrong_type_and_a_batch_mixing_merchants():
    payload = events.payment_event(_payment(1))
    schema = PaymentEvent()
    for broken in ({k: v for k, v in payload.items() if k != "subscriber_id"},  # null is written, never left out
                   {**payload, "reason": "mandate_revoked"},
                   {**payload, "amount": "1001"},
                   {**payload, "status": "lost"},
                   {**payload, "at": None}):
        with pytest.raises(ValidationError):
            schema.load(broken)
    batch = {"event_id": "E1", "merchant_id": "MEB", "payments": [payload]}
    with pytest.raises(ValidationError, match="merchant"):
        PaymentsEvent().load(batch)
    with pytest.raises(ValidationError):
        RTransactionEvent().load({**events.r_transaction_received(_r_transaction(1, _payment(1)), _payment(1)),
                                  "retryable": "true"})


def test_every_event_payments_emits_has_its_wire_schema():
    emitted = {"payments_scheduled", "payments_submitted", "payments_paid", "payments_rejected",
               "r_transactions_received", "payment_cancelled", "payout_requested", "payout_paid"}
    assert emitted <= set(EVENTS)
    assert {event_type for event_type, schema in EVENTS.items() if schema is PaymentsEvent} == {
        "payments_scheduled", "payments_submitted", "payments_paid", "payments_rejected"}
    assert _keys(PaymentCancelledEvent) == _keys(PaymentEvent) + ["reason"]


def test_instalments_due_is_one_event_per_merchant_of_the_instalments_handed_over():
    plans = [_plan(id=f"PL{n}", merchant_id="MEA" if n % 2 else "MEB") for n in range(1, 6)]
    items = [_instalment(plan, n, is_last=n == 4) for n, plan in enumerate(plans, 1)]
    batches = plan_events.instalments_due(items)
    assert sorted(batch["merchant_id"] for batch in batches) == ["MEA", "MEB"]
    assert sorted((item for batch in batches for item in batch["instalments"]), key=lambda i: i["key"]) == items
    for batch in batches:
        _agrees(InstalmentsDueEvent, batch)
    with pytest.raises(ValidationError, match="merchant"):
        InstalmentsDueEvent().load({"event_id": "E1", "merchant_id": "MEA", "instalments": items})


def test_a_plan_is_cancelled_by_someone_or_by_its_mandate_never_both_nor_neither():
    payload = plan_events.plan_cancelled(_plan(status="cancelled"), actor="ops@example.org")
    assert "reason" not in payload
    schema = PlanCancelledEvent()
    for broken in ({**payload, "reason": "mandate_revoked"}, {k: v for k, v in payload.items() if k != "actor"},
                   {**{k: v for k, v in payload.items() if k != "actor"}, "reason": "asked"}):
        with pytest.raises(ValidationError):
            schema.load(broken)


# --- every event type dispatched in the code has a schema ------------------------------------

def _calls(tree, name):
    """The calls of `name`, as a function or a method."""
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id == name)
        or (isinstance(node.func, ast.Attribute) and node.func.attr == name))]


def _literal(node, where):
    assert isinstance(node, ast.Constant) and isinstance(node.value, str), \
        f"{where}: an event type the test cannot read; name it in a string literal"
    return node.value


def _types_of(name, function, trees, where):
    """The event types a parameter `name` of `function` takes: from a `for name in (...)` over
    literals in it, or from the literal its callers pass."""
    for node in ast.walk(function):
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name) and node.target.id == name:
            assert isinstance(node.iter, (ast.Tuple, ast.List)), f"{where}: {name} loops over what?"
            return {_literal(element, where) for element in node.iter.elts}
    parameters = [argument.arg for argument in function.args.args]
    assert name in parameters, f"{where}: the event type {name} is neither a loop's nor a parameter"
    position = parameters.index(name) - (parameters[:1] == ["self"])
    found = set()
    for path, tree in trees.items():
        for call in _calls(tree, function.name):
            given = {keyword.arg: keyword.value for keyword in call.keywords}
            value = given[name] if name in given else call.args[position]
            found.add(_literal(value, f"{path.relative_to(ROOT)}:{call.lineno}"))
    assert found, f"{where}: {function.name} is never called"
    return found


def dispatched(service):
    """The event types `service`'s code dispatches (`dispatch("type", ...)`, or a type its
    dispatching function is handed)."""
    trees = {path: ast.parse(path.read_text()) for path in sorted((ROOT / "services" / service / service).glob("*.py"))}
    types = set()
    for path, tree in trees.items():
        functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for call in _calls(tree, "dispatch"):
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            first = call.args[0]
            if isinstance(first, ast.Name):
                [function] = [f for f in functions if f.lineno <= call.lineno <= f.end_lineno
                              and not any(g is not f and f.lineno < g.lineno <= call.lineno <= g.end_lineno
                                          for g in functions)]
                types |= _types_of(first.id, function, trees, where)
            else:
                types.add(_literal(first, where))
    return types


def test_the_dispatched_types_are_read_from_the_code():
    assert dispatched("plans") == {"plan_created", "plan_updated", "plan_paused", "plan_resumed", "plan_cancelled",
                                   "plan_completed", "instalments_due"}
    assert dispatched("payments") == {"payments_scheduled", "payments_submitted", "payments_paid",
                                      "payments_rejected", "r_transactions_received", "payment_cancelled",
                                      "payout_requested", "payout_paid"}
    assert dispatched("reporting") == {"export_requested"}


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_event_a_service_dispatches_has_its_wire_schema(service):
    assert dispatched(service), f"{service} dispatches nothing?"
    assert dispatched(service) <= set(SERVICES[service])


def test_no_other_package_dispatches_events():
    services = {path.name for path in (ROOT / "services").iterdir() if (path / path.name / "__init__.py").exists()}
    assert services == set(SERVICES)
    for tree_root in ("gateway/gateway", "common", "debito"):
        for path in (ROOT / tree_root).rglob("*.py"):
            calls = _calls(ast.parse(path.read_text()), "dispatch")
            assert not calls, f"{path.relative_to(ROOT)} dispatches: its events need a wire schema"
