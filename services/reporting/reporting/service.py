"""The `reporting` service.

Owns: read models fed by every service's events: `facts` (every event
received, append-only, the source of a rebuild), the overview counters and
the daily figures of the last 90 days (collected, rejected, signed, paid out);
export jobs and their CSV files (reporting.exports).
Emits: reporting.export_requested (to itself: the export runs outside the RPC).
Listens to: mandates.mandate_signed, mandate_revoked, mandate_expired;
plans.plan_created, plan_cancelled, plan_completed; payments.payment_paid,
payment_rejected, r_transaction_received (single events of earlier versions), payout_paid;
payments.payments_scheduled, payments_submitted, payments_paid, payments_rejected and
r_transactions_received (batches: one fact per item, named as the single event, all
stored and applied by figures.record_batch). Each event is stored and applied in one transaction; a
redelivered event changes nothing.
reporting.export_requested: runs the job if it is still pending.
RPC `reporting`: ping, overview(merchant_id, as_of_iso=None), rebuild(),
create_export(merchant_id, payload), get_export(merchant_id, export_id),
read_export(merchant_id, export_id, offset, size), cleanup_exports(older_than_hours=None).
A timer (EXPORT_CLEANUP_INTERVAL seconds) deletes exports older than EXPORT_RETENTION_HOURS.
Every call but rebuild takes the caller's `merchant_id` and every query
filters by it. Which day each fact counts on: see reporting.figures.
"""
import base64
import logging

from nameko.events import event_handler
from nameko.rpc import RpcProxy
from nameko.timer import timer

from common import clock
from common.config import env
from common.idempotency import first_delivery
from common.outbox import Outbox
from common.schemas import iso_date
from common.service import DebitoService, rpc
from reporting import events, exports, figures
from reporting.models import outbox_events, processed_events

log = logging.getLogger(__name__)


class ReportingService(DebitoService):
    name = "reporting"

    dispatch = Outbox(outbox_events)
    mandates = RpcProxy("mandates")
    plans = RpcProxy("plans")
    payments = RpcProxy("payments")
    signing = RpcProxy("signing")  # the signature-orders export

    def _record(self, service, event, payload):
        """True when the event was new and is now counted."""
        if not first_delivery(self.db, processed_events, payload["event_id"], f"{service}.{event}"):
            return False
        fact = figures.record(self.db, service, event, payload)
        self.db.commit()
        return fact is not None

    def _record_batch(self, service, event, name, payload, items="payments"):
        """A batch event: its `items` stored as `service.name` facts; how many were new."""
        if not first_delivery(self.db, processed_events, payload["event_id"], f"{service}.{event}"):
            return 0
        stored = figures.record_batch(self.db, service, name, payload[items])
        self.db.commit()
        return stored

    @rpc
    def overview(self, merchant_id, as_of_iso=None):
        as_of = iso_date(as_of_iso, "as_of") if as_of_iso else clock.today()
        return figures.overview(self.db, merchant_id, as_of)

    @rpc
    def rebuild(self):
        """Recompute the figures from every stored fact (`debito reporting rebuild`)."""
        report = figures.rebuild(self.db)
        self.db.commit()
        return report

    @event_handler("mandates", "mandate_signed")
    def on_mandate_signed(self, payload):
        return self._record("mandates", "mandate_signed", payload)

    @event_handler("mandates", "mandate_revoked")
    def on_mandate_revoked(self, payload):
        return self._record("mandates", "mandate_revoked", payload)

    @event_handler("mandates", "mandate_expired")
    def on_mandate_expired(self, payload):
        return self._record("mandates", "mandate_expired", payload)

    @event_handler("plans", "plan_created")
    def on_plan_created(self, payload):
        return self._record("plans", "plan_created", payload)

    @event_handler("plans", "plan_cancelled")
    def on_plan_cancelled(self, payload):
        return self._record("plans", "plan_cancelled", payload)

    @event_handler("plans", "plan_completed")
    def on_plan_completed(self, payload):
        return self._record("plans", "plan_completed", payload)

    @event_handler("payments", "payments_scheduled")
    def on_payments_scheduled(self, payload):
        return self._record_batch("payments", "payments_scheduled", "payment_scheduled", payload)

    @event_handler("payments", "payments_submitted")
    def on_payments_submitted(self, payload):
        return self._record_batch("payments", "payments_submitted", "payment_submitted", payload)

    @event_handler("payments", "payments_paid")
    def on_payments_paid(self, payload):
        return self._record_batch("payments", "payments_paid", "payment_paid", payload)

    @event_handler("payments", "payments_rejected")
    def on_payments_rejected(self, payload):
        return self._record_batch("payments", "payments_rejected", "payment_rejected", payload)

    @event_handler("payments", "r_transactions_received")
    def on_r_transactions_received(self, payload):
        return self._record_batch("payments", "r_transactions_received", "r_transaction_received", payload,
                                  "r_transactions")

    @event_handler("payments", "payment_paid")
    def on_payment_paid(self, payload):
        return self._record("payments", "payment_paid", payload)

    @event_handler("payments", "payment_rejected")
    def on_payment_rejected(self, payload):
        return self._record("payments", "payment_rejected", payload)

    @event_handler("payments", "r_transaction_received")
    def on_r_transaction_received(self, payload):
        return self._record("payments", "r_transaction_received", payload)

    @event_handler("payments", "payout_paid")
    def on_payout_paid(self, payload):
        return self._record("payments", "payout_paid", payload)

    # --- export jobs ----------------------------------------------------------

    @rpc
    def create_export(self, merchant_id, payload=None):
        job = exports.create_export(self.db, merchant_id, payload)
        self.dispatch("export_requested", events.export_requested(job.id, merchant_id))
        self.db.commit()
        return exports.dump(job)

    @rpc
    def get_export(self, merchant_id, export_id):
        return exports.dump(exports.get_export(self.db, merchant_id, export_id))

    @rpc
    def read_export(self, merchant_id, export_id, offset=0, size=exports.CHUNK_MAX):
        """A chunk of a done export's file, so the gateway needs no shared disk."""
        content, eof = exports.read_export(self.db, merchant_id, export_id, offset, size)
        return {"content_base64": base64.b64encode(content).decode("ascii"), "eof": eof}

    @rpc
    def cleanup_exports(self, older_than_hours=None):
        hours = exports.retention_hours() if older_than_hours is None else older_than_hours
        deleted = exports.cleanup_exports(self.db, hours)
        self.db.commit()
        return {"deleted": deleted}

    @timer(interval=int(env("EXPORT_CLEANUP_INTERVAL", "3600")))
    def cleanup_old_exports(self):
        return self.cleanup_exports()

    @timer(interval=int(env("EXPORT_STALL_CHECK_INTERVAL", "60")))
    def resume_stalled_exports(self):
        """A job whose worker was killed mid-file is started again, from its first row."""
        stalled = exports.resume_stalled(self.db, int(env("EXPORT_STALL_SECONDS", "120")))
        for event in stalled:
            log.warning("export %s stalled (its worker died): started again", event["export_id"])
            self.dispatch("export_requested", event)
        self.db.commit()
        return [event["export_id"] for event in stalled]

    @event_handler("reporting", "export_requested")
    def on_export_requested(self, payload):
        job = exports.get_export(self.db, payload["merchant_id"], payload["export_id"])
        section = exports.SECTIONS[job.section]
        source = getattr(getattr(self, section.service), section.method)
        # the statement asks for its next page before writing one: sent at once (call_async)
        job = exports.run_export(self.db, job, lambda filters: source(job.merchant_id, filters),
                                 start_page=lambda filters: source.call_async(job.merchant_id, filters))
        return job.status
