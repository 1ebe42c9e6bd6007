"""Public ids: a type prefix (`MD`, `PM`, …, spec §2) and a ULID-like body
whose time-ordered head keeps inserts and keyset pages index-friendly."""
import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32


def _base32(number, length):
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_id(prefix):
    """`prefix` + 10 chars of milliseconds + 12 random chars (60 bits)."""
    millis = time.time_ns() // 1_000_000
    return prefix + _base32(millis, 10) + _base32(secrets.randbits(60), 12)


def random_token(nbytes=24):
    return secrets.token_urlsafe(nbytes)

