"""The wire format of the `plans` RPCs: input schemas that refuse unknown
fields (null counts as left out, spec §6), output schemas with ISO dates and
UTC instants."""
import json

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from common.schemas import In, Instant, StrictBool, StrictInt, Text
from contracts.events import OneMerchantBatch

MONTH_BASED = ("monthly", "bimonthly", "quarterly", "semiannual", "annual")
FREQUENCIES = ("once", "weekly", *MONTH_BASED)
STATUSES = ("active", "paused", "completed", "cancelled")

MAX_AMOUNT = 10_000_000  # cents: 100 000 €, a sane cap per debit


class Cents(fields.Field):
    """An amount in integer cents, 1 to 10 000 000; never a float, a string or a bool."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("an integer number of cents")
        if not 0 < value <= MAX_AMOUNT:
            raise ValidationError(f"between 1 and {MAX_AMOUNT} cents")
        return value


FREQUENCY = validate.OneOf(FREQUENCIES, error="one of " + ", ".join(FREQUENCIES))


class PlanTermsIn(In):
    """What a plan collects and when: `POST /plans` less the mandate, as a signature order
    carries it before its mandate exists."""
    label = Text(required=True, validate=validate.Length(max=140))
    amount = Cents(required=True)
    currency = fields.String(validate=validate.Equal("EUR", error="only EUR"))
    frequency = fields.String(required=True, validate=FREQUENCY)
    start_date = fields.Date(required=True)
    count = StrictInt(validate=validate.Range(1, 1000))
    end_date = fields.Date()
    day_of_month = StrictInt()
    prenotification_days = StrictInt(validate=validate.Range(1, 60))


class PlanIn(PlanTermsIn):
    mandate_id = Text(required=True, validate=validate.Length(max=32))


class PlanChangesIn(In):
    amount = Cents()
    frequency = fields.String(validate=FREQUENCY)
    end_date = fields.Date()
    count = StrictInt(validate=validate.Range(1, 1000))
    day_of_month = StrictInt()


class PlanFiltersIn(In):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = fields.String(validate=validate.Regexp(r"^PL[0-9A-Z]{1,30}$", error="not a valid cursor"))
    status = fields.String(validate=validate.OneOf(STATUSES))
    frequency = fields.String(validate=FREQUENCY)
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    mandate_id = fields.String()
    subscriber_id = fields.String()

    @validates_schema
    def period(self, data, **kwargs):
        if data.get("from_") and data.get("to") and data["to"] < data["from_"]:
            raise ValidationError("to is before from", "to")


class InstalmentOut(Schema):
    id = fields.String()
    key = fields.String()
    sequence_no = fields.Integer()
    due_date = fields.Date()
    amount = fields.Integer()
    status = fields.String()
    issued_at = Instant()


class PlanChangeOut(Schema):
    at = Instant()
    actor = fields.String()
    changes = fields.Function(lambda change: json.loads(change.changes))


class PlanOut(Schema):
    id = fields.String()
    merchant_id = fields.String()
    mandate_id = fields.String()
    subscriber_id = fields.String()
    label = fields.String()
    amount = fields.Integer()
    currency = fields.String()
    frequency = fields.String()
    start_date = fields.Date()
    count = fields.Integer()
    end_date = fields.Date()
    day_of_month = fields.Integer()
    status = fields.String()
    prenotification_days = fields.Integer()
    issued_count = fields.Integer(attribute="next_sequence")
    collected_count = fields.Integer()
    next_due_date = fields.Date()
    created_at = Instant()
    updated_at = Instant()
    cancelled_at = Instant()




# --- events: what `plans` dispatches, as its handlers receive it ----------------------------
# The builders of services/plans/plans/events.py write these dicts, key for key in the order
# declared here (tests/unit/test_event_contracts.py holds them to it). A field that may be null
# says allow_none; the two of PlanCancelledEvent that are not required are never both there.

class PlanEvent(Schema):
    """plan_completed; what every plan_* event starts with."""
    event_id = fields.String(required=True)
    merchant_id = fields.String(required=True)
    plan_id = fields.String(required=True)
    mandate_id = fields.String(required=True)
    subscriber_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    amount = fields.Integer(required=True, strict=True)
    frequency = fields.String(required=True, validate=validate.OneOf(FREQUENCIES))
    next_due_date = fields.Date(required=True, allow_none=True)


class PlanActorEvent(PlanEvent):
    """plan_created, plan_paused, plan_resumed: `actor` is who asked (null: the API key)."""
    actor = fields.String(required=True, allow_none=True)


class PlanUpdatedEvent(PlanActorEvent):
    """plan_updated: `changes` is the request's body as the caller sent it."""
    changes = fields.Dict(required=True)


class PlanCancelledEvent(PlanEvent):
    """plan_cancelled: by someone (`actor`), or by the mandate's event (`reason`)."""
    actor = fields.String(allow_none=True)
    reason = fields.String(validate=validate.OneOf(("mandate_revoked", "mandate_expired")))

    @validates_schema
    def actor_or_reason(self, data, **kwargs):
        if ("actor" in data) == ("reason" in data):
            raise ValidationError("either actor or reason", "reason")


class InstalmentEvent(Schema):
    """An instalment handed over to payments: an item of instalments_due, and of the answer of
    the due_instalments RPC."""
    key = fields.String(required=True)
    instalment_id = fields.String(required=True)
    plan_id = fields.String(required=True)
    merchant_id = fields.String(required=True)
    mandate_id = fields.String(required=True)
    subscriber_id = fields.String(required=True)
    sequence_no = fields.Integer(required=True, strict=True)
    due_date = fields.Date(required=True)
    amount = fields.Integer(required=True, strict=True)
    currency = fields.String(required=True)
    label = fields.String(required=True)
    frequency = fields.String(required=True, validate=validate.OneOf(FREQUENCIES))
    is_last = StrictBool(required=True)


class InstalmentsDueEvent(OneMerchantBatch):
    """instalments_due."""
    items = "instalments"
    instalments = fields.List(fields.Nested(InstalmentEvent), required=True, validate=validate.Length(min=1))


EVENTS = {"plan_created": PlanActorEvent, "plan_paused": PlanActorEvent, "plan_resumed": PlanActorEvent,
          "plan_updated": PlanUpdatedEvent, "plan_cancelled": PlanCancelledEvent, "plan_completed": PlanEvent,
          "instalments_due": InstalmentsDueEvent}
