"""Public ids: a type prefix (`MD`, `PM`, …, spec §2) and a ULID-like body
whose time-ordered head keeps inserts and keyset pages index-friendly."""
import base64
import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32


def base32(number, length):
    """`number` in `length` Crockford base32 characters, most significant first."""
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


_PAIRS = [high + low for high in _ALPHABET for low in _ALPHABET]  # 10 bits -> 2 characters


def _id(prefix, millis, bits):
    pairs = _PAIRS
    return (prefix + pairs[(millis >> 40) & 1023] + pairs[(millis >> 30) & 1023] + pairs[(millis >> 20) & 1023]
            + pairs[(millis >> 10) & 1023] + pairs[millis & 1023] + pairs[bits >> 50]
            + pairs[(bits >> 40) & 1023] + pairs[(bits >> 30) & 1023] + pairs[(bits >> 20) & 1023]
            + pairs[(bits >> 10) & 1023] + pairs[bits & 1023])


def new_id(prefix):
    """`prefix` + 10 chars of milliseconds + 12 random chars (60 bits): base32 of each, by
    pairs of characters (a bank file of 10 000 returns makes 20 000 ids)."""
    return _id(prefix, time.time_ns() // 1_000_000, secrets.randbits(60))


# base64.b32encode's alphabet (RFC 4648) to Crockford's, digit value for digit value
_FROM_RFC4648 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())


class IdMaker:
    """new_id's ids, the random bits read from the system `batch` ids at a time: for bulk work
    in a thread (a read gives the GIL away, and another thread then keeps it for its switch
    interval, 5 ms: a read per 1 024 ids cost a 10 000-return camt.054 some 0.1 s). The
    random characters are written by base64.b32encode (C) for the whole batch, and the
    milliseconds' head once per millisecond."""

    def __init__(self, batch=16384):
        self.tails, self.batch = [], batch + batch % 2  # 15 bytes: two ids' 60 bits, no padding
        self.millis, self.head = None, ""

    def new(self, prefix):
        if not self.tails:
            text = base64.b32encode(secrets.token_bytes(self.batch * 15 // 2)).translate(_FROM_RFC4648).decode()
            self.tails = [text[i:i + 12] for i in range(0, len(text), 12)]
        millis = time.time_ns() // 1_000_000
        if millis != self.millis:
            self.millis, self.head = millis, base32(millis, 10)
        return prefix + self.head + self.tails.pop()


def random_token(nbytes=24):
    return secrets.token_urlsafe(nbytes)

