"""IBANs masked in logs (issue 9): a logging filter that rewrites every record's
message, arguments and traceback with the IBANs masked as the lists mask them
(common.sepa.mask_iban), installed on the handlers of every process (the
services' LOGGING in config.yml, the gateway, the scheduler, the sandbox bank).

An IBAN is found by its shape: a country with an IBAN format, two check digits,
then exactly that country's number of letters and digits, written compact, in
groups of four, or with the `+` / `%20` of a URL. A Debito id (`MD` + 22
Crockford characters, as long as a Moldovan IBAN) is left alone unless its
check digits hold."""
import logging
import re
from functools import lru_cache
from string import ascii_uppercase

from schwifty import registry
from schwifty.exceptions import SchwiftyException

from common.sepa import mask_iban

_START = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})(\d{2})")
_SEPARATOR = re.compile(r"\s|\+|%20", re.IGNORECASE)
_CROCKFORD = frozenset("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


@lru_cache(maxsize=1)
def _lengths():
    """{country: IBAN length} for every country schwifty knows an IBAN format of."""
    lengths = {}
    for country in (a + b for a in ascii_uppercase for b in ascii_uppercase):
        try:
            lengths[country] = registry.get_iban_spec(country).iban_length
        except SchwiftyException:
            continue
    return lengths


def _check_digits_hold(compact):
    rearranged = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1
    except ValueError:
        return False


def _looks_like_an_id(written, compact):
    return written == compact and len(compact) == 24 and set(compact[2:].upper()) <= _CROCKFORD


def _iban_at(text, start):
    """(end, compact IBAN) of an IBAN written from `start`, or None."""
    country = text[start:start + 2].upper()
    length = _lengths().get(country)
    if length is None:
        return None
    chars, position = [], start
    while len(chars) < length and position < len(text):
        if text[position].isascii() and text[position].isalnum():
            chars.append(text[position])
            position += 1
            continue
        separator = _SEPARATOR.match(text, position) if chars and len(chars) % 4 == 0 else None
        if separator is None:
            return None
        position = separator.end()
    if len(chars) < length:
        return None
    if position < len(text) and text[position].isascii() and text[position].isalnum():
        return None  # a longer word: not this IBAN
    compact = "".join(chars).upper()
    if _looks_like_an_id(text[start:position], compact) and not _check_digits_hold(compact):
        return None
    return position, compact


def redact(text):
    """`text` with each IBAN in it masked (`FR76 **** **** **** **** ***0 189`)."""
    if not isinstance(text, str) or len(text) < 15:
        return text
    out, done = [], 0
    for found in _START.finditer(text):
        if found.start() < done:
            continue
        iban = _iban_at(text, found.start())
        if iban is None:
            continue
        end, compact = iban
        out.append(text[done:found.start()])
        out.append(mask_iban(compact))
        done = end
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


class IbanFilter(logging.Filter):
    """Masks IBANs in a record before any handler formats it: the message with its
    arguments, the traceback (an exception's text, SQL parameters) and the stack."""

    _formatter = logging.Formatter()

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging reports it itself
            return True
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(logger=None):
    """Put the filter on every handler of `logger` (the root by default), once."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, IbanFilter) for f in handler.filters):
            handler.addFilter(IbanFilter())
