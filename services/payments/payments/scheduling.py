"""Scheduling a page of instalments in a few statements (collection.schedule_due): the
collection cycle hands over hundreds of thousands of instalments a day, so nothing here
costs a query, an insert or a load per instalment.

- the keys already held: one SELECT per CHUNK keys;
- the account each mandate was last debited on (sequence type, amendment): one SELECT per
  CHUNK mandates (a window function: the latest live payment of each);
- the payments: one multi-row INSERT … ON CONFLICT (instalment_key) DO NOTHING RETURNING id
  per CHUNK (psycopg2's execute_values; the unique key stays the last guard against a
  double debit);
- the payments created, for their events and mails: built from the rows inserted (`lean`,
  the cycle) or one SELECT per CHUNK.
"""
import json
import logging
from types import SimpleNamespace

from psycopg2.extras import execute_values  # multi-row VALUES, no per-row processing
from sqlalchemy import func, inspect, select

from common import clock
from common.ids import new_id
from payments.domain import LIVE, SCHEDULED, day_of, sequence_of
from payments.models import Payment

log = logging.getLogger(__name__)

CHUNK = 1000


def _chunks(items, size=CHUNK):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def existing_keys(session, keys):
    """The instalment keys among `keys` that already have their payment."""
    found = set()
    for chunk in _chunks(keys):
        found.update(session.scalars(select(Payment.instalment_key).where(Payment.instalment_key.in_(chunk))))
    return found


def last_live_accounts(session, merchant_id, mandate_ids):
    """{mandate_id: (iban, bic)} of the latest debit the debtor's bank saw or will see on each
    of the merchant's `mandate_ids` that has one."""
    accounts = {}
    for chunk in _chunks(mandate_ids):
        ranked = (select(Payment.mandate_id, Payment.iban, Payment.bic, func.row_number().over(
            partition_by=Payment.mandate_id, order_by=(Payment.created_at.desc(), Payment.id.desc())).label("rank"))
            .where(Payment.merchant_id == merchant_id, Payment.mandate_id.in_(chunk), Payment.status.in_(LIVE))
            .subquery())
        for row in session.execute(select(ranked.c.mandate_id, ranked.c.iban, ranked.c.bic).where(ranked.c.rank == 1)):
            accounts[row.mandate_id] = (row.iban, row.bic)
    return accounts


def _insert(session, rows):
    """Insert the payments whose instalment key is free; the ids inserted."""
    if not rows:
        return set()
    columns = list(rows[0])
    cursor = session.connection().connection.cursor()
    try:
        inserted = execute_values(
            cursor, f"INSERT INTO payments ({', '.join(columns)}) VALUES %s "
            "ON CONFLICT (instalment_key) DO NOTHING RETURNING id",
            [tuple(row[column] for column in columns) for row in rows], page_size=CHUNK, fetch=True)
    finally:
        cursor.close()
    return {row[0] for row in inserted}


def schedule_due(session, instalments, mandates_by_id, as_of=None, lean=False):
    """One `scheduled` payment per instalment key, ever (instalments as plans.due_instalments
    gives them; mandates as mandates.get_mandate(s) gives them, by id).

    An instalment whose mandate is missing or not active gets no payment. Returns the
    payments created by this call, in the instalments' order: Payment objects, or with
    `lean` plain objects with the same attributes made from the rows inserted (no reading
    back; what events and pre-notifications need)."""
    session.flush()
    held = existing_keys(session, [instalment["key"] for instalment in instalments])
    wanted, seen = [], set(held)
    for instalment in instalments:
        if instalment["key"] in seen:
            continue
        seen.add(instalment["key"])
        mandate = mandates_by_id.get(instalment["mandate_id"])
        if mandate is None or mandate.get("status") != "active":
            log.warning("instalment %s: mandate %s is %s, no payment", instalment["key"],
                        instalment["mandate_id"], (mandate or {}).get("status", "unknown"))
            continue
        wanted.append((instalment, mandate))
    by_merchant = {}
    for instalment, mandate in wanted:
        by_merchant.setdefault(instalment["merchant_id"], set()).add(mandate["id"])
    last_accounts = {}
    for merchant_id, mandate_ids in by_merchant.items():
        last_accounts.update({(merchant_id, mandate_id): account for mandate_id, account
                              in last_live_accounts(session, merchant_id, sorted(mandate_ids)).items()})
    rows, now = [], clock.now()
    for instalment, mandate in wanted:
        merchant_id, mandate_id = instalment["merchant_id"], mandate["id"]
        sequence_type, amendment = sequence_of(mandate, last_accounts.get((merchant_id, mandate_id)),
                                             instalment.get("is_last"))
        payment_id = new_id("PM")
        subscriber = mandate.get("subscriber") or {}
        rows.append(dict(
            id=payment_id, merchant_id=merchant_id, plan_id=instalment.get("plan_id"),
            instalment_key=instalment["key"], sequence_no=instalment.get("sequence_no"),
            mandate_id=mandate_id, subscriber_id=instalment.get("subscriber_id") or mandate.get("subscriber_id"),
            mandate_reference=mandate["reference"], mandate_signed_on=day_of(mandate["signed_at"]),
            debtor_name=subscriber.get("name") or "", debtor_email=subscriber.get("email"),
            iban=mandate["iban"], bic=mandate.get("bic"),
            amendment=json.dumps(amendment) if amendment else None, amount=instalment["amount"],
            currency=instalment.get("currency", "EUR"), label=instalment.get("label"),
            due_date=day_of(instalment["due_date"]), sequence_type=sequence_type,
            end_to_end_id=payment_id, status=SCHEDULED, replay_of=None, attempt=1, automatic=False,
            bank_file_id=None, created_at=now, submitted_at=None, paid_at=None, rejected_at=None,
            cancelled_at=None))
        # the next instalment of this mandate in the page follows this debit
        last_accounts[(merchant_id, mandate_id)] = (mandate["iban"], mandate.get("bic"))
    inserted = _insert(session, rows)
    if lean:
        return [SimpleNamespace(**row) for row in rows if row["id"] in inserted]
    order = [row["id"] for row in rows if row["id"] in inserted]
    loaded = {}
    for chunk in _chunks(order):
        loaded.update((payment.id, payment) for payment in session.scalars(
            select(Payment).where(Payment.id.in_(chunk))))
    return [loaded[payment_id] for payment_id in order]


def reload(session, payments):
    """Read again, CHUNK at a time, payments a commit expired (their events and mails follow);
    plain objects (schedule_due's `lean`) need nothing."""
    ids = [inspect(payment).identity[0] for payment in payments if isinstance(payment, Payment)]
    for chunk in _chunks(ids):
        session.scalars(select(Payment).where(Payment.id.in_(chunk))).all()


_EVENT_COLUMNS = (Payment.merchant_id, Payment.id, Payment.plan_id, Payment.mandate_id, Payment.subscriber_id,
                  Payment.amount, Payment.currency, Payment.due_date, Payment.sequence_type, Payment.end_to_end_id,
                  Payment.status, Payment.replay_of, Payment.attempt, Payment.bank_file_id, Payment.cancelled_at,
                  Payment.rejected_at, Payment.paid_at, Payment.submitted_at, Payment.created_at)


def file_payments(session, bank_file_id):
    """The payments of an outbox file as rows with what their events say (events.payment_event),
    streamed CHUNK at a time: no object per payment."""
    return session.execute(select(*_EVENT_COLUMNS).where(Payment.bank_file_id == bank_file_id)
                           .order_by(Payment.id).execution_options(yield_per=CHUNK))
