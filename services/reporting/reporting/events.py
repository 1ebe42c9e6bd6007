"""Payloads of the events `reporting` emits (`reporting.<name>`), each written as its wire
schema says (contracts.reporting.EVENTS)."""


def export_requested(export_id, merchant_id):
    """An export job to run (or to run again, its worker having died)."""
    return {"export_id": export_id, "merchant_id": merchant_id}
