"""Merchants, dashboard users and API keys: plain functions on a session."""
import hashlib
import hmac
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from common import clock, sepa
from common.errors import Conflict, Invalid
from common.ids import new_id
from gateway.models import ApiKey, Merchant, User

_hasher = PasswordHasher()  # argon2id: a slow, memory-hard KDF for passwords
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
KEY_PREFIX = "dbt_"


def _require(condition, field, message):
    if not condition:
        raise Invalid(message, {field: message})


def validate_merchant(name, creditor_id, iban, bic, email, password, address=None):
    """Normalised merchant fields, or Invalid naming the first bad field."""
    name = (name or "").strip()
    _require(0 < len(name) <= 140, "name", "name is required (at most 140 characters)")
    try:
        creditor_id = sepa.validate_creditor_id(creditor_id or "")
        iban = sepa.validate_iban(iban or "")
        bic = sepa.validate_bic(bic) if bic else sepa.bic_from_iban(iban)
    except sepa.InvalidIdentifier as error:
        raise Invalid(str(error), {error.field: str(error)}) from None
    email = (email or "").strip().lower()
    _require(_EMAIL.match(email), "email", "email is not a valid address")
    _require(password and len(password) >= 10, "password", "password needs at least 10 characters")
    address = (address or "").strip() or None
    _require(address is None or len(address) <= 280, "address", "address is at most 280 characters")
    return dict(name=name, creditor_id=creditor_id, iban=iban, bic=bic, email=email,
                address=address), password


def create_merchant(session, *, name, creditor_id, iban, bic=None, email, password, address=None,
                    first_debit_as_rcur=False):
    """A merchant with its first dashboard user and API key.

    Returns (merchant, api_key): the key in clear is returned this once only.
    """
    fields, password = validate_merchant(name, creditor_id, iban, bic, email, password, address)
    now = clock.now()
    merchant = Merchant(id=new_id("MC"), created_at=now, availability_delay_days=5,
                        prenotification_days=14, automatic_retry=False,
                        first_debit_as_rcur=bool(first_debit_as_rcur), **fields)
    session.add(merchant)
    session.add(User(id=new_id("US"), merchant_id=merchant.id, email=fields["email"],
                     password_hash=_hasher.hash(password), created_at=now))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict("a user with this email already exists", {"email": "already used"}) from None
    api_key = create_api_key(session, merchant.id)
    return merchant, api_key


def creditor_profile(merchant):
    """What the payments service needs to write a merchant's bank files."""
    return {"merchant_id": merchant.id, "name": merchant.name, "creditor_id": merchant.creditor_id,
            "iban": merchant.iban, "bic": merchant.bic, "email": merchant.email,
            "automatic_retry": merchant.automatic_retry,
            "first_debit_as_rcur": merchant.first_debit_as_rcur,
            "prenotification_days": merchant.prenotification_days,
            "availability_delay_days": merchant.availability_delay_days}


def _digest(secret):
    # An API key carries 192 random bits: a fast hash is safe and keeps auth cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(session, merchant_id, label="default", actor="cli"):
    """A new key (in the audit log, by `actor`); the caller commits."""
    from gateway import audit

    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(24)
    key = ApiKey(id=new_id("AK"), merchant_id=merchant_id, prefix=prefix, key_hash=_digest(secret), label=label,
                 created_at=clock.now())
    session.add(key)
    audit.record(session, merchant_id, actor, "api_key.create", key.id, {"label": label, "prefix": prefix})
    session.flush()
    return f"{KEY_PREFIX}{prefix}_{secret}"


def merchant_for_api_key(session, api_key):
    """The merchant owning `api_key`, or None for a wrong, unknown or revoked key."""
    match = re.fullmatch(KEY_PREFIX + r"([0-9a-f]{12})_([A-Za-z0-9_\-]{20,64})", api_key or "")
    if not match:
        return None
    prefix, secret = match.groups()
    # one indexed query (unique prefix) for the key and its merchant: every API call pays it
    found = session.execute(select(ApiKey.key_hash, ApiKey.revoked_at, Merchant)
                            .join(Merchant, Merchant.id == ApiKey.merchant_id)
                            .where(ApiKey.prefix == prefix)).first()
    if found is None or found.revoked_at is not None:
        return None
    if not hmac.compare_digest(found.key_hash, _digest(secret)):
        return None
    return found.Merchant


def authenticate(session, email, password):
    """The user with these credentials, or None. Same cost whether or not the email exists."""
    user = session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    try:
        if user is None:
            _hasher.verify(_DUMMY_HASH, password or "")
            return None
        _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return None
    return user


_DUMMY_HASH = _hasher.hash("debito-timing-equaliser")
