"""The overview's read models, fed by facts (events as received).

A fact is stored once (`record`), then applied (`apply`): every effect is an
addition, so the figures do not depend on the order of arrival, and a
`rebuild` that replays the stored facts gives the figures built live.

The day of a fact comes from its own payload, never from the day it was
received (a clock walk, `debito collect --as-of`, runs far from the wall clock):

- mandates.mandate_signed: `signed_at` (UTC date); revoked: `revoked_at`;
  expired: `expired_at`;
- payments.payment_paid and payment_rejected: `due_date`, the settlement day
  the debit was presented for (`at` is the wall-clock time the bank file was
  read); a debit returned after it was paid counts as collected and as
  rejected on its due date;
- payments.r_transaction_received: `received_on` (stored; it does not move
  the figures: the same rejection is counted from payment_rejected);
- payments.payout_paid: the first of `paid_on`, `value_date`,
  `execution_date`, `at`, `paid_at` present;
- payments.payment_scheduled and payment_submitted (each payment of the batch events
  payments_scheduled and payments_submitted, stored one fact each): `at` (stored; they do
  not move the figures);
- plans.*: the plan's events carry no date of their own: the day received.

A batch event (`record_batch`) stores its payments' facts in one multi-row INSERT and
moves each counter row and each day's row once, by the sum of its facts' effects: the
same figures as one event per payment, for a few statements.
"""
from collections import Counter, defaultdict
import json
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from common import clock
from reporting.models import Counters, DailyFigures, Fact

SERIES_DAYS = 90
SERIES_FIELDS = ("collected_amount", "collected_count", "rejected_amount", "rejected_count",
                 "mandates_signed", "paid_out_amount")
COUNTER_FIELDS = ("mandates_signed", "payments_rejected", "plans_active")

# (service, event name) -> the payload fields that date it, first present wins
DAY_FIELDS = {
    ("mandates", "mandate_signed"): ("signed_at",),
    ("mandates", "mandate_revoked"): ("revoked_at",),
    ("mandates", "mandate_expired"): ("expired_at",),
    ("plans", "plan_created"): (),
    ("plans", "plan_cancelled"): (),
    ("plans", "plan_completed"): (),
    ("payments", "payment_scheduled"): ("at",),
    ("payments", "payment_submitted"): ("at",),
    ("payments", "payment_paid"): ("due_date",),
    ("payments", "payment_rejected"): ("due_date",),
    ("payments", "r_transaction_received"): ("received_on",),
    ("payments", "payout_paid"): ("paid_on", "value_date", "execution_date", "at", "paid_at"),
}
FACTS = tuple(DAY_FIELDS)


def _day(value):
    """A date from an ISO date or instant (an instant's UTC date, as emitted), else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        if "T" in value or " " in value:
            instant = datetime.fromisoformat(value)
            return (instant.astimezone(timezone.utc) if instant.tzinfo else instant).date()
        return date.fromisoformat(value)
    except ValueError:
        return None


def occurred_on(service, name, payload):
    for field in DAY_FIELDS.get((service, name), ()):
        day = _day(payload.get(field))
        if day:
            return day
    return clock.today()


def _amount(payload):
    amount = payload.get("amount")
    return amount if isinstance(amount, int) and not isinstance(amount, bool) else 0


def effects(fact):
    """({counter: delta}, {series field: delta}) of one fact."""
    return effects_of(fact.service, fact.name, json.loads(fact.payload))


def effects_of(service, name, payload):
    """({counter: delta}, {series field: delta}) of the event `service.name` saying `payload`."""
    key = (service, name)
    if key == ("mandates", "mandate_signed"):
        return {"mandates_signed": 1}, {"mandates_signed": 1}
    if key in (("mandates", "mandate_revoked"), ("mandates", "mandate_expired")):
        return {"mandates_signed": -1}, {}
    if key == ("plans", "plan_created"):
        return {"plans_active": 1}, {}
    if key in (("plans", "plan_cancelled"), ("plans", "plan_completed")):
        return {"plans_active": -1}, {}
    if key == ("payments", "payment_paid"):
        return {}, {"collected_count": 1, "collected_amount": _amount(payload)}
    if key == ("payments", "payment_rejected"):
        return {"payments_rejected": 1}, {"rejected_count": 1, "rejected_amount": _amount(payload)}
    if key == ("payments", "payout_paid"):
        return {}, {"paid_out_amount": _amount(payload)}
    return {}, {}


def _upsert(session, table, keys, deltas, extra=None):
    """Add `deltas` to the row at `keys`, creating it: one statement, safe between workers."""
    statement = insert(table).values(**keys, **deltas, **(extra or {}))
    changes = {name: getattr(table.c, name) + statement.excluded[name] for name in deltas}
    changes.update({name: statement.excluded[name] for name in (extra or {})})
    session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changes))


def apply(session, fact):
    """Move the counters and the day's figures by what `fact` says happened."""
    counters, series = effects(fact)
    if counters:
        _upsert(session, Counters.__table__, {"merchant_id": fact.merchant_id}, counters,
                {"updated_at": clock.now()})
    if series:
        _upsert(session, DailyFigures.__table__, {"merchant_id": fact.merchant_id, "day": fact.occurred_on},
                series)


def record(session, service, name, payload):
    """Store the event as a fact and apply it; None when this event id is already stored.

    The caller has checked `first_delivery` in the same transaction and commits.
    """
    event_id = payload["event_id"]
    if session.scalar(select(Fact.id).where(Fact.event_id == event_id)) is not None:
        return None
    fact = Fact(event_id=event_id, service=service, name=name, merchant_id=payload["merchant_id"],
                occurred_on=occurred_on(service, name, payload),
                payload=json.dumps(payload, sort_keys=True, default=str), received_at=clock.now())
    session.add(fact)
    session.flush()
    apply(session, fact)
    return fact


_FACT_COLUMNS = ("event_id", "service", "name", "merchant_id", "occurred_on", "payload", "received_at")


def _insert_facts(session, rows):
    """Insert the facts whose event_id is new (one multi-row INSERT … ON CONFLICT DO NOTHING
    per batch of rows); the event ids inserted. Each payload is stored as `record` stores it."""
    if not rows:
        return set()
    table = Fact.__table__
    return set(session.scalars(
        insert(table).on_conflict_do_nothing(index_elements=["event_id"]).returning(table.c.event_id),
        [{column: row[column] if column != "payload" else json.dumps(row["_payload"], sort_keys=True, default=str)
          for column in _FACT_COLUMNS} for row in rows]))


def record_batch(session, service, name, payloads):
    """Store each payload (events `service.name`, each with its own event_id) as a fact and
    apply them: one multi-row INSERT … ON CONFLICT (event_id) DO NOTHING, then one upsert
    per counter row and per (merchant, day) with the summed effects of the facts just stored.
    A payload whose event_id is stored already changes nothing. Returns how many were new.

    The caller has checked `first_delivery` of the batch in the same transaction and commits."""
    now, rows, seen = clock.now(), [], set()
    for payload in payloads:
        if payload["event_id"] in seen:
            continue
        seen.add(payload["event_id"])
        rows.append({"event_id": payload["event_id"], "service": service, "name": name,
                     "merchant_id": payload["merchant_id"], "occurred_on": occurred_on(service, name, payload),
                     "received_at": now, "_payload": payload})
    stored = _insert_facts(session, rows)
    counters, series = defaultdict(Counter), defaultdict(Counter)
    for row in rows:
        if row["event_id"] in stored:
            counter_deltas, series_deltas = effects_of(service, name, row["_payload"])
            counters[row["merchant_id"]].update(counter_deltas)
            series[(row["merchant_id"], row["occurred_on"])].update(series_deltas)
    for merchant_id, deltas in counters.items():
        if deltas:
            _upsert(session, Counters.__table__, {"merchant_id": merchant_id}, dict(deltas),
                    {"updated_at": now})
    for (merchant_id, day), deltas in series.items():
        if deltas:
            _upsert(session, DailyFigures.__table__, {"merchant_id": merchant_id, "day": day}, dict(deltas))
    return len(stored)


def rebuild(session, batch=1000):
    """Empty the figures and replay every stored fact, in arrival order, through `apply`."""
    session.execute(delete(DailyFigures))
    session.execute(delete(Counters))
    replayed, last = 0, 0
    while True:  # in batches by id: memory stays flat however many facts there are
        facts = session.scalars(select(Fact).where(Fact.id > last).order_by(Fact.id).limit(batch)).all()
        if not facts:
            return {"facts": replayed}
        for fact in facts:
            apply(session, fact)
        replayed, last = replayed + len(facts), facts[-1].id
        session.expunge_all()


def overview(session, merchant_id, as_of):
    """The counters now and one row per day for the SERIES_DAYS days ending `as_of`, zero-filled."""
    counters = session.get(Counters, merchant_id)
    first = as_of - timedelta(days=SERIES_DAYS - 1)
    rows = {row.day: row for row in session.scalars(select(DailyFigures).where(
        DailyFigures.merchant_id == merchant_id, DailyFigures.day >= first, DailyFigures.day <= as_of))}
    series = []
    for offset in range(SERIES_DAYS):
        day = first + timedelta(days=offset)
        row = rows.get(day)
        series.append({"day": day.isoformat(),
                       **{field: (getattr(row, field) if row else 0) for field in SERIES_FIELDS}})
    return {"merchant_id": merchant_id, "as_of": as_of.isoformat(),
            **{field: (getattr(counters, field) if counters else 0) for field in COUNTER_FIELDS},
            "series": series}
