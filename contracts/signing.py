"""The wire format of the `signing` RPCs: input schemas that refuse unknown
fields (a field sent as null counts as left out, spec §6), output schemas with
UTC instants."""
import unicodedata
from datetime import date

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from common import clock
from common.schemas import In, Identifier, Instant, Phone, Text
from common.sepa import validate_bic, validate_iban
from contracts.plans import MONTH_BASED, PlanTermsIn

LANGS = ("fr", "en")
METHODS = ("link", "operator")
STATUSES = ("pending", "otp_sent", "signed", "expired", "failed", "cancelled")



class Code(fields.String):
    """The 6 digits of an SMS code. Digits of any script (a full-width keyboard's １２３, Arabic-Indic
    ١٢٣) are the same digits: read as 0-9, or the right code typed so would count a wrong attempt."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if len(text) != 6 or not text.isdecimal():
            raise ValidationError("6 digits")
        return "".join(str(unicodedata.decimal(digit)) for digit in text)


# --- input ------------------------------------------------------------------

class SubscriberIn(In):
    customer_reference = Text(required=True, validate=validate.Length(max=100))
    name = Text(required=True, validate=validate.Length(max=140))
    email = fields.Email(validate=validate.Length(max=254))
    phone = Phone(required=True)
    address = Text(validate=validate.Length(max=500))


class PlanIn(PlanTermsIn):
    """A plan as `POST /plans` takes it, less mandate_id (the mandate does not exist yet)."""

    @validates_schema
    def rules(self, data, **kwargs):
        # the plans service checks these again when it creates the plan; failing here keeps
        # a debtor from signing for a plan that cannot exist
        frequency, day = data.get("frequency"), data.get("day_of_month")
        if data.get("count") is not None and data.get("end_date") is not None:
            raise ValidationError("give either count or end_date", "count")
        if frequency == "once" and (data.get("end_date") is not None or data.get("count") not in (None, 1)):
            raise ValidationError("a one-off debit is one instalment, without end date", "frequency")
        if day is not None and frequency not in MONTH_BASED:
            raise ValidationError("only for monthly, bimonthly, quarterly, semiannual or annual plans",
                                  "day_of_month")
        if day is not None and day != -1 and not 1 <= day <= 28:
            raise ValidationError("1 to 28, or -1 for the last day of the month", "day_of_month")
        if data.get("end_date") and data.get("start_date") and data["end_date"] < data["start_date"]:
            raise ValidationError("is before start_date", "end_date")
        if data.get("start_date") and data["start_date"] < clock.today():
            raise ValidationError("must not be in the past", "start_date")


class CreditorIn(In):
    name = Text(required=True, validate=validate.Length(max=140))
    creditor_id = Text(required=True, validate=validate.Length(max=35))
    address = Text(validate=validate.Length(max=500))


class OrderIn(In):
    method = fields.String(required=True, validate=validate.OneOf(METHODS, error="link or operator"))
    subscriber = fields.Nested(SubscriberIn)
    subscriber_id = Text(validate=validate.Length(max=32))
    plan = fields.Nested(PlanIn)
    lang = fields.String(load_default="fr", validate=validate.OneOf(LANGS, error="fr or en"))
    created_by = Text(validate=validate.Length(max=254))

    @validates_schema
    def one_subscriber(self, data, **kwargs):
        if ("subscriber_id" in data) == ("subscriber" in data):
            raise ValidationError("give either subscriber_id or subscriber", "subscriber_id")
        subscriber = data.get("subscriber")
        if data.get("method") == "link" and subscriber is not None and not subscriber.get("email"):
            raise ValidationError({"email": ["a link order is sent by email: give one"]}, "subscriber")


class SignIn(In):
    otp = Code(required=True)
    iban = Identifier(validate_iban, required=True)
    bic = Identifier(validate_bic)
    name = Text(validate=validate.Length(max=140))


class LinkDetailsIn(In):
    name = Text(required=True, validate=validate.Length(max=140))
    iban = Identifier(validate_iban, required=True)
    bic = Identifier(validate_bic)


class LinkSignIn(In):
    otp = Code(required=True)


class EvidenceIn(In):
    ip_address = Text(validate=validate.Length(max=64))
    user_agent = fields.String(validate=validate.Length(max=1000))


class OrderFiltersIn(In):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = fields.String(validate=validate.Regexp(r"^SO[0-9A-Z]{1,30}$", error="not a valid cursor"))
    status = fields.String(validate=validate.OneOf(STATUSES))
    method = fields.String(validate=validate.OneOf(METHODS))


# --- output -----------------------------------------------------------------

def plan_wire(plan):
    """PlanIn data as JSON (ISO dates), as stored on the order and sent to plans."""
    return {key: value.isoformat() if isinstance(value, date) else value for key, value in plan.items()}


class OrderOut(Schema):
    id = fields.String()
    merchant_id = fields.String()
    method = fields.String()
    status = fields.String()
    lang = fields.String()
    subscriber = fields.Function(lambda order: {
        "id": order.subscriber_id, "customer_reference": order.customer_reference, "name": order.name,
        "email": order.email, "phone": order.phone, "address": order.address})
    plan = fields.Raw()
    plan_id = fields.String()
    expires_at = Instant()
    mandate_id = fields.String()
    signing_url = fields.Function(lambda order: getattr(order, "signing_url", None))
    otp_sent_at = Instant()
    otp_sends = fields.Integer()
    otp_attempts = fields.Integer()
    failure_reason = fields.String()
    created_at = Instant()
    signed_at = Instant()
    created_by = fields.String()
    evidence = fields.Raw()


# --- events: what `signing` dispatches, as its handlers receive it --------------------------
# The builders of services/signing/signing/events.py write these dicts, key for key in the
# order declared here (tests/unit/test_event_contracts.py holds them to it). Every field is
# always present; the ones that may be null say allow_none.

class OrderEvent(Schema):
    """order_created, order_cancelled, expired, failed; what otp_sent and signed start with."""
    event_id = fields.String(required=True)
    merchant_id = fields.String(required=True)
    order_id = fields.String(required=True)
    method = fields.String(required=True, validate=validate.OneOf(METHODS))
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    subscriber_id = fields.String(required=True, allow_none=True)
    customer_reference = fields.String(required=True, allow_none=True)
    mandate_id = fields.String(required=True, allow_none=True)
    plan_id = fields.String(required=True, allow_none=True)
    created_at = Instant(required=True)
    expires_at = Instant(required=True, allow_none=True)
    signed_at = Instant(required=True, allow_none=True)
    failure_reason = fields.String(required=True, allow_none=True)


class OtpSentEvent(OrderEvent):
    """otp_sent: how many codes the order has been sent."""
    otp_sends = fields.Integer(required=True, strict=True)


class SignedEvent(OrderEvent):
    """signed: the evidence kept with the mandate (signing.orders.evidence_of)."""
    evidence = fields.Dict(required=True)


EVENTS = {"order_created": OrderEvent, "order_cancelled": OrderEvent, "expired": OrderEvent, "failed": OrderEvent,
          "otp_sent": OtpSentEvent, "signed": SignedEvent}
