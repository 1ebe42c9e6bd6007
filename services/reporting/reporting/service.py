"""The `reporting` service.

Owns: read models fed by every service's events: overview counters,
the statement, export jobs (CSV files).
Emits: nothing.
Listens to: every service's events.
RPC `reporting`: ping (more with each feature). Every call takes the caller's
`merchant_id` and every query filters by it.
"""
from common.service import DebitoService


class ReportingService(DebitoService):
    name = "reporting"
