"""The wire format of the `payments` RPCs: input schemas that refuse unknown
fields (null counts as left out, spec §6), output schemas with ISO dates and
UTC instants."""
import json
from datetime import timezone

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from common.errors import Invalid, Malformed
from common.sepa import InvalidIdentifier, validate_bic, validate_creditor_id, validate_iban
from payments import reason_codes
from payments.models import PAYOUT_STATUSES, R_STATUSES, R_TYPES, STATUSES


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


class Text(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise ValidationError("must not be empty")
        return text


class Identifier(fields.String):
    """A SEPA identifier checked and normalised by common.sepa."""

    def __init__(self, check, **kwargs):
        super().__init__(**kwargs)
        self.check = check

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return self.check(super()._deserialize(value, attr, data, **kwargs))
        except InvalidIdentifier as error:
            raise ValidationError(error.message) from None


class StrictBool(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("true or false")
        return value


class In(Schema):
    @pre_load
    def drop_nulls(self, data, **kwargs):
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


class CreditorIn(In):
    """The merchant's creditor identity, as the gateway sends it (`creditor_profile`)."""
    merchant_id = fields.String(load_only=True)  # the call's argument says it already
    email = fields.String(load_only=True)  # the gateway's business: accepted, not kept
    name = Text(required=True, validate=validate.Length(max=140))
    creditor_id = Identifier(validate_creditor_id, required=True)
    iban = Identifier(validate_iban, required=True)
    bic = Identifier(validate_bic)
    automatic_retry = StrictBool()
    first_debit_as_rcur = StrictBool()
    prenotification_days = fields.Integer(strict=True, validate=validate.Range(1, 60))
    availability_delay_days = fields.Integer(strict=True, validate=validate.Range(0, 30))


class Period(In):
    from_ = fields.Date(data_key="from")
    to = fields.Date()

    @validates_schema
    def period(self, data, **kwargs):
        if data.get("from_") and data.get("to") and data["to"] < data["from_"]:
            raise ValidationError("to is before from", "to")


class PaymentFiltersIn(Period):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = fields.String(validate=validate.Regexp(r"^PM[0-9A-Z]{1,30}$", error="not a valid cursor"))
    status = fields.String(validate=validate.OneOf(STATUSES))
    plan_id = fields.String()
    mandate_id = fields.String()
    subscriber_id = fields.String()


class RTransactionFiltersIn(Period):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = fields.String(validate=validate.Regexp(r"^RT[0-9A-Z]{1,30}$", error="not a valid cursor"))
    type = fields.String(validate=validate.OneOf(R_TYPES))
    reason_code = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9]{4}$", error="a 4-character ISO code"))
    status = fields.String(validate=validate.OneOf(R_STATUSES))


class StatementIn(In):
    """A statement period; `to` defaults to today, `from` to the first day of `to`'s month."""
    from_ = fields.Date(data_key="from")
    to = fields.Date()

    @validates_schema
    def period(self, data, **kwargs):
        if data.get("from_") and data.get("to") and data["from_"] > data["to"]:
            raise ValidationError("on or before to", "from")


class PayoutIn(In):
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(
        min=1, error="a positive number of cents"))


class PayoutFiltersIn(In):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = fields.String(validate=validate.Regexp(r"^PO[0-9A-Z]{1,30}$", error="not a valid cursor"))
    status = fields.String(validate=validate.OneOf(PAYOUT_STATUSES))


class ReplayIn(In):
    due_date = fields.Date()


class Instant(fields.DateTime):
    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else to_utc(value).isoformat()


class PaymentOut(Schema):
    id = fields.String()
    merchant_id = fields.String()
    plan_id = fields.String()
    instalment_key = fields.String()
    mandate_id = fields.String()
    subscriber_id = fields.String()
    mandate_reference = fields.String()
    debtor_name = fields.String()
    iban = fields.String()
    bic = fields.String()
    amendment = fields.Function(lambda payment: json.loads(payment.amendment) if payment.amendment else None)
    amount = fields.Integer()
    currency = fields.String()
    label = fields.String()
    due_date = fields.Date()
    sequence_type = fields.String()
    end_to_end_id = fields.String()
    status = fields.String()
    replay_of = fields.String()
    attempt = fields.Integer()
    automatic = fields.Boolean()
    created_at = Instant()
    submitted_at = Instant()
    paid_at = Instant()
    rejected_at = Instant()
    cancelled_at = Instant()


class RTransactionOut(Schema):
    id = fields.String()
    merchant_id = fields.String()
    payment_id = fields.String()
    type = fields.String()
    reason_code = fields.String()
    reason = fields.String()
    reason_fr = fields.Function(lambda r: reason_codes.reason(r.reason_code).fr)
    amount = fields.Integer()
    received_on = fields.Date()
    retryable = fields.Boolean()
    status = fields.String()
    replayed_by = fields.String()
    created_at = Instant()


class UnmatchedOut(Schema):
    id = fields.String()
    merchant_id = fields.String()
    bank_file_id = fields.String()
    end_to_end_id = fields.String()
    amount = fields.Integer()
    reason = fields.Function(lambda u: json.loads(u.details).get("reason"))
    details = fields.Function(lambda u: json.loads(u.details).get("entry"))
    created_at = Instant()


class PayoutOut(Schema):
    id = fields.String()
    merchant_id = fields.String()
    amount = fields.Integer()
    currency = fields.String()
    status = fields.String()
    end_to_end_id = fields.String()
    creditor_name = fields.String()
    creditor_iban = fields.String()
    execution_date = fields.Date()
    bank_file_id = fields.String()
    created_at = Instant()
    sent_at = Instant()
    paid_at = Instant()
    paid_on = fields.Date()
    failed_reason = fields.String()


class CreditorOut(Schema):
    merchant_id = fields.String()
    name = fields.String()
    creditor_id = fields.String()
    iban = fields.String()
    bic = fields.String()
    automatic_retry = fields.Boolean()
    first_debit_as_rcur = fields.Boolean()
    prenotification_days = fields.Integer()
    availability_delay_days = fields.Integer()
    updated_at = Instant()


def dump_page(schema_class, page):
    return {"items": schema_class(many=True).dump(page.items), "next_cursor": page.next_cursor}
