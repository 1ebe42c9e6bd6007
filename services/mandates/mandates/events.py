"""Payloads of the events `mandates` emits (`mandates.<name>`): facts, each
with its own `event_id` so that handlers can drop a redelivery."""
from common.idempotency import new_event_id
from common.schemas import to_utc


def _instant(value):
    return to_utc(value).isoformat() if value else None


def _mandate(mandate, **fields):
    return {"event_id": new_event_id(), "merchant_id": mandate.merchant_id, "mandate_id": mandate.id,
            "subscriber_id": mandate.subscriber_id, "reference": mandate.reference, **fields}


def subscriber_created(subscriber):
    return {"event_id": new_event_id(), "merchant_id": subscriber.merchant_id,
            "subscriber_id": subscriber.id, "customer_reference": subscriber.customer_reference,
            "name": subscriber.name, "email": subscriber.email,
            "created_at": _instant(subscriber.created_at)}


def mandate_signed(mandate):
    return _mandate(mandate, iban=mandate.iban, bic=mandate.bic, signature_method=mandate.signature_method,
                    signed_at=_instant(mandate.signed_at), sequence=mandate.sequence,
                    customer_reference=mandate.subscriber.customer_reference,
                    order_id=mandate.signing_order_id)


def mandate_amended(mandate, amendment, same_bank):
    return _mandate(mandate, amendment_id=amendment.id, at=_instant(amendment.at),
                    old_iban=amendment.old_iban, new_iban=amendment.new_iban,
                    old_bic=amendment.old_bic, new_bic=amendment.new_bic, same_bank=same_bank)


def mandate_revoked(mandate):
    return _mandate(mandate, revoked_at=_instant(mandate.revoked_at), reason=mandate.revocation_reason)


def mandate_expired(mandate):
    last = mandate.last_collected_on
    return _mandate(mandate, expired_at=_instant(mandate.expired_at),
                    last_collected_on=last.isoformat() if last else None)
