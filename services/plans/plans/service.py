"""The `plans` service.

Owns: plans (one-off debits and recurring schedules) and their instalments
on TARGET2 business days.
Emits: plans.* (as features land).
Listens to: mandates.* (a revoked or expired mandate cancels its plans).
RPC `plans`: ping (more with each feature). Every call takes the caller's
`merchant_id` and every query filters by it.
"""
from common.service import DebitoService


class PlansService(DebitoService):
    name = "plans"
