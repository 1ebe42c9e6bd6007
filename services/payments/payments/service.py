"""The `payments` service.

Owns: creditor profiles, payments (one per instalment key, ever), pain.008
files in the bank outbox, pain.002 and camt.054 files from the bank inbox,
R-transactions, replays and automatic retries, the ledger (balance, statement),
payouts and their pain.001 files, unmatched bank entries.
Emits: payments.payments_scheduled, payments.payments_submitted, payments.payments_paid,
payments.payments_rejected (a batch each: {event_id, merchant_id, payments: [payment_event,
...]}, at most EVENT_BATCH payments), payments.r_transactions_received (a batch:
{event_id, merchant_id, r_transactions: [...]}), payments.payment_cancelled,
payments.payout_requested, payments.payout_paid (each in the transaction of what it
announces: common.outbox; see payments.events).
Listens to: mandates.mandate_revoked and mandates.mandate_expired (scheduled
payments are cancelled), mandates.mandate_amended (scheduled payments take the
new bank details and the amendment); a redelivered event does nothing twice.
Calls: plans.due_instalments (a page at a time), plans.acknowledge_instalments,
plans.record_collected_many, mandates.get_mandates, mandates.get_mandate,
mandates.record_collections (a bank file's credits EVENT_BATCH at a time).
RPC `payments`: ping, register_creditor, get_creditor, collect, import_inbox,
list_payments_json, get_payment, replay_payment, list_r_transactions_json,
list_unmatched, get_balance, get_statement, statement_page, request_payout (an idempotency key
remembered in rpc_calls), list_payouts.
Every call but collect, import_inbox and list_unmatched takes the caller's
`merchant_id` and every query filters by it.
"""
import logging
from datetime import date
from pathlib import Path

from nameko.events import event_handler
from nameko.rpc import RpcProxy
from nameko.timer import timer
from sqlalchemy.exc import IntegrityError

from common import clock
from common.config import env, var_dir
from common.errors import NotFound
from common.idempotency import first_delivery, remember, remembered, remembered_after_conflict
from common.outbox import Outbox
from common.schemas import dump_page, iso_date, load
from common.service import DebitoService, rpc
from payments import collection, events, inbox, ledger, payments, scheduling
from payments.models import Creditor, Payout, outbox_events, processed_events, rpc_calls
from payments.prenotification import send_prenotification
from contracts.payments import (CreditorIn, CreditorOut, PaymentFiltersIn, PayoutFiltersIn, PayoutIn, PayoutOut,
                              ReplayIn, RTransactionFiltersIn, StatementIn, UnmatchedOut)

log = logging.getLogger(__name__)
INBOX_INTERVAL = float(env("INBOX_INTERVAL", "60"))
COLLECT_PAGE = 2000  # instalments asked of plans at a time by collect
EVENT_BATCH = 1000  # payments per payments_scheduled / payments_submitted event


def bank_outbox():
    return Path(env("BANK_OUTBOX", var_dir() / "bank" / "outbox"))


def bank_inbox():
    return Path(env("BANK_INBOX", var_dir() / "bank" / "inbox"))


class PaymentsService(DebitoService):
    name = "payments"
    dispatch = Outbox(outbox_events)
    plans = RpcProxy("plans")
    mandates = RpcProxy("mandates")

    # --- creditors --------------------------------------------------------

    @rpc
    def register_creditor(self, merchant_id, profile):
        """Create or update the merchant's creditor profile (the gateway calls it)."""
        creditor = payments.register_creditor(self.db, merchant_id, load(CreditorIn, profile))
        self.db.commit()
        return CreditorOut().dump(creditor)

    @rpc
    def get_creditor(self, merchant_id):
        creditor = self.db.get(Creditor, merchant_id)
        if creditor is None:
            raise NotFound(f"no creditor profile for {merchant_id}", {"merchant_id": "not found"})
        return CreditorOut().dump(creditor)

    # --- the cycle --------------------------------------------------------

    @rpc
    def collect(self, as_of_iso):
        """Daily cycle step: schedule and pre-notify what plans issues, submit what is due by
        D-1, import the bank's answers. Running it again for a day does nothing twice."""
        as_of = iso_date(as_of_iso, "as_of")
        scheduled, acknowledgments = 0, []
        # A page of instalments at a time (memory stays flat, each page a few statements), in a
        # pipeline: plans issues page n+1 and mandates reads its mandates while page n is scheduled.
        reply = self.plans.due_instalments.call_async(as_of.isoformat(), COLLECT_PAGE, True)
        instalments = reply.result()
        mandates = self._mandates_of(instalments, wait=False)
        while instalments:
            more = len(instalments) >= COLLECT_PAGE
            if more:  # plans takes plans in id order: the next page starts after this one's last
                reply = self.plans.due_instalments.call_async(as_of.isoformat(), COLLECT_PAGE, True,
                                                              instalments[-1]["plan_id"])
            scheduled += self._schedule_page(instalments, mandates(), as_of, acknowledgments)
            if not more:
                break
            instalments = reply.result()
            mandates = self._mandates_of(instalments, wait=False)
        for acknowledgment in acknowledgments:
            acknowledgment.result()
        seen = set()
        while True:  # then those handed over before whose acknowledgment was lost, if any
            instalments = self.plans.due_instalments(as_of.isoformat(), COLLECT_PAGE)
            keys = [i["key"] for i in instalments]
            scheduled += self._schedule_page(instalments, self._mandates_of(instalments), as_of)
            if len(instalments) < COLLECT_PAGE or seen.issuperset(keys):
                break
            seen.update(keys)
        submissions = collection.submit_due(self.db, as_of, bank_outbox(), announce=self._announce_file)
        self.db.commit()
        ledger.write_unwritten_payouts(self.db, bank_outbox())  # claimed before a crash
        imported = self._import(as_of)
        return {"scheduled": scheduled, "submitted": sum(s.count for s in submissions),
                "files": len(submissions), **imported}

    def _schedule_page(self, instalments, mandates, as_of, acknowledgments=None):
        """Schedule a page of instalments with their events, commit, then tell plans
        (asynchronously when `acknowledgments` collects the replies) and pre-notify the
        debtors; how many were scheduled."""
        created = scheduling.schedule_due(self.db, instalments, mandates, as_of, lean=True)
        self._announce_scheduled(created)
        self.db.commit()
        if instalments:  # after the commit: an instalment lost before it is handed over again
            keys = [i["key"] for i in instalments]
            if acknowledgments is None:
                self.plans.acknowledge_instalments(keys)
            else:
                acknowledgments.append(self.plans.acknowledge_instalments.call_async(keys))
        self._prenotify(created)
        return len(created)

    @timer(interval=INBOX_INTERVAL)
    def import_inbox_regularly(self):
        """The bank may answer at any hour: look into BANK_INBOX between two cycles too."""
        imported = self._import(clock.today())
        if imported.get("imported_files") or imported.get("failed_files"):
            log.info("inbox: %s", imported)

    @rpc
    def import_inbox(self, as_of_iso=None):
        """Import what the bank put into BANK_INBOX (also run by collect)."""
        as_of = iso_date(as_of_iso, "as_of") if as_of_iso else clock.today()
        return self._import(as_of)

    def _mandates_of(self, instalments, wait=True):
        """{mandate_id: mandate or None} of the instalments: one get_mandates call per merchant
        and EVENT_BATCH mandates; with `wait` false, the calls are sent and a function waiting
        for their answers is returned."""
        wanted = {}
        for instalment in instalments:
            wanted.setdefault(instalment["merchant_id"], {}).setdefault(instalment["mandate_id"], None)
        found, replies = {}, []
        for merchant_id, mandate_ids in wanted.items():
            ids = list(mandate_ids)
            found.update(mandate_ids)
            for start in range(0, len(ids), EVENT_BATCH):
                replies.append(self.mandates.get_mandates.call_async(merchant_id, ids[start:start + EVENT_BATCH]))

        def answers():
            for reply in replies:
                found.update((mandate["id"], mandate) for mandate in reply.result())
            return found
        return answers() if wait else answers

    def _announce_scheduled(self, created):
        """The events of payments about to be committed as `scheduled`."""
        events.announce_payments(self.dispatch, "payments_scheduled", created, EVENT_BATCH)

    def _announce_file(self, bank_file):
        """The events of a pain.008 file's payments, about to be committed as written."""
        events.announce_file(self.dispatch, EVENT_BATCH, lambda: scheduling.file_payments(self.db, bank_file.id))

    def _announce_import(self, part):
        """The events of a bank file's import (inbox.Imported), before its commit."""
        events.announce_import(self.dispatch, self.db, part, EVENT_BATCH)

    def _prenotify(self, created):
        """Pre-notification mails of payments just committed as `scheduled`."""
        creditors = {}
        scheduling.reload(self.db, created)  # if the commit expired them: a few queries, not one each
        for payment in created:
            if payment.merchant_id not in creditors:
                creditors[payment.merchant_id] = self.db.get(Creditor, payment.merchant_id)
            try:
                send_prenotification(payment, creditors[payment.merchant_id])
            except Exception:  # noqa: BLE001 - a mail server down must not stop the collection
                log.exception("pre-notification of %s not sent", payment.id)

    def _import(self, as_of):
        report = inbox.import_inbox(self.db, bank_inbox(), as_of, announce=self._announce_import)
        self._record_collected(report.paid)
        by_id = {payment.id: payment for payment in report.rejected}
        retried = self._retry(report.r_transactions, by_id, as_of)
        return {"imported_files": len(report.files), "failed_files": len(report.failed),
                "paid": len(report.paid), "rejected": len(report.rejected),
                "unmatched": len(report.unmatched), "retried": retried}

    def _record_collected(self, paid):
        """Tell plans and mandates what was collected, EVENT_BATCH credits a call each."""
        for start in range(0, len(paid), EVENT_BATCH):
            chunk = paid[start:start + EVENT_BATCH]
            try:
                self.plans.record_collected_many([
                    {"merchant_id": p.merchant_id, "plan_id": p.plan_id, "sequence_no": p.sequence_no}
                    for p in chunk if p.plan_id and p.sequence_no])
                # the collection date is the settlement (due) date, not the day the file was read
                self.mandates.record_collections([
                    {"merchant_id": p.merchant_id, "mandate_id": p.mandate_id, "collected_on": p.due_date.isoformat()}
                    for p in chunk])
            except Exception:  # noqa: BLE001 - the credits are booked; the others catch up on a replay
                log.exception("collection of %d payments from %s not recorded by plans/mandates",
                              len(chunk), chunk[0].id)

    def _retry(self, r_transactions, payments_by_id, as_of):
        """Automatic retries (per merchant, off by default) of the payments just rejected."""
        retried = []
        for r_transaction in r_transactions:
            payment = payments_by_id[r_transaction.payment_id]
            if not collection.should_retry(self.db, payment, r_transaction):
                continue
            try:
                mandate = self.mandates.get_mandate(payment.merchant_id, payment.mandate_id)
                if mandate.get("status") == "active":
                    again = collection.replay(self.db, payment.merchant_id, payment.id, mandate,
                                              as_of=as_of, automatic=True)
                    self._announce_scheduled([again])
                    self.db.commit()
                    retried.append(again)
            except Exception:  # noqa: BLE001 - the reject is imported; the merchant can still replay
                self.db.rollback()
                log.exception("automatic retry of %s not scheduled", payment.id)
        self._prenotify(retried)
        return len(retried)

    # --- reading and replays ----------------------------------------------

    @rpc
    def list_payments_json(self, merchant_id, filters=None):
        """A page of payments as JSON text rendered by PostgreSQL (common.json_pages): the one read
        path of the list, for the API, the dashboard and the exports."""
        filters = load(PaymentFiltersIn, filters or {})
        return payments.list_payments_json(self.db, merchant_id, filters)

    @rpc
    def get_payment(self, merchant_id, payment_id):
        return payments.get_payment(self.db, merchant_id, payment_id)

    @rpc
    def replay_payment(self, merchant_id, payment_id, payload=None):
        """Present a rejected payment again (`{due_date?}`); the new payment's detail."""
        data = load(ReplayIn, payload or {})
        payment = collection.find_payment(self.db, merchant_id, payment_id)
        mandate = self.mandates.get_mandate(merchant_id, payment.mandate_id)
        again = collection.replay(self.db, merchant_id, payment_id, mandate, data.get("due_date"),
                                  clock.today())
        self._announce_scheduled([again])
        self.db.commit()
        self._prenotify([again])
        return payments.payment_detail(self.db, again)

    @rpc
    def list_r_transactions_json(self, merchant_id, filters=None):
        """A page of R-transactions as JSON text rendered by PostgreSQL (common.json_pages): the one
        read path of the list, for the API, the dashboard and the exports."""
        filters = load(RTransactionFiltersIn, filters or {})
        return payments.list_r_transactions_json(self.db, merchant_id, filters)

    @rpc
    def list_unmatched(self, merchant_id=None):
        return UnmatchedOut(many=True).dump(payments.list_unmatched(self.db, merchant_id))

    # --- balance, statement, payouts -------------------------------------

    @rpc
    def get_balance(self, merchant_id, as_of_iso=None):
        """`{balance, available, reserved, transfers_in_progress, refunds_in_progress, currency,
        as_of}` in cents, today unless `as_of_iso`."""
        as_of = iso_date(as_of_iso, "as_of") if as_of_iso else clock.today()
        return ledger.balance(self.db, merchant_id, as_of)

    @rpc
    def get_statement(self, merchant_id, filters=None):
        """`{from, to}` (to: today, from: the first of its month by default)."""
        period = load(StatementIn, filters or {})
        date_to = period.get("to") or clock.today()
        date_from = period.get("from_") or date_to.replace(day=1)
        return ledger.statement(self.db, merchant_id, date_from, date_to)

    @rpc
    def statement_page(self, merchant_id, filters=None):
        """`{from, to, cursor?, limit?, decimal?}`: one keyset page of the statement
        (ledger.statement_page), its rows as CSV lines (`lines`), amounts with the `decimal`
        mark ("," or ".", "," by default); exports page through it, never holding the period.
        With `plan`, where pages of at most `limit` entries can start (ledger.statement_plan):
        pages asked at once."""
        filters = dict(filters or {})
        cursor, limit = filters.pop("cursor", None), filters.pop("limit", ledger.STATEMENT_PAGE_ROWS)
        decimal = filters.pop("decimal", None)  # "," or ".": the lines' decimal mark (None: ",")
        plan = filters.pop("plan", False)  # instead of a page, where pages can start: `{bounds}`
        period = load(StatementIn, filters)
        date_to = period.get("to") or clock.today()
        date_from = period.get("from_") or date_to.replace(day=1)
        if plan:
            return ledger.statement_plan(self.db, merchant_id, date_from, date_to, limit)
        return ledger.statement_page(self.db, merchant_id, date_from, date_to, cursor, limit, decimal)

    @rpc
    def request_payout(self, merchant_id, payload=None, idempotency_key=None):
        """`{amount}` cents, at most `available`: a pain.001 to the merchant's own account. A
        call with the `idempotency_key` of an earlier one (a client's retry, or RabbitMQ
        delivering the request again after a broker restart) answers that call's payout."""
        data = load(PayoutIn, payload or {})
        previous = remembered(self.db, rpc_calls, merchant_id, "request_payout", idempotency_key)
        if previous is not None:
            return PayoutOut().dump(self.db.get(Payout, previous["payout_id"]))

        def announce(payout):  # in the claim's transaction
            self.dispatch("payout_requested", events.payout_event(payout))
            remember(self.db, rpc_calls, merchant_id, "request_payout", idempotency_key, {"payout_id": payout.id})
        try:
            payout = ledger.claim_payout(self.db, merchant_id, data["amount"], clock.today(), announce=announce)
        except IntegrityError:  # the same key's other call claimed first (the creditor's lock orders them)
            previous = remembered_after_conflict(self.db, rpc_calls, merchant_id, "request_payout", idempotency_key)
            return PayoutOut().dump(self.db.get(Payout, previous["payout_id"]))
        try:
            ledger.write_payout(self.db, payout, bank_outbox())
        except Exception:  # noqa: BLE001 - claimed and counted: the next collect writes it
            self.db.rollback()
            log.exception("pain.001 of payout %s not written yet", payout.id)
        return PayoutOut().dump(self.db.get(Payout, payout.id))

    @rpc
    def list_payouts(self, merchant_id, filters=None):
        return dump_page(PayoutOut, ledger.list_payouts(self.db, merchant_id,
                                                        load(PayoutFiltersIn, filters or {})))

    # --- the mandate's life -----------------------------------------------

    def _cancel_for_mandate(self, payload, handler):
        if not first_delivery(self.db, processed_events, payload["event_id"], handler):
            return []
        cancelled = collection.cancel_for_mandate(self.db, payload["merchant_id"], payload["mandate_id"])
        for payment in cancelled:
            self.dispatch("payment_cancelled", events.payment_cancelled(payment, handler))
        self.db.commit()
        return [payment.id for payment in cancelled]

    @event_handler("mandates", "mandate_revoked")
    def on_mandate_revoked(self, payload):
        return self._cancel_for_mandate(payload, "mandate_revoked")

    @event_handler("mandates", "mandate_expired")
    def on_mandate_expired(self, payload):
        return self._cancel_for_mandate(payload, "mandate_expired")

    @event_handler("mandates", "mandate_amended")
    def on_mandate_amended(self, payload):
        if not first_delivery(self.db, processed_events, payload["event_id"], "mandate_amended"):
            return []
        amended = collection.amend_for_mandate(self.db, payload["merchant_id"], payload["mandate_id"], payload)
        self.db.commit()
        return [payment.id for payment in amended]
