"""The wire format of the `plans` RPCs: input schemas that refuse unknown
fields (null counts as left out, spec §6), output schemas with ISO dates and
UTC instants."""
import json
from datetime import timezone

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from common.errors import Invalid, Malformed
from plans.models import STATUSES
from plans.schedule import FREQUENCIES

MAX_AMOUNT = 10_000_000  # cents: 100 000 €, a sane cap per debit


def load(schema_class, payload):
    """`payload` loaded by the schema, or Invalid naming each bad field."""
    if not isinstance(payload, dict):
        raise Malformed("expected a JSON object")
    try:
        return schema_class().load(payload)
    except ValidationError as error:
        fields_ = {name: (value[0] if isinstance(value, list) else str(value))
                   for name, value in error.normalized_messages().items()}
        field, message = next(iter(fields_.items()))
        raise Invalid(f"{field}: {message}", fields_) from None


def to_utc(value):
    """SQLite hands back naive datetimes: they are UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Cents(fields.Field):
    """An amount in integer cents, 1 to 10 000 000; never a float, a string or a bool."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("an integer number of cents")
        if not 0 < value <= MAX_AMOUNT:
            raise ValidationError(f"between 1 and {MAX_AMOUNT} cents")
        return value


class StrictInt(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("an integer")
        return value


class Text(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise ValidationError("must not be empty")
        return text


class In(Schema):
    @pre_load
    def drop_nulls(self, data, **kwargs):
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


FREQUENCY = validate.OneOf(FREQUENCIES, error="one of " + ", ".join(FREQUENCIES))


class PlanIn(In):
    mandate_id = Text(required=True, validate=validate.Length(max=32))
    label = Text(required=True, validate=validate.Length(max=140))
    amount = Cents(required=True)
    currency = fields.String(validate=validate.Equal("EUR", error="only EUR"))
    frequency = fields.String(required=True, validate=FREQUENCY)
    start_date = fields.Date(required=True)
    count = StrictInt(validate=validate.Range(1, 1000))
    end_date = fields.Date()
    day_of_month = StrictInt()
    prenotification_days = StrictInt(validate=validate.Range(1, 60))


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


class Instant(fields.DateTime):
    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else to_utc(value).isoformat()


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


def dump_page(schema_class, page):
    return {"items": schema_class(many=True).dump(page.items), "next_cursor": page.next_cursor}
