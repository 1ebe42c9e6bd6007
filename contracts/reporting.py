"""The wire format of the events `reporting` dispatches (to itself: an export's job is run by
whichever replica takes its event)."""
from marshmallow import Schema, fields


class ExportRequestedEvent(Schema):
    """export_requested: built by reporting.events.export_requested, key for key in this order
    (tests/unit/test_event_contracts.py holds it to it). It carries no event_id: running a job
    twice is harmless, a running job is left alone."""
    export_id = fields.String(required=True)
    merchant_id = fields.String(required=True)


EVENTS = {"export_requested": ExportRequestedEvent}
