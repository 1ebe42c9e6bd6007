"""The `mandates` service.

Owns: subscribers (debtors), mandates, amendments, mandate scans and PDFs and
the 36-month dormancy expiry.
Emits: mandates.subscriber_created, mandates.mandate_signed (imports too),
mandates.mandate_amended, mandates.mandate_revoked, mandates.mandate_expired.
Listens to: nothing.
RPC `mandates`: ping, create_subscriber, list_subscribers, get_subscriber,
import_mandate, sign_mandate, list_mandates_json, get_mandate, get_mandates, get_mandate_scan,
render_mandate_pdf, amend_bank_details, revoke_mandate, record_collection,
record_collections, expire_dormant. Every call but record_collections (whose items
name their merchant) and expire_dormant takes the caller's
`merchant_id` and every query filters by it.
"""
import base64

from sqlalchemy.exc import IntegrityError

from common.errors import Invalid
from common.idempotency import remember, remembered, remembered_after_conflict
from common.outbox import Outbox
from common.service import DebitoService, rpc
from mandates import events, mandates, subscribers
from mandates.models import outbox_events, rpc_calls
from mandates.pdf import render_mandate_pdf
from common.schemas import dump_page, iso_date, load
from contracts.mandates import (BankDetailsIn, MandateDetailOut, MandateFiltersIn, MandateImportIn, MandateSignIn, MandateOut, RevokeIn, SubscriberDetailOut, SubscriberFiltersIn, SubscriberIn, SubscriberOut)


class MandatesService(DebitoService):
    name = "mandates"
    dispatch = Outbox(outbox_events)

    @rpc
    def create_subscriber(self, merchant_id, payload):
        subscriber = subscribers.create_subscriber(self.db, merchant_id, load(SubscriberIn, payload))
        self.dispatch("subscriber_created", events.subscriber_created(subscriber))
        self.db.commit()
        return SubscriberOut().dump(subscriber)

    @rpc
    def list_subscribers(self, merchant_id, filters=None):
        page = subscribers.list_subscribers(self.db, merchant_id, load(SubscriberFiltersIn, filters or {}))
        return dump_page(SubscriberOut, page)

    @rpc
    def get_subscriber(self, merchant_id, subscriber_id):
        return SubscriberDetailOut().dump(subscribers.get_subscriber(self.db, merchant_id, subscriber_id))

    @rpc
    def import_mandate(self, merchant_id, payload, idempotency_key=None):
        """A mandate signed on paper, by phone or on the web; a call with the `idempotency_key`
        of an earlier one (RabbitMQ delivering the request again after a broker restart, a
        retry) answers that call's mandate."""
        data = load(MandateImportIn, payload)
        previous = remembered(self.db, rpc_calls, merchant_id, "import_mandate", idempotency_key)
        if previous is not None:
            return MandateDetailOut().dump(mandates.find_mandate(self.db, merchant_id, previous["mandate_id"]))
        mandate = mandates.import_mandate(self.db, merchant_id, data)
        if "subscriber" in data:
            self.dispatch("subscriber_created", events.subscriber_created(mandate.subscriber))
        self.dispatch("mandate_signed", events.mandate_signed(mandate))
        try:
            remember(self.db, rpc_calls, merchant_id, "import_mandate", idempotency_key, {"mandate_id": mandate.id})
            self.db.commit()
        except IntegrityError:
            previous = remembered_after_conflict(self.db, rpc_calls, merchant_id, "import_mandate", idempotency_key)
            return MandateDetailOut().dump(mandates.find_mandate(self.db, merchant_id, previous["mandate_id"]))
        return MandateDetailOut().dump(mandate)

    @rpc
    def sign_mandate(self, merchant_id, payload):
        """A mandate signed electronically through a signature order; the same order id
        answers the same mandate (and emits nothing the second time)."""
        mandate, created, subscriber = mandates.sign_mandate(self.db, merchant_id,
                                                             load(MandateSignIn, payload))
        if subscriber is not None:
            self.dispatch("subscriber_created", events.subscriber_created(subscriber))
        if created:
            self.dispatch("mandate_signed", events.mandate_signed(mandate))
        self.db.commit()
        return MandateDetailOut().dump(mandate)

    @rpc
    def list_mandates_json(self, merchant_id, filters=None):
        """A page of mandates as JSON text rendered by PostgreSQL (common.json_pages): the one read
        path of the list, for the API, the dashboard and the exports."""
        filters = load(MandateFiltersIn, filters or {})
        return mandates.list_mandates_json(self.db, merchant_id, filters)

    @rpc
    def get_mandate(self, merchant_id, mandate_id):
        return MandateDetailOut().dump(mandates.get_mandate(self.db, merchant_id, mandate_id))

    @rpc
    def get_mandates(self, merchant_id, mandate_ids):
        """What a debit needs of each of the merchant's mandates among `mandate_ids` (unknown
        ids are left out; see mandates.debit_views): the collection cycle asks for a page of
        instalments' mandates at once."""
        return mandates.debit_views(self.db, merchant_id, mandate_ids)

    @rpc
    def get_mandate_scan(self, merchant_id, mandate_id):
        mandate, content = mandates.get_scan(self.db, merchant_id, mandate_id)
        return {"filename": mandate.scan_filename, "content_type": mandate.scan_content_type,
                "content_base64": base64.b64encode(content).decode("ascii")}

    @rpc
    def render_mandate_pdf(self, merchant_id, mandate_id, creditor, lang="fr"):
        """The mandate as a PDF, base64 text; `creditor` = {name, address, creditor_id}."""
        if lang not in ("fr", "en"):
            raise Invalid("lang: fr or en", {"lang": "fr or en"})
        mandate = MandateDetailOut().dump(mandates.get_mandate(self.db, merchant_id, mandate_id))
        return base64.b64encode(render_mandate_pdf(mandate, creditor, lang)).decode("ascii")

    @rpc
    def amend_bank_details(self, merchant_id, mandate_id, payload):
        mandate, amendment, same_bank = mandates.amend_bank_details(
            self.db, merchant_id, mandate_id, load(BankDetailsIn, payload))
        self.dispatch("mandate_amended", events.mandate_amended(mandate, amendment, same_bank))
        self.db.commit()
        return MandateDetailOut().dump(mandate)

    @rpc
    def revoke_mandate(self, merchant_id, mandate_id, payload=None):
        mandate = mandates.revoke_mandate(self.db, merchant_id, mandate_id, load(RevokeIn, payload or {}))
        self.dispatch("mandate_revoked", events.mandate_revoked(mandate))
        self.db.commit()
        return MandateDetailOut().dump(mandate)

    @rpc
    def record_collection(self, merchant_id, mandate_id, collected_on_iso):
        mandate = mandates.record_collection(self.db, merchant_id, mandate_id,
                                             iso_date(collected_on_iso, "collected_on"))
        self.db.commit()
        return MandateOut().dump(mandate)

    @rpc
    def record_collections(self, items):
        """record_collection for a bank file's credits at once: `[{merchant_id, mandate_id,
        collected_on}]` (payments calls it; each item names its merchant)."""
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise Invalid("items: a list of {merchant_id, mandate_id, collected_on}", {"items": "a list of objects"})
        recorded, unknown = mandates.record_collections(self.db, [
            dict(item, collected_on=iso_date(item.get("collected_on"), "collected_on")) for item in items])
        self.db.commit()
        return {"recorded": recorded, "unknown": unknown}

    @rpc
    def expire_dormant(self, as_of_iso):
        """Daily cycle step: mandates without a collection for 36 months on `as_of` expire."""
        as_of, expired = iso_date(as_of_iso, "as_of"), 0
        while batch := mandates.expire_dormant(self.db, as_of):
            for mandate in batch:  # each batch and its events in one transaction
                self.dispatch("mandate_expired", events.mandate_expired(mandate))
            self.db.commit()
            expired += len(batch)
        return {"expired": expired}
