"""The `signing` service.

Owns: signature orders: by emailed link, and by operator with an SMS
one-time password; it creates the signed mandate through `mandates`.
Emits: signing.order_created|otp_sent|signed|failed|expired (as features land).
Listens to: nothing; calls the `mandates` RPC.
RPC `signing`: ping (more with each feature). Every call takes the caller's
`merchant_id` and every query filters by it.
"""
from common.service import DebitoService


class SigningService(DebitoService):
    name = "signing"
