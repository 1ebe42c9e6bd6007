"""The wire format of the gateway's own API answers (marshmallow)."""
from marshmallow import Schema, fields


class ErrorBody(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields = fields.Dict(keys=fields.String(), values=fields.Raw())


class Error(Schema):
    error = fields.Nested(ErrorBody, required=True)


class MerchantOut(Schema):
    id = fields.String()
    name = fields.String()
    creditor_id = fields.String()
    iban = fields.String()
    bic = fields.String(allow_none=True)
    email = fields.String()
    address = fields.String(allow_none=True)
    availability_delay_days = fields.Integer()
    prenotification_days = fields.Integer()
    created_at = fields.DateTime()


class Health(Schema):
    status = fields.String()
    services = fields.Dict(keys=fields.String(), values=fields.String())
