"""Plans: creation on an active mandate, edits, pause/resume/cancel, the
collection horizon (`due_instalments`) and collections. Plain functions
taking a session; the caller commits.

Issued instalments are rows with their own date and amount: an edit never
touches them. The instalments not yet issued are computed from the plan's
schedule, counted from its anchor (`anchor_sequence`, `anchor_date`): the
start date at first; an edit of the frequency or day of month once
instalments were issued, or a resume, moves the anchor after the last issued
one, so that issued instalments keep their sequence numbers.
"""
import json
from collections import namedtuple
from types import SimpleNamespace
from datetime import date, timedelta
from itertools import islice

from dateutil.relativedelta import relativedelta
from psycopg2.extras import execute_values  # multi-row VALUES in one statement
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from common import clock
from common.calendar import is_business_day, next_business_day
from common.errors import Conflict, Invalid, NotFound
from common.ids import new_id
from common.json_pages import json_page
from common.database import merchant_list_query
from plans import events
from plans.models import Instalment, Plan, PlanChange
from plans.schedule import LAST_DAY, MONTHS, is_month_based, theoretical_dates
from contracts.plans import InstalmentOut, PlanChangeOut, PlanOut

UPCOMING = 12
Due = namedtuple("Due", "sequence_no theoretical due_date")
EDITABLE = ("amount", "frequency", "end_date", "count", "day_of_month")


def _invalid(field, message):
    return Invalid(f"{field}: {message}", {field: message})


# --- the schedule of a plan -------------------------------------------------

def remaining(plan):
    """The instalments not yet issued: Due(sequence_no, theoretical date, due date), in order."""
    day = plan.day_of_month or plan.start_date.day
    left = None if plan.count is None else plan.count - plan.anchor_sequence
    dates = theoretical_dates(plan.frequency, plan.anchor_date, day, plan.end_date)
    for offset, theoretical in enumerate(islice(dates, left)):
        sequence_no = plan.anchor_sequence + 1 + offset
        if sequence_no > plan.next_sequence:
            yield Due(sequence_no, theoretical, next_business_day(theoretical))


def _first_remaining(plan):
    return next(remaining(plan), None)


def _refresh(plan):
    """Keep the indexed columns (next due date, pre-notification day) true to the schedule."""
    if plan.status in ("cancelled", "completed"):
        plan.next_due_date = plan.issue_on = None
        return
    following = _first_remaining(plan)
    pending = [i.due_date for i in plan.instalments if i.status == "issued"]
    plan.issue_on = following.due_date - timedelta(days=plan.prenotification_days) if following else None
    plan.next_due_date = min(pending) if pending else (following.due_date if following else None)


def _validate(values, today=None):
    """Cross-field rules shared by creation and edits; `today` set when the start date is new."""
    frequency, day = values["frequency"], values.get("day_of_month")
    if values.get("count") is not None and values.get("end_date") is not None:
        raise Invalid("count: give either count or end_date, not both",
                      {"count": "give either count or end_date", "end_date": "give either count or end_date"})
    if frequency == "once":
        if values.get("end_date") is not None:
            raise _invalid("end_date", "a one-off debit has no end date")
        if values.get("count") not in (None, 1):
            raise _invalid("count", "a one-off debit is one instalment")
        values["count"] = 1
    if day is not None:
        if not is_month_based(frequency):
            raise _invalid("day_of_month", "only for monthly, bimonthly, quarterly, semiannual or annual plans")
        if day != LAST_DAY and not 1 <= day <= 28:
            raise _invalid("day_of_month", "1 to 28, or -1 for the last day of the month")
    if today is not None and values["start_date"] < today:
        raise _invalid("start_date", "must not be in the past")
    if values.get("end_date") is not None and values["end_date"] < values["start_date"]:
        raise _invalid("end_date", "is before start_date")


def _history(session, plan, actor, changes):
    session.add(PlanChange(id=new_id("PC"), merchant_id=plan.merchant_id, plan=plan, at=clock.now(),
                           actor=actor, changes=json.dumps(changes)))


def _wire(value):
    return value.isoformat() if isinstance(value, date) else value


# --- creation and reading ---------------------------------------------------

def create_plan(session, merchant_id, data, mandate):
    """A plan (PlanIn data) on `mandate`, the dict of the mandates RPC get_mandate."""
    if mandate["status"] != "active":
        raise Conflict(f"mandate {mandate['id']} is {mandate['status']}",
                       {"mandate_id": f"the mandate is {mandate['status']}, not active"})
    values = dict(data)
    _validate(values, clock.today())
    now = clock.now()
    plan = Plan(id=new_id("PL"), merchant_id=merchant_id, mandate_id=mandate["id"],
                subscriber_id=mandate["subscriber_id"], label=values["label"], amount=values["amount"],
                currency="EUR", frequency=values["frequency"], start_date=values["start_date"],
                count=values.get("count"), end_date=values.get("end_date"),
                day_of_month=values.get("day_of_month"), status="active",
                prenotification_days=values.get("prenotification_days", 14), next_sequence=0,
                collected_count=0, anchor_date=values["start_date"], anchor_sequence=0,
                created_at=now, updated_at=now)
    if _first_remaining(plan) is None:
        raise _invalid("end_date", "no due date falls between start_date and end_date")
    _refresh(plan)
    session.add(plan)
    session.flush()
    return plan


def check_one_off_due_date(data, today):
    """A one-off debit (`POST /payments`) is due on the very day asked, so that day
    must be a TARGET2 business day late enough for the pre-notification."""
    due = data["start_date"]
    if not is_business_day(due):
        raise _invalid("due_date", f"{due} is not a TARGET2 business day (next: {next_business_day(due)})")
    first = next_business_day(today + timedelta(days=data.get("prenotification_days", 14)))
    if due < first:
        raise _invalid("due_date", f"too early for the pre-notification: the first possible date is {first}")


def find_plan(session, merchant_id, plan_id, lock=False):
    query = select(Plan).where(Plan.merchant_id == merchant_id, Plan.id == plan_id).options(
        selectinload(Plan.instalments), selectinload(Plan.changes))
    plan = session.scalar(query.with_for_update() if lock else query)
    if plan is None:
        raise NotFound(f"no plan {plan_id}", {"plan_id": "not found"})
    return plan


def plan_detail(plan):
    """The plan as the RPCs answer it: with its upcoming, issued instalments and history."""
    upcoming = [] if plan.status in ("cancelled", "completed") else [
        {"due_date": due.due_date.isoformat(), "amount": plan.amount}
        for due in islice(remaining(plan), UPCOMING)]
    return {**PlanOut().dump(plan), "upcoming": upcoming,
            "instalments": InstalmentOut(many=True).dump(plan.instalments),
            "history": PlanChangeOut(many=True).dump(plan.changes)}


def get_plan(session, merchant_id, plan_id):
    return plan_detail(find_plan(session, merchant_id, plan_id))


def list_plans_json(session, merchant_id, filters):
    """A keyset page of plans, newest first (PlanFiltersIn data), as JSON text (common.json_pages):
    the list's one read path."""
    return json_page(session, plans_query(merchant_id, filters), Plan.id, filters, PlanOut, "plans t")


def plans_query(merchant_id, filters):
    """The list's query (a ListQuery); from/to: the next due date."""
    equal = ("status", "frequency", "mandate_id", "subscriber_id")
    params = {"merchant_id": merchant_id}
    params.update((name, filters[name]) for name in equal + ("from_", "to") if filters.get(name))
    return merchant_list_query(Plan, Plan.next_due_date, params, equal)


# --- edits and states -------------------------------------------------------

def _period(frequency):
    return timedelta(days=7) if frequency == "weekly" else relativedelta(months=MONTHS.get(frequency, 0))


def _last_issued_theoretical(plan):
    """The theoretical date of the last issued instalment, from the schedule before an edit."""
    day = plan.day_of_month or plan.start_date.day
    dates = theoretical_dates(plan.frequency, plan.anchor_date, day, None)
    return next(islice(dates, plan.next_sequence - plan.anchor_sequence - 1, None))


def update_plan(session, merchant_id, plan_id, changes, actor=None):
    """Edit amount, frequency, end_date, count, day_of_month (PlanChangesIn data) of the
    instalments not yet issued; the change is kept in the plan's history."""
    plan = find_plan(session, merchant_id, plan_id, lock=True)
    if plan.status in ("cancelled", "completed"):
        raise Conflict(f"plan {plan_id} is {plan.status}", {"status": plan.status})
    old = {name: getattr(plan, name) for name in EDITABLE}
    new = {**old, "start_date": plan.start_date, **changes}
    # one period limit at a time: giving one replaces the other
    if "count" in changes and "end_date" not in changes:
        new["end_date"] = None
    if "end_date" in changes and "count" not in changes:
        new["count"] = None
    if "frequency" in changes and not is_month_based(changes["frequency"]) and "day_of_month" not in changes:
        new["day_of_month"] = None
    if "frequency" in changes and "once" in (changes["frequency"], plan.frequency) \
            and changes["frequency"] != plan.frequency:
        raise _invalid("frequency", "a one-off debit and a schedule cannot turn into each other")
    if plan.frequency == "once" and new["count"] is None and new["end_date"] is None:
        new["count"] = 1
    _validate(new)
    if new["count"] is not None and new["count"] < plan.next_sequence:
        raise _invalid("count", f"{plan.next_sequence} instalments are already issued")
    diff = {name: [_wire(old[name]), _wire(new[name])] for name in EDITABLE if old[name] != new[name]}
    if not diff:
        return plan
    rebase = plan.next_sequence > 0 and ("frequency" in diff or "day_of_month" in diff)
    last = _last_issued_theoretical(plan) if rebase else None
    for name in EDITABLE:
        setattr(plan, name, new[name])
    if rebase:
        day = plan.day_of_month or plan.start_date.day
        start = last + _period(plan.frequency)
        plan.anchor_sequence = plan.next_sequence
        plan.anchor_date = next(theoretical_dates(plan.frequency, start, day))
    plan.updated_at = clock.now()
    _history(session, plan, actor, diff)
    _complete_if_done(plan)
    _refresh(plan)
    session.flush()
    return plan


def _set_status(session, plan, status, actor):
    _history(session, plan, actor, {"status": [plan.status, status]})
    plan.status, plan.updated_at = status, clock.now()
    if status == "cancelled":
        plan.cancelled_at = plan.updated_at
    _refresh(plan)


def pause_plan(session, merchant_id, plan_id, actor=None):
    plan = find_plan(session, merchant_id, plan_id, lock=True)
    if plan.status != "active":
        raise Conflict(f"plan {plan_id} is {plan.status}: only an active plan pauses", {"status": plan.status})
    _set_status(session, plan, "paused", actor)
    session.flush()
    return plan


def resume_plan(session, merchant_id, plan_id, actor=None):
    """A paused plan goes on; the instalments whose pre-notification day passed during
    the pause are postponed, not debited late (a plan with a count keeps its number)."""
    plan = find_plan(session, merchant_id, plan_id, lock=True)
    if plan.status != "paused":
        raise Conflict(f"plan {plan_id} is {plan.status}: only a paused plan resumes", {"status": plan.status})
    today, skipped = clock.today(), 0
    for due in remaining(plan):
        if due.due_date - timedelta(days=plan.prenotification_days) >= today:
            if skipped:
                plan.anchor_sequence, plan.anchor_date = plan.next_sequence, due.theoretical
            break
        skipped += 1
    _set_status(session, plan, "active", actor)
    session.flush()
    return plan


def cancel_plan(session, merchant_id, plan_id, actor=None):
    """No further instalment is issued; issued ones stay for payments to cancel."""
    plan = find_plan(session, merchant_id, plan_id, lock=True)
    if plan.status not in ("active", "paused"):
        raise Conflict(f"plan {plan_id} is already {plan.status}", {"status": plan.status})
    _set_status(session, plan, "cancelled", actor)
    session.flush()
    return plan


def cancel_for_mandate(session, merchant_id, mandate_id, actor="mandates"):
    """A revoked or expired mandate: its active and paused plans are cancelled."""
    plans = session.scalars(select(Plan).where(
        Plan.merchant_id == merchant_id, Plan.mandate_id == mandate_id, Plan.status.in_(("active", "paused")))
        .options(selectinload(Plan.instalments)).order_by(Plan.id).with_for_update()).all()
    for plan in plans:
        _set_status(session, plan, "cancelled", actor)
    session.flush()
    return plans


def _complete_if_done(plan):
    if plan.status == "active" and _first_remaining(plan) is None and plan.next_sequence > 0 \
            and all(i.status != "issued" for i in plan.instalments):
        plan.status = "completed"
        return True
    return False


def record_collected(session, merchant_id, plan_id, sequence_no):
    """Instalment `sequence_no` was collected; the plan completes after its last one.

    Returns (plan, completed); a second call for the same instalment changes nothing."""
    plan = find_plan(session, merchant_id, plan_id, lock=True)
    instalment = next((i for i in plan.instalments if i.sequence_no == sequence_no), None)
    if instalment is None:
        raise NotFound(f"no instalment {plan_id}:{sequence_no}", {"sequence_no": "not found"})
    if instalment.status == "collected":
        return plan, False
    instalment.status = "collected"
    plan.collected_count += 1
    plan.updated_at = clock.now()
    completed = _complete_if_done(plan)
    _refresh(plan)
    session.flush()
    return plan, completed


def record_collected_many(session, items):
    """record_collected for each `{merchant_id, plan_id, sequence_no}` (the credits of a bank
    file), plans locked in id order; an unknown instalment is skipped. Returns
    (recorded, completed plans, unknown items)."""
    completed, unknown, recorded = [], [], 0
    for item in sorted(items, key=lambda i: (str(i.get("plan_id")), str(i.get("sequence_no")))):
        try:
            plan, done = record_collected(session, item.get("merchant_id"), item.get("plan_id"),
                                          item.get("sequence_no"))
        except NotFound:
            unknown.append(item)
            continue
        recorded += 1
        if done:
            completed.append(plan)
    return recorded, completed, unknown


# --- the collection horizon -------------------------------------------------

_HORIZON_COLUMNS = (Plan.id, Plan.merchant_id, Plan.mandate_id, Plan.subscriber_id, Plan.label, Plan.amount,
                    Plan.currency, Plan.frequency, Plan.start_date, Plan.count, Plan.end_date, Plan.day_of_month,
                    Plan.status, Plan.prenotification_days, Plan.next_sequence, Plan.anchor_date,
                    Plan.anchor_sequence)


def _rows(result):
    """Rows as plain objects: a Row's `count` is tuple.count, not the column."""
    return [SimpleNamespace(**row._mapping) for row in result]


def unacknowledged(session, excluded=(), limit=None):
    """Issued instalments payments has not confirmed holding, oldest first (at most `limit`,
    not counting those of `excluded`, the keys just issued)."""
    query = (select(Instalment.id.label("instalment_id"), Instalment.sequence_no, Instalment.due_date,
                    Instalment.amount.label("instalment_amount"), *_HORIZON_COLUMNS)
             .join(Plan, Instalment.plan_id == Plan.id)
             .where(Instalment.status == "issued", Instalment.acknowledged_at.is_(None))
             .order_by(Instalment.issued_at, Instalment.plan_id, Instalment.sequence_no))
    if limit is not None:
        query = query.limit(limit + len(excluded))
    found = []
    for row in _rows(session.execute(query)):
        if f"{row.id}:{row.sequence_no}" in excluded:
            continue
        is_last = next(remaining(row), None) is None and row.sequence_no == row.next_sequence
        found.append(events.instalment(row, row.instalment_id, row.sequence_no, row.due_date, row.instalment_amount,
                                        is_last))
    return found if limit is None else found[:limit]


def acknowledge(session, keys):
    """Payments holds a payment for each of these instalment keys: one statement for them all."""
    pairs = []
    for key in keys:
        plan_id, _, sequence_no = key.rpartition(":")
        pairs.append({"b_plan_id": plan_id, "b_sequence_no": int(sequence_no)})
    if not pairs:
        return 0
    session.flush()
    now, count = clock.now(), 0
    cursor = session.connection().connection.cursor()
    try:
        at = cursor.mogrify("%s", (now,)).decode()  # execute_values takes one placeholder, its VALUES
        for start in range(0, len(pairs), 1000):
            execute_values(cursor, f"UPDATE instalments SET acknowledged_at = {at} FROM (VALUES %s) AS k "
                           "(plan_id, sequence_no) WHERE instalments.plan_id = k.plan_id AND "
                           "instalments.sequence_no = k.sequence_no AND instalments.acknowledged_at IS NULL",
                           [(p["b_plan_id"], p["b_sequence_no"]) for p in pairs[start:start + 1000]],
                           template="(%s, %s::integer)", page_size=1000)
            count += cursor.rowcount
    finally:
        cursor.close()
    session.expire_all()
    return count


def _insert_instalments(session, rows):
    """Insert the instalments, skipping any whose key exists (the unique key is the last guard
    against a double issue); returns the ids inserted."""
    if not rows:
        return set()
    columns = list(rows[0])
    cursor = session.connection().connection.cursor()
    try:
        inserted = execute_values(
            cursor, f"INSERT INTO instalments ({', '.join(columns)}) VALUES %s "
            "ON CONFLICT (plan_id, sequence_no) DO NOTHING RETURNING id",
            [tuple(row[column] for column in columns) for row in rows], page_size=1000, fetch=True)
    finally:
        cursor.close()
    return {row[0] for row in inserted}


def _move_on(session, changes):
    """The plans' new next_sequence, issue_on and next_due_date: one UPDATE … FROM (VALUES …)
    for the batch."""
    if not changes:
        return
    cursor = session.connection().connection.cursor()
    try:
        execute_values(cursor, "UPDATE plans SET next_sequence = v.next_sequence, issue_on = v.issue_on, "
                       "next_due_date = v.next_due_date FROM (VALUES %s) AS v (id, next_sequence, issue_on, "
                       "next_due_date) WHERE plans.id = v.id",
                       [(c["b_id"], c["b_next_sequence"], c["b_issue_on"], c["b_next_due_date"]) for c in changes],
                       template="(%s, %s::integer, %s::date, %s::date)", page_size=len(changes))
    finally:
        cursor.close()


def due_instalments(session, as_of, batch_size=500, limit=None, fresh=False, after=None):
    """Issue, exactly once, every instalment of an active plan (all merchants) whose
    pre-notification day (`due_date - prenotification_days`) is on or before `as_of`.

    Returns the instalments issued by this call, then those issued earlier that
    payments has not acknowledged yet (its answer may have been lost: handing them
    over again is harmless, payments keys its payments by `key` =
    "{plan_id}:{sequence_no}", which is unique).

    With `limit`, stops issuing once about `limit` instalments are issued (whole batches of
    plans) and hands over at most `limit` in all: the caller asks again, after acknowledging,
    until an answer is shorter than `limit`. With `fresh`, only the instalments issued by this
    call: the caller may ask for the next page before acknowledging this one, then asks
    without `fresh` for those it never acknowledged. `after`: a plan id, where the previous
    page ended (plans are taken in id order): the next page starts after it instead of
    reading again past every plan already issued today. Plans are read, and instalments inserted and
    plans moved on, a batch at a time in a few statements (FOR UPDATE SKIP LOCKED: two
    workers never issue for the same plan)."""
    session.flush()
    issued, now, last_id = [], clock.now(), after or ""
    while limit is None or len(issued) < limit:
        plans = _rows(session.execute(
            select(*_HORIZON_COLUMNS).where(Plan.status == "active", Plan.issue_on <= as_of, Plan.id > last_id)
            .order_by(Plan.id).limit(batch_size).with_for_update(skip_locked=True)))
        if not plans:
            break
        last_id = plans[-1].id
        pending = dict(session.execute(
            select(Instalment.plan_id, func.min(Instalment.due_date))
            .where(Instalment.plan_id.in_([plan.id for plan in plans]), Instalment.status == "issued")
            .group_by(Instalment.plan_id)).all())
        rows, planned = [], []
        for plan in plans:
            schedule = remaining(plan)
            due, new = next(schedule, None), []
            while due is not None and due.due_date - timedelta(days=plan.prenotification_days) <= as_of:
                following = next(schedule, None)
                new.append((new_id("IN"), due, following is None))
                due = following
            rows += [{"id": instalment_id, "merchant_id": plan.merchant_id, "plan_id": plan.id,
                      "sequence_no": step.sequence_no, "due_date": step.due_date, "amount": plan.amount,
                      "status": "issued", "issued_at": now} for instalment_id, step, _ in new]
            planned.append((plan, new, due))
        inserted = _insert_instalments(session, rows)
        changes = []
        for plan, new, following in planned:
            last_sequence, first_new = plan.next_sequence, None
            for instalment_id, step, is_last in new:
                if instalment_id not in inserted:
                    break  # issued meanwhile by another worker: this plan waits for the next run
                issued.append(events.instalment(plan, instalment_id, step.sequence_no, step.due_date, plan.amount,
                                                is_last))
                last_sequence, first_new = step.sequence_no, first_new or step.due_date
            if last_sequence != plan.next_sequence + len(new):
                # a conflict: the schedule continues after the last instalment really issued
                plan.next_sequence = last_sequence
                following = next(remaining(plan), None)
            earliest = [day for day in (pending.get(plan.id), first_new) if day is not None]
            changes.append({"b_id": plan.id, "b_next_sequence": last_sequence,
                            "b_issue_on": following.due_date - timedelta(days=plan.prenotification_days)
                            if following else None,
                            "b_next_due_date": min(earliest) if earliest else (
                                following.due_date if following else None)})
        _move_on(session, changes)
    session.expire_all()  # the statements above bypassed the identity map
    left = None if limit is None else max(0, limit - len(issued))
    if left == 0 or fresh:
        return issued
    return issued + unacknowledged(session, {i["key"] for i in issued}, left)
