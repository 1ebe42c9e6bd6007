"""The `payments` service.

Owns: payments, pain.008 batches, bank files in and out, R-transactions,
replays and retries, the ledger and payouts.
Emits: payments.payment_scheduled|submitted|paid|rejected|cancelled,
payments.r_transaction_received (as features land).
Listens to: plans.* and mandates.*.
RPC `payments`: ping (more with each feature). Every call takes the caller's
`merchant_id` and every query filters by it.
"""
from common.service import DebitoService


class PaymentsService(DebitoService):
    name = "payments"
