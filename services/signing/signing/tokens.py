"""Signing links' tokens.

A token is URL-safe, signed with SECRET_KEY (itsdangerous) and carries the
order id and a random nonce. The order keeps only the sha256 of the nonce: a
forged or altered token fails its signature, and a resend (a new nonce)
retires the old link while it still verifies.
"""
import hashlib
import hmac
import os
import secrets
import tempfile

from itsdangerous import BadSignature, URLSafeSerializer

from common.config import env, var_dir
from common.errors import NotFound

SALT = "debito.signing.link"


def secret_key():
    """SECRET_KEY, or the one made once under var/ (the gateway reads the same file)."""
    configured = env("SECRET_KEY")
    if configured:
        return configured
    path = var_dir() / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(temporary, path)  # exclusive: a process racing us keeps its key, we read it
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    return path.read_text().strip()


def _serializer(key):
    return URLSafeSerializer(key or secret_key(), salt=SALT)


def nonce_hash(nonce):
    return hashlib.sha256(nonce.encode("ascii")).hexdigest()


def issue(order_id, key=None):
    """(token, hash of its nonce): the token goes to the debtor, the hash to the order."""
    nonce = secrets.token_urlsafe(18)
    return _serializer(key).dumps([order_id, nonce]), nonce_hash(nonce)


def read(token, key=None):
    """(order id, hash of the nonce) of a token this service signed; NotFound otherwise."""
    try:
        order_id, nonce = _serializer(key).loads(token or "")
        if not (isinstance(order_id, str) and isinstance(nonce, str)):
            raise ValueError
    except (BadSignature, ValueError, TypeError):
        raise NotFound("no such signing link", {"token": "not found"}) from None
    return order_id, nonce_hash(nonce)


def matches(stored_hash, presented_hash):
    return stored_hash is not None and hmac.compare_digest(stored_hash, presented_hash)
