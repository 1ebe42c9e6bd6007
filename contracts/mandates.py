"""The wire format of the `mandates` RPCs: input schemas that refuse unknown
fields (a field sent as null counts as left out, spec §6), output schemas with
ISO dates and UTC instants."""
import base64
import binascii
from datetime import date, datetime, time, timezone

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from common.schemas import In, Identifier, Instant, Phone, StrictBool, Text, to_utc
from common.sepa import validate_bic, validate_iban, validate_umr

IMPORT_METHODS = ("paper", "phone", "web")
SEQUENCES = ("recurrent", "one_off")
STATUSES = ("pending_signature", "active", "revoked", "expired", "failed")

MAX_SCAN_BYTES = 10 * 1024 * 1024
# Sniffed from the bytes, never trusted from the file name.
SCAN_SIGNATURES = ((b"%PDF-", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"),
                   (b"\xff\xd8\xff", "image/jpeg"))


# --- fields -----------------------------------------------------------------

def Iban(**kwargs):
    return Identifier(validate_iban, **kwargs)


def Bic(**kwargs):
    return Identifier(validate_bic, **kwargs)


def Umr(**kwargs):
    return Identifier(validate_umr, **kwargs)


class SignedAt(fields.String):
    """An ISO date (taken as 00:00 UTC) or instant (naive means UTC)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            if len(text) == 10:
                return datetime.combine(date.fromisoformat(text), time(0), tzinfo=timezone.utc)
            return to_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            raise ValidationError("an ISO date (YYYY-MM-DD) or instant") from None


class Scan(fields.Field):
    """`{filename, content_base64}`: a PDF, PNG or JPEG of at most 10 MB."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict) or set(value) != {"filename", "content_base64"}:
            raise ValidationError("an object with filename and content_base64")
        filename, encoded = value["filename"], value["content_base64"]
        if not isinstance(filename, str) or not filename.strip() or not isinstance(encoded, str):
            raise ValidationError("an object with filename and content_base64")
        if len(encoded) > MAX_SCAN_BYTES * 4 // 3 + 4:
            raise ValidationError("the scan is larger than 10 MB")
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("content_base64 is not valid base64") from None
        if len(content) > MAX_SCAN_BYTES:
            raise ValidationError("the scan is larger than 10 MB")
        content_type = next((kind for magic, kind in SCAN_SIGNATURES if content.startswith(magic)), None)
        if content_type is None:
            raise ValidationError("the scan must be a PDF, PNG or JPEG file")
        return {"filename": filename.strip()[-255:], "content_type": content_type, "content": content}


# --- input ------------------------------------------------------------------

class SubscriberIn(In):
    customer_reference = Text(required=True, validate=validate.Length(max=100))
    name = Text(required=True, validate=validate.Length(max=140))
    email = fields.Email(validate=validate.Length(max=254))
    phone = Phone()
    address = Text(validate=validate.Length(max=500))


class MandateImportIn(In):
    subscriber_id = fields.String()
    subscriber = fields.Nested(SubscriberIn)
    reference = Umr()
    iban = Iban(required=True)
    bic = Bic()
    signature_method = fields.String(required=True, validate=validate.OneOf(
        IMPORT_METHODS, error="an imported mandate is signed on paper, by phone or on the web "
                              "(paper, phone, web)"))
    signed_at = SignedAt(required=True)
    signed_place = Text(validate=validate.Length(max=140))
    sequence = fields.String(load_default="recurrent", validate=validate.OneOf(SEQUENCES))
    scan = Scan()

    @validates_schema
    def one_subscriber_and_place(self, data, **kwargs):
        if ("subscriber_id" in data) == ("subscriber" in data):
            raise ValidationError("give either subscriber_id or subscriber", "subscriber_id")
        if data.get("signature_method") == "paper" and not data.get("signed_place"):
            raise ValidationError("a paper mandate says where it was signed", "signed_place")


class EvidenceIn(In):
    """What proves an electronic signature (kept on the mandate, shown on its page and PDF)."""
    signed_at = SignedAt(required=True)
    ip_address = Text(validate=validate.Length(max=64))
    user_agent = fields.String(validate=validate.Length(max=1000))
    phone = Phone(required=True)
    order_id = Text(required=True, validate=validate.Length(max=32))
    document_hash = fields.String(required=True, validate=validate.Regexp(
        r"^sha256:[0-9a-f]{64}$", error="sha256:<64 hex digits>"))


class MandateSignIn(In):
    """A mandate signed electronically through a signature order (the signing service)."""
    subscriber_id = fields.String()
    subscriber = fields.Nested(SubscriberIn)
    iban = Iban(required=True)
    bic = Bic()
    sequence = fields.String(load_default="recurrent", validate=validate.OneOf(SEQUENCES))
    signature_method = fields.String(load_default="electronic", validate=validate.Equal(
        "electronic", error="a mandate signed through an order is electronic"))
    evidence = fields.Nested(EvidenceIn, required=True)

    @validates_schema
    def one_subscriber(self, data, **kwargs):
        if ("subscriber_id" in data) == ("subscriber" in data):
            raise ValidationError("give either subscriber_id or subscriber", "subscriber_id")


class BankDetailsIn(In):
    iban = Iban(required=True)
    bic = Bic()


class RevokeIn(In):
    reason = Text(validate=validate.Length(max=140))


class PageIn(In):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class SubscriberFiltersIn(PageIn):
    q = Text()
    cursor = fields.String(validate=validate.Regexp(r"^SB[0-9A-Z]{1,30}$", error="not a valid cursor"))


class MandateFiltersIn(PageIn):
    customer_reference = Text()
    reference = Text()
    status = fields.String(validate=validate.OneOf(STATUSES))
    signed_from = fields.Date()
    signed_to = fields.Date()
    q = Text()
    subscriber_id = fields.String()
    cursor = fields.String(validate=validate.Regexp(r"^MD[0-9A-Z]{1,30}$", error="not a valid cursor"))

    @validates_schema
    def period(self, data, **kwargs):
        if data.get("signed_from") and data.get("signed_to") and data["signed_to"] < data["signed_from"]:
            raise ValidationError("signed_to is before signed_from", "signed_to")


# --- output -----------------------------------------------------------------

class SubscriberOut(Schema):
    id = fields.String()
    customer_reference = fields.String()
    name = fields.String()
    email = fields.String()
    phone = fields.String()
    address = fields.String()
    created_at = Instant()


class MandateOut(Schema):
    id = fields.String()
    subscriber_id = fields.String()
    reference = fields.String()
    iban = fields.String()
    bic = fields.String()
    signature_method = fields.String()
    signed_at = Instant()
    signed_place = fields.String()
    sequence = fields.String()
    status = fields.String()
    last_collected_on = fields.Date()
    revoked_at = Instant()
    revocation_reason = fields.String()
    expired_at = Instant()
    created_at = Instant()
    has_scan = fields.Boolean()


class MandateListItemOut(MandateOut):
    customer_reference = fields.Function(lambda m: m.subscriber.customer_reference)
    name = fields.Function(lambda m: m.subscriber.name)


class AmendmentOut(Schema):
    id = fields.String()
    at = Instant()
    old_iban = fields.String()
    new_iban = fields.String()
    old_bic = fields.String()
    new_bic = fields.String()
    applied_to_debit = fields.Boolean()


class MandateDetailOut(MandateOut):
    subscriber = fields.Nested(SubscriberOut)
    amendments = fields.List(fields.Nested(AmendmentOut))
    evidence = fields.Raw()  # null for imported mandates


class SubscriberDetailOut(SubscriberOut):
    mandates = fields.List(fields.Nested(MandateOut))


# --- events: what `mandates` dispatches, as its handlers receive it -------------------------
# The builders of services/mandates/mandates/events.py write these dicts, key for key in the
# order declared here (tests/unit/test_event_contracts.py holds them to it). Every field is
# always present; the ones that may be null say allow_none.

class SubscriberCreatedEvent(Schema):
    """subscriber_created."""
    event_id = fields.String(required=True)
    merchant_id = fields.String(required=True)
    subscriber_id = fields.String(required=True)
    customer_reference = fields.String(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True, allow_none=True)
    created_at = Instant(required=True)


class MandateEvent(Schema):
    """What every mandate_* event starts with."""
    event_id = fields.String(required=True)
    merchant_id = fields.String(required=True)
    mandate_id = fields.String(required=True)
    subscriber_id = fields.String(required=True)
    reference = fields.String(required=True)


class MandateSignedEvent(MandateEvent):
    """mandate_signed."""
    iban = fields.String(required=True)
    bic = fields.String(required=True, allow_none=True)
    signature_method = fields.String(required=True)
    signed_at = Instant(required=True)
    sequence = fields.String(required=True, validate=validate.OneOf(SEQUENCES))
    customer_reference = fields.String(required=True)
    order_id = fields.String(required=True, allow_none=True)


class MandateAmendedEvent(MandateEvent):
    """mandate_amended."""
    amendment_id = fields.String(required=True)
    at = Instant(required=True)
    old_iban = fields.String(required=True)
    new_iban = fields.String(required=True)
    old_bic = fields.String(required=True, allow_none=True)
    new_bic = fields.String(required=True, allow_none=True)
    same_bank = StrictBool(required=True)


class MandateRevokedEvent(MandateEvent):
    """mandate_revoked."""
    revoked_at = Instant(required=True)
    reason = fields.String(required=True, allow_none=True)


class MandateExpiredEvent(MandateEvent):
    """mandate_expired."""
    expired_at = Instant(required=True)
    last_collected_on = fields.Date(required=True, allow_none=True)


EVENTS = {"subscriber_created": SubscriberCreatedEvent, "mandate_signed": MandateSignedEvent,
          "mandate_amended": MandateAmendedEvent, "mandate_revoked": MandateRevokedEvent,
          "mandate_expired": MandateExpiredEvent}
