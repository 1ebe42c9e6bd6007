"""Mandates: import of a signed mandate, search, amendment, revocation,
collections. Plain functions taking a session; the caller commits."""
from datetime import datetime, time, timezone

from dateutil.relativedelta import relativedelta
from schwifty import IBAN
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, selectinload

from common import clock
from common.errors import Conflict, Invalid, NotFound
from common.ids import new_id
from common.json_pages import json_page
from common.schemas import to_utc
from common.sepa import bic_from_iban, generate_umr
from common.database import ListQuery
from mandates.models import Mandate, MandateAmendment, MandateScan, Subscriber
from mandates.subscribers import contains, create_subscriber, find_subscriber, searchable, starts_with
from contracts.mandates import MandateListItemOut

EVIDENCE_KEYS = ("signed_at", "ip_address", "user_agent", "phone", "order_id", "document_hash")
DORMANCY = relativedelta(months=36)  # SDD Core rulebook: a mandate unused for 36 months lapses


def dormant_on(mandate):
    """The day a mandate expires if nothing is collected before (a 29 Feb start clamps to 28 Feb)."""
    anchor = mandate.last_collected_on or mandate.signed_at.date()
    return anchor + DORMANCY


def import_mandate(session, merchant_id, data):
    """An already signed mandate (MandateImportIn data), active at once."""
    now = clock.now()
    if data["signed_at"] > now:
        raise Invalid("signed_at: the signature date is in the future",
                      {"signed_at": "must not be in the future"})
    if "subscriber" in data:
        try:
            subscriber = create_subscriber(session, merchant_id, data["subscriber"])
        except Conflict as error:
            raise Conflict(error.message, {"subscriber": error.fields}) from None
    else:
        subscriber = find_subscriber(session, merchant_id, data["subscriber_id"])
    reference = data.get("reference") or _free_reference(session, merchant_id)
    if _reference_taken(session, merchant_id, reference):
        raise _taken(reference)
    mandate = Mandate(
        id=new_id("MD"), merchant_id=merchant_id, subscriber=subscriber, reference=reference,
        iban=data["iban"], bic=data.get("bic") or bic_from_iban(data["iban"]),
        signature_method=data["signature_method"], signed_at=data["signed_at"],
        signed_place=data.get("signed_place"), sequence=data["sequence"], status="active",
        created_at=now)
    mandate.dormant_on = dormant_on(mandate)
    scan = data.get("scan")
    if scan:
        mandate.scan_filename, mandate.scan_content_type = scan["filename"], scan["content_type"]
    session.add(mandate)
    try:
        session.flush()
    except IntegrityError:  # a concurrent import took the same reference
        raise _taken(reference) from None
    if scan:
        session.add(MandateScan(mandate_id=mandate.id, merchant_id=merchant_id, content=scan["content"]))
        session.flush()
    return mandate


def sign_mandate(session, merchant_id, data):
    """A mandate signed electronically through a signature order (MandateSignIn data),
    active at once, with its evidence. Idempotent on the order id.

    Returns (mandate, created, the subscriber it created or None)."""
    evidence = {key: data["evidence"].get(key) for key in EVIDENCE_KEYS}  # every key, null when unknown
    order_id = evidence["order_id"]
    existing = _signed_by_order(session, merchant_id, order_id)
    if existing is not None:
        return existing, False, None
    created = None
    if "subscriber" in data:
        # the order was made before this customer reference existed, maybe: it is the same customer
        reference = data["subscriber"]["customer_reference"]
        subscriber = _subscriber_by_reference(session, merchant_id, reference)
        if subscriber is None:
            try:
                with session.begin_nested():
                    subscriber = created = create_subscriber(session, merchant_id, data["subscriber"])
            except Conflict:  # a concurrent call (maybe for this very order) created it first
                existing = _signed_by_order(session, merchant_id, order_id)
                if existing is not None:
                    return existing, False, None
                subscriber = _subscriber_by_reference(session, merchant_id, reference)
    else:
        subscriber = find_subscriber(session, merchant_id, data["subscriber_id"])
    signed_at = evidence["signed_at"]
    evidence["signed_at"] = signed_at.isoformat()
    mandate = Mandate(
        id=new_id("MD"), merchant_id=merchant_id, subscriber=subscriber,
        reference=_free_reference(session, merchant_id), iban=data["iban"],
        bic=data.get("bic") or bic_from_iban(data["iban"]), signature_method="electronic",
        signed_at=signed_at, sequence=data["sequence"], status="active", created_at=clock.now(),
        evidence=evidence, signing_order_id=order_id)
    mandate.dormant_on = dormant_on(mandate)
    try:
        with session.begin_nested():  # added inside: begin_nested flushes what is pending first
            session.add(mandate)
            session.flush()
    except IntegrityError:  # a concurrent call for the same order won: answer its mandate
        existing = _signed_by_order(session, merchant_id, order_id)
        if existing is None:
            raise
        return existing, False, None
    return mandate, True, created


def _subscriber_by_reference(session, merchant_id, customer_reference):
    return session.scalar(select(Subscriber).where(
        Subscriber.merchant_id == merchant_id, Subscriber.customer_reference == customer_reference))


def _signed_by_order(session, merchant_id, order_id):
    return session.scalar(select(Mandate).where(
        Mandate.merchant_id == merchant_id, Mandate.signing_order_id == order_id)
        .options(selectinload(Mandate.subscriber), selectinload(Mandate.amendments)))


def _reference_taken(session, merchant_id, reference):
    return session.scalar(select(Mandate.id).where(
        Mandate.merchant_id == merchant_id, Mandate.reference == reference)) is not None


def _free_reference(session, merchant_id):
    while True:  # 50 random bits: a second round is already a curiosity
        reference = generate_umr()
        if not _reference_taken(session, merchant_id, reference):
            return reference


def _taken(reference):
    return Conflict(f"mandate reference {reference!r} is already used",
                    {"reference": "already used by another mandate"})


def find_mandate(session, merchant_id, mandate_id, *options):
    mandate = session.scalar(select(Mandate).where(
        Mandate.merchant_id == merchant_id, Mandate.id == mandate_id).options(*options))
    if mandate is None:
        raise NotFound(f"no mandate {mandate_id}", {"mandate_id": "not found"})
    return mandate


def get_mandate(session, merchant_id, mandate_id):
    """The mandate with its subscriber and amendments."""
    return find_mandate(session, merchant_id, mandate_id,
                        selectinload(Mandate.subscriber), selectinload(Mandate.amendments))


def debit_views(session, merchant_id, mandate_ids):
    """What a debit needs of each of the merchant's mandates among `mandate_ids` (unknown ids
    are left out): {id, subscriber_id, status, reference, iban, bic, sequence, signed_at,
    subscriber: {name, email}}. Two queries by primary key, plain rows, no schema per row:
    the collection cycle asks for a page of thousands at a time."""
    rows = session.execute(
        select(Mandate.id, Mandate.subscriber_id, Mandate.status, Mandate.reference, Mandate.iban, Mandate.bic,
               Mandate.sequence, Mandate.signed_at)
        .where(Mandate.merchant_id == merchant_id, Mandate.id.in_(list(mandate_ids))).order_by(Mandate.id)).all()
    # apart, by primary key: joined, the planner hashes every subscriber of the merchant
    people = {row.id: row for row in session.execute(
        select(Subscriber.id, Subscriber.name, Subscriber.email).where(
            Subscriber.merchant_id == merchant_id, Subscriber.id.in_({row.subscriber_id for row in rows})))}
    return [{"id": row.id, "subscriber_id": row.subscriber_id, "status": row.status, "reference": row.reference,
             "iban": row.iban, "bic": row.bic, "sequence": row.sequence,
             "signed_at": to_utc(row.signed_at).isoformat() if row.signed_at else None,
             "subscriber": {"name": people[row.subscriber_id].name, "email": people[row.subscriber_id].email}
             if row.subscriber_id in people else {}} for row in rows]


def get_scan(session, merchant_id, mandate_id):
    """(mandate, bytes) of a mandate's scan; NotFound when it has none."""
    mandate = find_mandate(session, merchant_id, mandate_id)
    scan = session.get(MandateScan, mandate.id)
    if scan is None:
        raise NotFound(f"mandate {mandate_id} has no scan", {"scan": "not found"})
    return mandate, scan.content


def list_mandates_json(session, merchant_id, filters):
    """A keyset page of mandates, newest first (MandateFiltersIn data), each with its subscriber's
    name and reference, as JSON text (common.json_pages): the list's one read path."""
    return json_page(session, mandates_query(merchant_id, filters), Mandate.id, filters, MandateListItemOut,
                     ("mandates t", "subscribers s", "s.id = t.subscriber_id"),
                     {"customer_reference": "s.customer_reference", "name": "s.name",
                      "has_scan": "t.scan_filename IS NOT NULL"})


def mandates_query(merchant_id, filters):
    """The list's query (a ListQuery), each mandate with its subscriber."""
    params = {"merchant_id": merchant_id}
    if filters.get("customer_reference"):
        # exact or prefix: "C-10" finds C-10 and C-1001 (varchar_pattern_ops index on PostgreSQL)
        params["customer_reference"] = starts_with(filters["customer_reference"])
    params.update((name, filters[name]) for name in ("reference", "status", "subscriber_id") if filters.get(name))
    if filters.get("signed_from"):
        params["signed_from"] = _start_of(filters["signed_from"])
    if filters.get("signed_to"):
        params["signed_to"] = _start_of(filters["signed_to"] + relativedelta(days=1))
    if filters.get("q"):
        params["q"] = contains(searchable(filters["q"]))
    shape = tuple(params)

    def make():
        query = (select(Mandate).join(Mandate.subscriber).options(contains_eager(Mandate.subscriber))
                 .where(Mandate.merchant_id == bindparam("merchant_id"),
                        Subscriber.merchant_id == bindparam("merchant_id")))
        if "customer_reference" in shape:
            query = query.where(Subscriber.customer_reference.like(bindparam("customer_reference"), escape="\\"))
        for name in ("reference", "status", "subscriber_id"):
            if name in shape:
                query = query.where(getattr(Mandate, name) == bindparam(name))
        if "signed_from" in shape:
            query = query.where(Mandate.signed_at >= bindparam("signed_from"))
        if "signed_to" in shape:
            query = query.where(Mandate.signed_at < bindparam("signed_to"))
        if "q" in shape:
            query = query.where(Subscriber.search_text.like(bindparam("q"), escape="\\"))
        return query
    return ListQuery(("mandates", shape), params, make)


def _start_of(day):
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def same_bank(old_iban, old_bic, new_iban, new_bic):
    """Whether the debtor stays at the same bank (else the next debit says SMNDA)."""
    if old_bic and new_bic:
        return old_bic[:8] == new_bic[:8]
    old, new = IBAN(old_iban), IBAN(new_iban)
    return (old.country_code, old.bank_code) == (new.country_code, new.bank_code)


def amend_bank_details(session, merchant_id, mandate_id, data):
    """New IBAN/BIC (BankDetailsIn data) on an active mandate, the old ones kept in its history.

    Returns (mandate, amendment, same_bank)."""
    mandate = find_mandate(session, merchant_id, mandate_id, selectinload(Mandate.amendments))
    if mandate.status != "active":
        raise Conflict(f"mandate {mandate_id} is {mandate.status}: its bank details cannot change",
                       {"status": mandate.status})
    new_iban = data["iban"]
    new_bic = data.get("bic") or bic_from_iban(new_iban)
    if new_iban == mandate.iban:
        raise Invalid("iban: the mandate already has these bank details",
                      {"iban": "same as the current bank details"})
    amendment = MandateAmendment(
        id=new_id("MA"), merchant_id=merchant_id, at=clock.now(), old_iban=mandate.iban,
        new_iban=new_iban, old_bic=mandate.bic, new_bic=new_bic, applied_to_debit=False)
    mandate.amendments.append(amendment)
    unchanged_bank = same_bank(mandate.iban, mandate.bic, new_iban, new_bic)
    mandate.iban, mandate.bic = new_iban, new_bic
    session.flush()
    return mandate, amendment, unchanged_bank


def revoke_mandate(session, merchant_id, mandate_id, data):
    """Revoke a mandate (RevokeIn data); Conflict when it is already revoked or expired."""
    mandate = find_mandate(session, merchant_id, mandate_id)
    if mandate.status in ("revoked", "expired", "failed"):
        raise Conflict(f"mandate {mandate_id} is already {mandate.status}", {"status": mandate.status})
    mandate.status, mandate.revoked_at = "revoked", clock.now()
    mandate.revocation_reason = data.get("reason")
    session.flush()
    return mandate


def record_collection(session, merchant_id, mandate_id, collected_on):
    """A debit was collected on `collected_on`: the dormancy clock restarts (never moves back)."""
    mandate = find_mandate(session, merchant_id, mandate_id)
    if mandate.last_collected_on is None or collected_on > mandate.last_collected_on:
        mandate.last_collected_on = collected_on
        mandate.dormant_on = dormant_on(mandate)
        session.flush()
    return mandate


def record_collections(session, items):
    """record_collection for each `{merchant_id, mandate_id, collected_on}` (a date), the
    latest date of each mandate once, mandates in id order. Returns (recorded, unknown items)."""
    latest = {}
    for item in items:
        key = (item["merchant_id"], item["mandate_id"])
        if key not in latest or item["collected_on"] > latest[key]["collected_on"]:
            latest[key] = item
    recorded, unknown = 0, []
    for (merchant_id, mandate_id), item in sorted(latest.items(), key=lambda pair: pair[0][1]):
        try:
            record_collection(session, merchant_id, mandate_id, item["collected_on"])
            recorded += 1
        except NotFound:
            unknown.append(item)
    return recorded, unknown


def expire_dormant(session, as_of, batch_size=500):
    """One batch of active mandates (all merchants) with no collection for 36 months on `as_of`.

    Returns the mandates it expired; call again until it returns none."""
    due = session.scalars(
        select(Mandate).where(Mandate.status == "active", Mandate.dormant_on <= as_of)
        .order_by(Mandate.id).limit(batch_size).with_for_update(skip_locked=True)).all()
    now = clock.now()
    for mandate in due:
        mandate.status, mandate.expired_at = "expired", now
    session.flush()
    return due
