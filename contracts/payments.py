"""The wire format of the `payments` RPCs: input schemas that refuse unknown
fields (null counts as left out, spec §6), output schemas with ISO dates and
UTC instants."""
import json
from collections import namedtuple

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from common.schemas import Identifier, In, Instant, StrictBool, Text
from common.sepa import validate_bic, validate_creditor_id, validate_iban
from contracts.events import OneMerchantBatch

STATUSES = ("scheduled", "submitted", "paid", "rejected", "cancelled")
R_TYPES = ("reject", "return", "refund", "refusal", "reversal", "revocation", "request_for_cancellation")
R_STATUSES = ("open", "replayed", "closed")
PAYOUT_STATUSES = ("pending", "sent", "paid", "failed")

# The ISO reason codes of R-transactions (spec §3): what the merchant reads beside the code, in
# English and French, and whether a replay may succeed.
Reason = namedtuple("Reason", "en fr retryable")

REASONS = {
    "AM04": Reason("insufficient funds", "provision insuffisante", True),
    "MS03": Reason("reason not specified", "raison non communiquée", True),
    "AC01": Reason("account identifier incorrect", "identifiant de compte incorrect", False),
    "AC04": Reason("account closed", "compte clôturé", False),
    "AC06": Reason("account blocked", "compte bloqué", False),
    "AG01": Reason("direct debit forbidden on this account", "prélèvement interdit sur ce compte", False),
    "AM05": Reason("duplicate collection", "prélèvement en double", False),
    "MD01": Reason("no valid mandate", "pas de mandat valide", False),
    "MD02": Reason("mandate data missing or incorrect", "données du mandat absentes ou incorrectes", False),
    "MD06": Reason("refund requested by debtor", "remboursement demandé par le débiteur", False),
    "MD07": Reason("debtor deceased", "débiteur décédé", False),
    "MS02": Reason("refused by debtor", "refusé par le débiteur", False),
    "SL01": Reason("specific service offered by debtor bank", "service spécifique de la banque du débiteur",
                   False),
    "BE05": Reason("creditor identifier incorrect", "identifiant créancier incorrect", False),
    "FF01": Reason("file format invalid", "format de fichier invalide", False),
    **{f"RR0{n}": Reason("regulatory reason", "raison réglementaire", False) for n in range(1, 5)},
}
UNKNOWN = Reason("reason code unknown to Debito", "code motif inconnu de Debito", False)


def reason(code):
    """The Reason of `code`; an unknown code is shown as such and never retried."""
    return REASONS.get((code or "").upper(), UNKNOWN)


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
    reason_fr = fields.Function(lambda r: reason(r.reason_code).fr)
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


# --- events: what `payments` dispatches, as its handlers receive it -------------------------
# The builders of services/payments/payments/events.py write these dicts in plain Python, key
# for key in the order declared here (tests/unit/test_event_contracts.py holds them
# to it); a consumer may load a payload with its schema. Every field is always present; the
# ones that may be null say allow_none.

class PaymentEvent(Schema):
    """payment_paid, payment_rejected (single events of earlier versions) and each item of a
    payments_* batch: the payment as it was when the event was decided."""
    event_id = fields.String(required=True)
    merchant_id = fields.String(required=True)
    payment_id = fields.String(required=True)
    plan_id = fields.String(required=True, allow_none=True)
    mandate_id = fields.String(required=True)
    subscriber_id = fields.String(required=True, allow_none=True)
    amount = fields.Integer(required=True, strict=True)
    currency = fields.String(required=True)
    due_date = fields.Date(required=True)
    sequence_type = fields.String(required=True)
    end_to_end_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    replay_of = fields.String(required=True, allow_none=True)
    attempt = fields.Integer(required=True, strict=True)
    bank_file_id = fields.String(required=True, allow_none=True)
    at = Instant(required=True)


class PaymentCancelledEvent(PaymentEvent):
    """payment_cancelled: `reason` is the mandate's event that cancelled it."""
    reason = fields.String(required=True, validate=validate.OneOf(("mandate_revoked", "mandate_expired")))


class PaymentsEvent(OneMerchantBatch):
    """payments_scheduled, payments_submitted, payments_paid, payments_rejected."""
    items = "payments"
    payments = fields.List(fields.Nested(PaymentEvent), required=True, validate=validate.Length(min=1))


class RTransactionEvent(Schema):
    """r_transaction_received (a single event of earlier versions) and each item of an
    r_transactions_received batch."""
    event_id = fields.String(required=True)
    merchant_id = fields.String(required=True)
    r_transaction_id = fields.String(required=True)
    payment_id = fields.String(required=True)
    plan_id = fields.String(required=True, allow_none=True)
    mandate_id = fields.String(required=True)
    subscriber_id = fields.String(required=True, allow_none=True)
    type = fields.String(required=True, validate=validate.OneOf(R_TYPES))
    reason_code = fields.String(required=True)
    reason = fields.String(required=True)
    retryable = StrictBool(required=True)
    amount = fields.Integer(required=True, strict=True)
    received_on = fields.Date(required=True)
    status = fields.String(required=True, validate=validate.OneOf(R_STATUSES))


class RTransactionsEvent(OneMerchantBatch):
    """r_transactions_received."""
    items = "r_transactions"
    r_transactions = fields.List(fields.Nested(RTransactionEvent), required=True, validate=validate.Length(min=1))


class PayoutEvent(Schema):
    """payout_requested, payout_paid."""
    event_id = fields.String(required=True)
    merchant_id = fields.String(required=True)
    payout_id = fields.String(required=True)
    amount = fields.Integer(required=True, strict=True)
    currency = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(PAYOUT_STATUSES))
    end_to_end_id = fields.String(required=True)
    paid_on = fields.Date(required=True, allow_none=True)
    at = Instant(required=True)


EVENTS = {"payments_scheduled": PaymentsEvent, "payments_submitted": PaymentsEvent,
          "payments_paid": PaymentsEvent, "payments_rejected": PaymentsEvent,
          "r_transactions_received": RTransactionsEvent, "payment_cancelled": PaymentCancelledEvent,
          "payout_requested": PayoutEvent, "payout_paid": PayoutEvent,
          # single events of earlier versions, still handled by reporting
          "payment_paid": PaymentEvent, "payment_rejected": PaymentEvent, "r_transaction_received": RTransactionEvent}
