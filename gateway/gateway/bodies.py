"""The JSON bodies of the API's POSTs and PATCHes as the OpenAPI document shows them. Where a
service validates the body the gateway forwards, the document shows the contract's input schema
that service loads it with (one definition: what the document promises is what is checked); the
few bodies the gateway shapes itself are described here."""
from marshmallow import Schema, fields, validate

from contracts.mandates import BankDetailsIn, MandateImportIn, RevokeIn, SubscriberIn  # noqa: F401 - re-exported
from contracts.payments import PayoutIn, ReplayIn  # noqa: F401 - re-exported
from contracts.plans import MAX_AMOUNT, PlanChangesIn, PlanIn

EXPORT_SECTIONS = ("subscribers", "mandates", "plans", "payments", "r-transactions", "payouts", "statement",
                   "signature-orders")

# The merchant's pre-notification days come from its settings, not from the body.
PlanBody = PlanIn(exclude=("prenotification_days",))
PlanChangesBody = PlanChangesIn()


class OneOffIn(Schema):
    """`POST /payments`: the plans service makes it a plan of frequency `once` due on `due_date`."""
    mandate_id = fields.String(required=True, validate=validate.Length(max=32))
    label = fields.String(required=True, validate=validate.Length(max=140))
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(1, MAX_AMOUNT))
    currency = fields.String(validate=validate.Equal("EUR"))
    due_date = fields.Date(required=True)


class ExportIn(Schema):
    """`POST /exports`: a section of the dashboard, its list's filters, the decimal mark."""
    section = fields.String(required=True, validate=validate.OneOf(EXPORT_SECTIONS))
    filters = fields.Dict(keys=fields.String(), values=fields.String())
    decimal = fields.String(validate=validate.OneOf((",", ".")))
