"""One-time passwords (spec §2): 6 digits from `secrets`, stored as a keyed
hash, valid 10 minutes, 5 wrong attempts fail the order, a new code at most
once a minute and 5 times per order. Plain functions: times are passed in."""
import hashlib
import hmac
import secrets
from datetime import timedelta

from common.errors import TooManyRequests
from common.schemas import to_utc

DIGITS = 6
VALIDITY = timedelta(minutes=10)
MAX_ATTEMPTS = 5
RESEND_INTERVAL = timedelta(seconds=60)
MAX_SENDS = 5


def new_code():
    return f"{secrets.randbelow(10 ** DIGITS):0{DIGITS}d}"


def hash_code(code, order_id, key):
    """HMAC-SHA256 keyed by SECRET_KEY and bound to the order: a leaked table
    gives neither the codes nor a way to try the 10^6 of them offline."""
    message = f"{order_id}:{code}".encode("utf-8")
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(code, stored_hash, order_id, key):
    """Whether `code` is the one hashed; constant time, whatever the input."""
    if stored_hash is None or not isinstance(code, str):
        return False
    return hmac.compare_digest(hash_code(code.strip(), order_id, key), stored_hash)


def is_expired(sent_at, now):
    return sent_at is None or now >= to_utc(sent_at) + VALIDITY


def check_can_send(last_sent_at, sends, now, interval=RESEND_INTERVAL, most=MAX_SENDS, what="code"):
    """TooManyRequests when the last send was under a minute ago or `most` went out already."""
    if sends >= most:
        raise TooManyRequests(f"{most} {what}s were sent for this order already: no more",
                              {"retry_after": None})
    if last_sent_at is not None:
        wait = to_utc(last_sent_at) + interval - now
        if wait > timedelta(0):
            seconds = int(wait.total_seconds()) + (wait.microseconds > 0)
            raise TooManyRequests(f"a {what} was sent less than a minute ago: retry in {seconds} s",
                                  {"retry_after": seconds})
