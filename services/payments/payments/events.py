"""Payloads of the events `payments` emits (`payments.<name>`): facts, each
with its own `event_id` so that handlers can drop a redelivery.

payment_cancelled (and payment_paid, payment_rejected from a single-payment path): `payment_event`;
payments_scheduled, payments_submitted, payments_paid, payments_rejected: `payments_events`, a
batch of payment_event payloads (each keeping its own event_id) per merchant;
r_transactions_received: `r_transactions_events`, a batch of `r_transaction_received` payloads;
payout_requested, payout_paid: `payout_event`.

A bank file's import announces its paid and rejected payments and its R-transactions in
batches (`announce_import`), the collection its scheduled and submitted payments
(`announce_payments`, `announce_file`). The import's payloads are JSON text written by
`ImportEvents` while the file is applied (one f-string per item, chunk by chunk, beside
PostgreSQL's writes), each item as the payment was when it was decided; the outbox stores
that text as it is. The collection's are built here, by `payments_events`, from the payments
just written (the rows of a file's payments, streamed).
"""
import json
from itertools import chain
from operator import attrgetter

from sqlalchemy import text

from common.idempotency import new_event_id
from common.outbox import JsonText
from common.schemas import to_utc

PAYMENT_EVENTS = {"scheduled": "payment_scheduled", "submitted": "payment_submitted",
                  "paid": "payment_paid", "rejected": "payment_rejected", "cancelled": "payment_cancelled"}


def _instant(value):
    return to_utc(value).isoformat() if value else None


def payment_at(payment):
    """The instant a payment event states: its latest change."""
    return (payment.cancelled_at or payment.rejected_at or payment.paid_at or payment.submitted_at
            or payment.created_at)


def payment_event(payment, event_id=None, **fields):
    return {"event_id": event_id or new_event_id(), "merchant_id": payment.merchant_id, "payment_id": payment.id,
            "plan_id": payment.plan_id, "mandate_id": payment.mandate_id,
            "subscriber_id": payment.subscriber_id, "amount": payment.amount, "currency": payment.currency,
            "due_date": payment.due_date.isoformat(), "sequence_type": payment.sequence_type,
            "end_to_end_id": payment.end_to_end_id, "status": payment.status,
            "replay_of": payment.replay_of, "attempt": payment.attempt,
            "bank_file_id": payment.bank_file_id, "at": _instant(payment_at(payment)), **fields}


def payments_events(payments, size):
    """Batch events of `payments` (any iterable, consumed once): {event_id, merchant_id,
    payments: [payment_event, ...]}, at most `size` payments of one merchant each. Each
    payment's own event_id is the call's random prefix and its rank: unique, and cheaper
    than a uuid4 each."""
    return _batches(payments, size, "payments", payment_event)


def r_transactions_events(r_transactions, payments, size):
    """Batch events of `r_transactions` ({payment id: payment} gives their payments):
    {event_id, merchant_id, r_transactions: [r_transaction_received, ...]}, as payments_events."""
    return _batches(r_transactions, size, "r_transactions",
                    lambda r, event_id: r_transaction_received(r, payments[r.payment_id], event_id))


def _batches(items, size, key, make):
    batches, prefix = {}, new_event_id()
    for rank, item in enumerate(items):
        batch = batches.setdefault(item.merchant_id, [])
        batch.append(make(item, f"{prefix}-{rank}"))
        if len(batch) == size:
            yield {"event_id": new_event_id(), "merchant_id": item.merchant_id, key: batch}
            batches[item.merchant_id] = []
    for merchant_id, batch in batches.items():
        if batch:
            yield {"event_id": new_event_id(), "merchant_id": merchant_id, key: batch}


def r_transaction_received(r_transaction, payment, event_id=None):
    return {"event_id": event_id or new_event_id(), "merchant_id": r_transaction.merchant_id,
            "r_transaction_id": r_transaction.id, "payment_id": r_transaction.payment_id,
            "plan_id": payment.plan_id, "mandate_id": payment.mandate_id,
            "subscriber_id": payment.subscriber_id, "type": r_transaction.type,
            "reason_code": r_transaction.reason_code, "reason": r_transaction.reason,
            "retryable": r_transaction.retryable, "amount": r_transaction.amount,
            "received_on": r_transaction.received_on.isoformat(), "status": r_transaction.status}


def payout_event(payout):
    return {"event_id": new_event_id(), "merchant_id": payout.merchant_id, "payout_id": payout.id,
            "amount": payout.amount, "currency": payout.currency, "status": payout.status,
            "end_to_end_id": payout.end_to_end_id, "paid_on": payout.paid_on.isoformat() if payout.paid_on else None,
            "at": _instant(payout.paid_at or payout.sent_at or payout.created_at)}


def announce_payments(dispatch, event_type, payments, size):
    """Stage `event_type` (payments_scheduled) batch events of `payments` just written."""
    for event in payments_events(payments, size):
        dispatch(event_type, event)


def announce_file(dispatch, size, rows):
    """Stage the payments_submitted batch events of an outbox file's payments, from `rows()`
    (their event columns, streamed)."""
    for event in payments_events(rows(), size):
        dispatch("payments_submitted", event)


# The outbox holds an import's megabytes of JSON for the few seconds before the relay: lz4
# compresses them in about a third of pglz's time (the default), where the server has it.
_LZ4 = text("SELECT set_config('default_toast_compression', 'lz4', true) FROM pg_settings "
            "WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")


def announce_import(dispatch, session, part, size):
    """Stage the events of a bank file's import (inbox.Imported `part`) before its commit:
    payments_paid, payments_rejected and r_transactions_received in batches of `size`, their
    JSON text written while the file was applied (`part.events`, an ImportEvents), stored in
    the outbox as it is; payout_paid one each."""
    built = part.events
    built.build()
    if built.items["payments_rejected"] or built.items["payments_paid"]:
        session.execute(_LZ4)
    for event_type in ("payments_paid", "payments_rejected"):
        for payload in built.batches(event_type, size):
            dispatch(event_type, payload)
    for payout in part.payouts_paid:
        dispatch("payout_paid", payout_event(payout))
    for payload in built.batches("r_transactions_received", size):
        dispatch("r_transactions_received", payload)


# --- the import's payloads as JSON text ------------------------------------------------

_CONTROL = bytes(range(32))  # with the quote and the backslash, what a JSON string cannot hold as it is
_PAYMENT_TEXTS = tuple(map(attrgetter, ("merchant_id", "id", "plan_id", "mandate_id", "subscriber_id", "currency",
                                        "sequence_type", "end_to_end_id", "replay_of", "bank_file_id")))
_R_TRANSACTION_TEXTS = tuple(map(attrgetter, ("merchant_id", "id", "payment_id", "type", "reason_code", "reason",
                                              "status")))
_R_PAYMENT_TEXTS = tuple(map(attrgetter, ("plan_id", "mandate_id", "subscriber_id")))


def _plain(items, fields):
    """True if no text field of `items` needs escaping in JSON: a few scans of them all."""
    joined = "".join(filter(None, chain.from_iterable(map(field, items) for field in fields)))
    if '"' in joined or "\\" in joined:
        return False
    raw = joined.encode()
    return len(raw.translate(None, _CONTROL)) == len(raw)


def _text(value):
    return "null" if value is None else f'"{value}"'


class ImportEvents:
    """The items of a bank file's import events as JSON text, by kind and merchant.
    `paid`, `rejected`, `r_transaction` note a decision as it is taken (a payment's event
    states it as it was then: paid, then rejected later in the file, its paid item says
    `paid`); `build` writes the items noted since the last call (the inbox calls it for
    each chunk it applies); `batches` the events.
    The items are those of payment_event and r_transaction_received, each with the event_id
    `{prefix}-{rank}` as payments_events gives it. One f-string per item; a chunk holding a
    text that needs escaping is written by json.dumps of those builders instead."""

    KINDS = ("payments_paid", "payments_rejected", "r_transactions_received")

    def __init__(self):
        self.prefixes = {kind: new_event_id() for kind in self.KINDS}
        self.ranks = dict.fromkeys(self.KINDS, 0)
        self.items = {kind: {} for kind in self.KINDS}  # kind -> merchant_id -> [item's JSON text]
        self.noted = {kind: [] for kind in self.KINDS}  # decisions not built yet
        self.instants = {}  # datetime -> its text (a file's decisions share one instant)

    def paid(self, payment):
        self.noted["payments_paid"].append((payment, "paid", payment_at(payment)))

    def rejected(self, payment):
        self.noted["payments_rejected"].append((payment, "rejected", payment_at(payment)))

    def r_transaction(self, r_transaction, payment):
        self.noted["r_transactions_received"].append((r_transaction, payment))

    def build(self):
        for kind in ("payments_paid", "payments_rejected"):
            if self.noted[kind]:
                noted, self.noted[kind] = self.noted[kind], []
                self._payments(kind, noted)
        if self.noted["r_transactions_received"]:
            noted, self.noted["r_transactions_received"] = self.noted["r_transactions_received"], []
            self._r_transactions(noted)

    def _instant(self, value):
        text = self.instants.get(value)
        if text is None:
            text = self.instants[value] = _text(_instant(value))
        return text

    def _payments(self, kind, noted):
        prefix, first = self.prefixes[kind], self.ranks[kind]
        self.ranks[kind] += len(noted)
        payments = [p for p, _, _ in noted]
        if _plain(payments, _PAYMENT_TEXTS):
            text, instant = _text, self._instant
            items = [f'{{"event_id":"{prefix}-{rank}","merchant_id":"{p.merchant_id}","payment_id":"{p.id}",'
                     f'"plan_id":{text(p.plan_id)},"mandate_id":"{p.mandate_id}",'
                     f'"subscriber_id":{text(p.subscriber_id)},"amount":{p.amount},"currency":"{p.currency}",'
                     f'"due_date":"{p.due_date.isoformat()}","sequence_type":"{p.sequence_type}",'
                     f'"end_to_end_id":"{p.end_to_end_id}","status":"{status}","replay_of":{text(p.replay_of)},'
                     f'"attempt":{p.attempt},"bank_file_id":{text(p.bank_file_id)},"at":{instant(at)}}}'
                     for rank, (p, status, at) in enumerate(noted, first)]
        else:
            items = [json.dumps(payment_event(p, f"{prefix}-{rank}", status=status, at=_instant(at)),
                                ensure_ascii=False) for rank, (p, status, at) in enumerate(noted, first)]
        self._file(kind, payments, items)

    def _r_transactions(self, noted):
        kind = "r_transactions_received"
        prefix, first = self.prefixes[kind], self.ranks[kind]
        self.ranks[kind] += len(noted)
        r_transactions = [r for r, _ in noted]
        if _plain(r_transactions, _R_TRANSACTION_TEXTS) and _plain([p for _, p in noted], _R_PAYMENT_TEXTS):
            text = _text
            items = [f'{{"event_id":"{prefix}-{rank}","merchant_id":"{r.merchant_id}","r_transaction_id":"{r.id}",'
                     f'"payment_id":"{r.payment_id}","plan_id":{text(p.plan_id)},"mandate_id":"{p.mandate_id}",'
                     f'"subscriber_id":{text(p.subscriber_id)},"type":"{r.type}","reason_code":"{r.reason_code}",'
                     f'"reason":"{r.reason}","retryable":{"true" if r.retryable else "false"},"amount":{r.amount},'
                     f'"received_on":"{r.received_on.isoformat()}","status":"{r.status}"}}'
                     for rank, (r, p) in enumerate(noted, first)]
        else:
            items = [json.dumps(r_transaction_received(r, p, f"{prefix}-{rank}"), ensure_ascii=False)
                     for rank, (r, p) in enumerate(noted, first)]
        self._file(kind, r_transactions, items)

    def _file(self, kind, records, items):
        """Each item under its record's merchant (a file has one, mostly)."""
        by_merchant, merchants = self.items[kind], [record.merchant_id for record in records]
        if len(set(merchants)) == 1:
            by_merchant.setdefault(merchants[0], []).extend(items)
            return
        for merchant_id, item in zip(merchants, items):
            by_merchant.setdefault(merchant_id, []).append(item)

    def batches(self, kind, size):
        """The `kind` events (JsonText): {event_id, merchant_id, payments or r_transactions:
        [...]}, at most `size` items of one merchant each."""
        key = "r_transactions" if kind == "r_transactions_received" else "payments"
        for merchant_id, items in self.items[kind].items():
            merchant = json.dumps(merchant_id, ensure_ascii=False)
            for start in range(0, len(items), size):
                yield JsonText(f'{{"event_id":"{new_event_id()}","merchant_id":{merchant},"{key}":['
                               + ",".join(items[start:start + size]) + "]}")
