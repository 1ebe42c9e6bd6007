"""The `mandates` service.

Owns: subscribers (debtors), mandates, amendments, mandate PDFs and the
36-month dormancy expiry.
Emits: mandates.subscriber_created, mandates.mandate_signed,
mandates.mandate_amended, mandates.mandate_revoked, mandates.mandate_expired
(as features land).
Listens to: nothing.
RPC `mandates`: ping (more with each feature). Every call takes the caller's
`merchant_id` and every query filters by it.
"""
from common.service import DebitoService


class MandatesService(DebitoService):
    name = "mandates"
