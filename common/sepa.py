"""SEPA identifiers: IBAN, BIC, creditor identifier (ICS) and mandate reference (UMR).

Every ``validate_*`` function returns the normalised value or raises
:class:`InvalidIdentifier`, whose ``field`` names the offending field.
"""

from __future__ import annotations

import re
import secrets
from datetime import date

from schwifty import BIC, IBAN, registry
from schwifty.exceptions import (
    InvalidChecksumDigits,
    InvalidCountryCode,
    InvalidLength,
    SchwiftyException,
)
from stdnum.iso7064 import mod_97_10

from common import clock


class InvalidIdentifier(ValueError):
    """A SEPA identifier that does not pass its checks."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _compact(value: object, field: str, label: str) -> str:
    if not isinstance(value, str):
        raise InvalidIdentifier(field, f"{label} must be a string")
    compact = "".join(value.split())
    if not compact:
        raise InvalidIdentifier(field, f"{label} is empty")
    # Checked before upper() so that e.g. "ß" cannot turn into "SS".
    if not re.fullmatch(r"[A-Za-z0-9]+", compact):
        raise InvalidIdentifier(field, f"{label} may only contain letters and digits")
    return compact.upper()


def _in_sepa_scheme(country_code: str) -> bool:
    # schwifty's registry carries the EPC list of SEPA countries with each IBAN format.
    try:
        return registry.get_iban_spec(country_code).in_sepa_zone
    except SchwiftyException:
        return False


def validate_iban(value: str) -> str:
    """Return the IBAN in compact form (upper case, no spaces) if valid and in SEPA."""
    iban = _compact(value, "iban", "IBAN")
    country = iban[:2]
    try:
        IBAN(iban)
    except InvalidCountryCode:
        raise InvalidIdentifier("iban", f"unknown IBAN country code {country!r}") from None
    except InvalidLength:
        expected = registry.get_iban_spec(country).iban_length
        raise InvalidIdentifier(
            "iban", f"wrong length: {country} IBANs have {expected} characters, not {len(iban)}"
        ) from None
    except InvalidChecksumDigits:
        raise InvalidIdentifier("iban", "wrong IBAN check digits (mistyped?)") from None
    except SchwiftyException:
        raise InvalidIdentifier("iban", f"not a valid {country} IBAN format") from None
    if not _in_sepa_scheme(country):
        raise InvalidIdentifier("iban", f"{country} is not in the SEPA scheme")
    return iban


def validate_bic(value: str) -> str:
    """Return the BIC in compact form (8 or 11 characters, upper case)."""
    bic = _compact(value, "bic", "BIC")
    try:
        return BIC(bic).compact
    except InvalidLength:
        raise InvalidIdentifier("bic", "a BIC has 8 or 11 characters") from None
    except InvalidCountryCode:
        raise InvalidIdentifier("bic", f"unknown BIC country code {bic[4:6]!r}") from None
    except SchwiftyException:
        raise InvalidIdentifier("bic", "not a valid BIC format") from None


def bic_from_iban(iban: str) -> str | None:
    """The BIC of the IBAN's bank from schwifty's bank registry, None when unknown."""
    bic = IBAN(validate_iban(iban)).bic
    return bic.compact if bic is not None else None


# EPC262-08 national parts of fixed length; other countries only get the generic checks.
_ICS_LENGTHS = {"AT": 18, "DE": 18, "ES": 16, "FR": 13, "NL": 19}
_ICS = re.compile(r"([A-Z]{2})([0-9]{2})([A-Z0-9]{3})([A-Z0-9]{1,28})")


def validate_creditor_id(value: str) -> str:
    """Return the SEPA creditor identifier (ICS) in compact form, e.g. ``FR72ZZZ123456``.

    Layout: country code, 2 check digits, 3-character creditor business code,
    national identifier. The check digits are ISO 7064 MOD 97-10 over the
    national identifier followed by the country code (the business code is
    ignored, as EPC262-08 prescribes).
    """
    ics = _compact(value, "creditor_id", "creditor identifier")
    if len(ics) > 35:
        raise InvalidIdentifier("creditor_id", "a creditor identifier has at most 35 characters")
    match = _ICS.fullmatch(ics)
    if not match:
        raise InvalidIdentifier(
            "creditor_id",
            "a creditor identifier is a country code, 2 check digits, a 3-character "
            "business code and the national identifier (e.g. FR72ZZZ123456)",
        )
    country, check_digits, _business_code, national_id = match.groups()
    if not _in_sepa_scheme(country):
        raise InvalidIdentifier("creditor_id", f"{country} is not in the SEPA scheme")
    expected = _ICS_LENGTHS.get(country)
    if expected and len(ics) != expected:
        raise InvalidIdentifier(
            "creditor_id",
            f"wrong length: {country} creditor identifiers have {expected} characters, "
            f"not {len(ics)}",
        )
    if not mod_97_10.is_valid(national_id + country + check_digits):
        raise InvalidIdentifier("creditor_id", "wrong creditor identifier check digits (mistyped?)")
    return ics


_UMR_CHARACTERS = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]+")


def validate_umr(value: str) -> str:
    """Return the mandate reference (UMR) without surrounding spaces if valid.

    1 to 35 characters of the SEPA Latin set ``A-Z a-z 0-9 / - ? : ( ) . , ' +``
    and space; the EPC rulebook forbids a leading ``/`` and ``//`` anywhere.
    """
    if not isinstance(value, str):
        raise InvalidIdentifier("reference", "the mandate reference must be a string")
    umr = value.strip()
    if not umr:
        raise InvalidIdentifier("reference", "the mandate reference is empty")
    if len(umr) > 35:
        raise InvalidIdentifier(
            "reference", f"a mandate reference has at most 35 characters, not {len(umr)}"
        )
    if not _UMR_CHARACTERS.fullmatch(umr):
        bad = next(c for c in umr if not _UMR_CHARACTERS.fullmatch(c))
        raise InvalidIdentifier(
            "reference",
            f"character {bad!r} is not allowed in a mandate reference "
            "(allowed: A-Z a-z 0-9 / - ? : ( ) . , ' + and space)",
        )
    if umr.startswith("/"):
        raise InvalidIdentifier("reference", "a mandate reference must not start with '/'")
    if "//" in umr:
        raise InvalidIdentifier("reference", "a mandate reference must not contain '//'")
    return umr


# Crockford base32: no I, L, O, U, so a reference read over the phone is unambiguous.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def generate_umr(prefix: str = "DBT", today: date | None = None) -> str:
    """A new mandate reference such as ``DBT-20261125-7K3QX9PM2A``.

    ``today`` defaults to the application clock's date. Ten random Crockford
    characters are 50 bits: collisions are negligible.
    """
    today = today or clock.today()
    suffix = "".join(secrets.choice(_CROCKFORD) for _ in range(10))
    return validate_umr(f"{prefix}-{today:%Y%m%d}-{suffix}")


def mask_iban(iban: str) -> str:
    """``FR76 **** **** **** **** ***0 189``: country, check digits and last 4 kept."""
    compact = "".join(iban.split()).upper()
    if len(compact) > 8:
        masked = compact[:4] + "*" * (len(compact) - 8) + compact[-4:]
    else:
        masked = "*" * len(compact)
    return " ".join(masked[i : i + 4] for i in range(0, len(masked), 4))
