"""Refusing guesses: failed logins and API keys are counted in the gateway's database (every
gateway replica sees the same counts), per hashed email and per client address. Past
`*_MAX_FAILURES` failures within `*_FAILURE_WINDOW` seconds the gateway answers 429 with
Retry-After, even to the right password or key, until the oldest failure leaves the window.
(Behind a proxy the client address is the proxy's: count per forwarded address there.)"""
import hashlib
from datetime import timedelta

from sqlalchemy import delete, select

from common import clock
from common.config import env
from common.schemas import to_utc
from gateway.models import FailedAttempt

DEFAULTS = {"login": (10, 900), "api_key": (20, 300)}  # failures, within seconds


def limits(kind):
    failures, window = DEFAULTS[kind]
    prefix = kind.upper()
    return int(env(f"{prefix}_MAX_FAILURES", str(failures))), int(env(f"{prefix}_FAILURE_WINDOW", str(window)))


def _digest(kind, key):
    return hashlib.sha256(f"{kind}:{key}".encode()).hexdigest()


def retry_after(session, kind, keys):
    """0 when `keys` may try again, else the seconds until they may."""
    failures, window = limits(kind)
    now = clock.now()
    wait = 0
    for key in keys:
        recent = session.scalars(
            select(FailedAttempt.at).where(FailedAttempt.kind == kind, FailedAttempt.key == _digest(kind, key),
                                           FailedAttempt.at > now - timedelta(seconds=window))
            .order_by(FailedAttempt.at.desc()).limit(failures)).all()
        if len(recent) >= failures:
            # when the oldest of the last `failures` leaves the window
            freed = to_utc(recent[-1]) + timedelta(seconds=window)
            wait = max(wait, int((freed - now).total_seconds()) + 1)
    return wait


def record_failure(session, kind, keys):
    """One failure against each of `keys`; the expired ones of those keys go. Commits."""
    _, window = limits(kind)
    now = clock.now()
    digests = [_digest(kind, key) for key in keys]
    session.execute(delete(FailedAttempt).where(FailedAttempt.kind == kind, FailedAttempt.key.in_(digests),
                                                FailedAttempt.at <= now - timedelta(seconds=window)))
    session.add_all(FailedAttempt(kind=kind, key=digest, at=now) for digest in digests)
    session.commit()


def forget(session, kind, key):
    """A success: the failures counted against `key` go (not those of its address). Commits."""
    session.execute(delete(FailedAttempt).where(FailedAttempt.kind == kind, FailedAttempt.key == _digest(kind, key)))
    session.commit()
