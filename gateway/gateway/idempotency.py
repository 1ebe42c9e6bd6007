"""`Idempotency-Key` on POSTs that move money: the same key and body give
the same answer without doing the work again; the same key with another
body is refused (422); a request still in flight with that key is 409.

`call_key()` is the key handed on to the service that does the work (payouts,
plans): the client's, or one made for the request. The service remembers it with
what it made, so a call whose answer was lost (the broker restarted: the gateway
answered 503 and freed the key, or RabbitMQ delivered the request twice) is not
done twice when it comes again."""
import hashlib
import json
import uuid
from functools import wraps

from flask import Response, g, request
from sqlalchemy.exc import IntegrityError

from common import clock
from common.errors import Conflict, Invalid
from gateway.db import db_session
from gateway.models import IdempotencyKey


def _fingerprint():
    return hashlib.sha256(request.method.encode() + request.path.encode() + request.get_data()).hexdigest()


def idempotent(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return view(*args, **kwargs)
        if len(key) > 255:
            raise Invalid("Idempotency-Key is at most 255 characters", {"Idempotency-Key": "too long"})
        session, fingerprint = db_session(), _fingerprint()
        stored = session.get(IdempotencyKey, (g.merchant.id, key))
        if stored is None:
            # Claim the key first: of two concurrent requests, one inserts, the other waits its answer.
            session.add(IdempotencyKey(merchant_id=g.merchant.id, key=key, request_hash=fingerprint,
                                       created_at=clock.now()))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                stored = session.get(IdempotencyKey, (g.merchant.id, key))
        if stored is not None:
            if stored.request_hash != fingerprint:
                raise Invalid("this Idempotency-Key was used with another request",
                              {"Idempotency-Key": "reused with a different body"})
            if stored.status is None:
                raise Conflict("a request with this Idempotency-Key is in progress",
                               {"Idempotency-Key": "in progress"})
            return Response(stored.body, status=stored.status, mimetype="application/json",
                            headers={"Idempotent-Replayed": "true"})
        try:
            response = view(*args, **kwargs)
        except Exception:
            # The work failed: free the key so the client may retry it.
            session.rollback()
            session.query(IdempotencyKey).filter_by(merchant_id=g.merchant.id, key=key).delete()
            session.commit()
            raise
        body, status = response if isinstance(response, tuple) else (response, 200)
        row = session.get(IdempotencyKey, (g.merchant.id, key))
        row.status, row.body = status, json.dumps(body.get_json())
        session.commit()
        return body, status

    return wrapped


def call_key():
    """The request's Idempotency-Key, or a new one: the key the service remembers the work by."""
    return request.headers.get("Idempotency-Key", "").strip() or uuid.uuid4().hex
