"""The `plans` service.

Owns: plans (one-off debits and recurring schedules), their instalments on
TARGET2 business days and each plan's history of changes.
Emits: plans.plan_created, plans.plan_updated, plans.plan_paused,
plans.plan_resumed, plans.plan_cancelled, plans.plan_completed,
plans.instalments_due (a notification, one per merchant and call, its `instalments` a
list; the collection does not rely on it).
Listens to: mandates.mandate_revoked and mandates.mandate_expired (the
mandate's active and paused plans are cancelled; a redelivered event does
nothing twice).
RPC `plans`: ping, create_plan, list_plans_json, get_plan, update_plan,
pause_plan, resume_plan, cancel_plan, due_instalments, record_collected,
record_collected_many.
Every call but due_instalments, acknowledge_instalments and record_collected_many
(whose items name their merchant) takes the caller's `merchant_id` and every
query filters by it.

The collection horizon is pulled: payments calls `due_instalments(as_of)`
in its daily cycle; each instalment whose pre-notification day has come is
issued once, in the same transaction that answers it, under the key
"{plan_id}:{sequence_no}" (unique here, and the key payments stores so that
it never debits twice).
"""

from nameko.events import event_handler
from nameko.rpc import RpcProxy
from sqlalchemy.exc import IntegrityError

from common import clock
from common.errors import Invalid
from common.idempotency import first_delivery, remember, remembered, remembered_after_conflict
from common.outbox import Outbox
from common.service import DebitoService, rpc
from plans import events, plans
from plans.models import outbox_events, processed_events, rpc_calls
from common.schemas import dump_page, iso_date, load
from contracts.plans import PlanChangesIn, PlanFiltersIn, PlanIn


class PlansService(DebitoService):
    name = "plans"
    dispatch = Outbox(outbox_events)
    mandates = RpcProxy("mandates")

    @rpc
    def create_plan(self, merchant_id, payload, actor=None, idempotency_key=None):
        """A plan; a call with the `idempotency_key` of an earlier one (a client's retry, or
        RabbitMQ delivering the request again after a broker restart) answers that call's plan."""
        data = load(PlanIn, payload)
        previous = remembered(self.db, rpc_calls, merchant_id, "create_plan", idempotency_key)
        if previous is not None:
            return plans.get_plan(self.db, merchant_id, previous["plan_id"])
        mandate = self.mandates.get_mandate(merchant_id, data["mandate_id"])
        plan = plans.create_plan(self.db, merchant_id, data, mandate)
        self.dispatch("plan_created", events.plan_acted(plan, actor=actor))
        try:
            remember(self.db, rpc_calls, merchant_id, "create_plan", idempotency_key, {"plan_id": plan.id})
            self.db.commit()
        except IntegrityError:  # the same key's other call committed first
            previous = remembered_after_conflict(self.db, rpc_calls, merchant_id, "create_plan", idempotency_key)
            return plans.get_plan(self.db, merchant_id, previous["plan_id"])
        return plans.plan_detail(plan)

    @rpc
    def create_one_off(self, merchant_id, payload, actor=None, idempotency_key=None):
        """`POST /payments`: {mandate_id, amount, due_date, label} as a `once` plan."""
        payload = dict(payload, frequency="once")
        if "due_date" in payload:
            payload["start_date"] = payload.pop("due_date")
        try:
            data = load(PlanIn, payload)
        except Invalid as error:
            if "start_date" in error.fields:  # the caller said due_date
                error.fields["due_date"] = error.fields.pop("start_date")
            raise
        plans.check_one_off_due_date(data, clock.today())
        return self.create_plan(merchant_id, payload, actor, idempotency_key)

    @rpc
    def list_plans_json(self, merchant_id, filters=None):
        """A page of plans as JSON text rendered by PostgreSQL (common.json_pages): the one read
        path of the list, for the API, the dashboard and the exports."""
        return plans.list_plans_json(self.db, merchant_id, load(PlanFiltersIn, filters or {}))

    @rpc
    def get_plan(self, merchant_id, plan_id):
        return plans.get_plan(self.db, merchant_id, plan_id)

    @rpc
    def update_plan(self, merchant_id, plan_id, payload, actor=None):
        changes = load(PlanChangesIn, payload)
        plan = plans.update_plan(self.db, merchant_id, plan_id, changes, actor)
        self.dispatch("plan_updated", events.plan_updated(plan, actor, payload))
        if plan.status == "completed":
            self.dispatch("plan_completed", events.plan_completed(plan))
        self.db.commit()
        return plans.plan_detail(plan)

    def _transition(self, function, event, build, merchant_id, plan_id, actor):
        plan = function(self.db, merchant_id, plan_id, actor)
        self.dispatch(event, build(plan, actor=actor))
        self.db.commit()
        return plans.plan_detail(plan)

    @rpc
    def pause_plan(self, merchant_id, plan_id, actor=None):
        return self._transition(plans.pause_plan, "plan_paused", events.plan_acted, merchant_id, plan_id, actor)

    @rpc
    def resume_plan(self, merchant_id, plan_id, actor=None):
        return self._transition(plans.resume_plan, "plan_resumed", events.plan_acted, merchant_id, plan_id, actor)

    @rpc
    def cancel_plan(self, merchant_id, plan_id, actor=None):
        return self._transition(plans.cancel_plan, "plan_cancelled", events.plan_cancelled, merchant_id, plan_id, actor)

    @rpc
    def due_instalments(self, as_of_iso, limit=None, fresh=False, after=None):
        """Daily cycle step (payments): the instalments issued now, and those issued
        before that payments has not acknowledged (see plans.due_instalments); with
        `limit`, a page of about that many: payments asks again until a page is shorter;
        with `fresh`, only those issued now, from the plan after `after` (a plan id)."""
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise Invalid("limit: a positive integer", {"limit": "a positive integer"})
        issued = plans.due_instalments(self.db, iso_date(as_of_iso, "as_of"), limit=limit, fresh=bool(fresh),
                                        after=after if isinstance(after, str) else None)
        for event in events.instalments_due(issued):
            self.dispatch("instalments_due", event)
        self.db.commit()
        return issued

    @rpc
    def acknowledge_instalments(self, keys):
        """Payments holds these instalments' payments: stop handing them over."""
        count = plans.acknowledge(self.db, keys)
        self.db.commit()
        return {"acknowledged": count}

    @rpc
    def record_collected(self, merchant_id, plan_id, sequence_no):
        plan, completed = plans.record_collected(self.db, merchant_id, plan_id, sequence_no)
        if completed:
            self.dispatch("plan_completed", events.plan_completed(plan))
        self.db.commit()
        return plans.plan_detail(plan)

    @rpc
    def record_collected_many(self, items):
        """record_collected for a bank file's credits at once: `[{merchant_id, plan_id,
        sequence_no}]` (payments calls it; each item names its merchant)."""
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise Invalid("items: a list of {merchant_id, plan_id, sequence_no}", {"items": "a list of objects"})
        recorded, completed, unknown = plans.record_collected_many(self.db, items)
        for plan in completed:
            self.dispatch("plan_completed", events.plan_completed(plan))
        self.db.commit()
        return {"recorded": recorded, "completed": [plan.id for plan in completed], "unknown": unknown}

    def _cancel_for_mandate(self, payload, handler):
        if not first_delivery(self.db, processed_events, payload["event_id"], handler):
            return []
        cancelled = plans.cancel_for_mandate(self.db, payload["merchant_id"], payload["mandate_id"],
                                             actor=f"mandates.{handler}")
        for plan in cancelled:
            self.dispatch("plan_cancelled", events.plan_cancelled(plan, reason=handler))
        self.db.commit()
        return [plan.id for plan in cancelled]

    @event_handler("mandates", "mandate_revoked")
    def on_mandate_revoked(self, payload):
        return self._cancel_for_mandate(payload, "mandate_revoked")

    @event_handler("mandates", "mandate_expired")
    def on_mandate_expired(self, payload):
        return self._cancel_for_mandate(payload, "mandate_expired")
