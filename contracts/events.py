"""What the event wire schemas of every service share."""
from marshmallow import Schema, ValidationError, fields, validates_schema


class OneMerchantBatch(Schema):
    """A batch event: one merchant's items under `items`, each keeping its own event_id."""
    items = None  # the name of the list field
    event_id = fields.String(required=True)
    merchant_id = fields.String(required=True)

    @validates_schema
    def one_merchant(self, data, **kwargs):
        if any(item["merchant_id"] != data["merchant_id"] for item in data[self.items]):
            raise ValidationError("every item is the batch's merchant's", self.items)
