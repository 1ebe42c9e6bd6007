"""marshmallow pieces every service's wire format uses: loading with errors
that name the field, trimmed text, SEPA identifiers, strict numbers, UTC
instants, keyset pages."""
from datetime import date, timezone
from functools import lru_cache

import phonenumbers
from marshmallow import Schema, ValidationError, fields, pre_load

from common.errors import Invalid, Malformed
from common.sepa import InvalidIdentifier


@lru_cache(maxsize=None)
def _loader(schema_class):
    """One instance per schema class: loading keeps no state in it, and making one costs
    five times the load of a list's filters."""
    return schema_class()


def load(schema_class, payload):
    """`payload` loaded by the schema, or Invalid naming each bad field."""
    if not isinstance(payload, dict):
        raise Malformed("expected a JSON object")
    try:
        return _loader(schema_class).load(payload)
    except ValidationError as error:
        fields_ = _first_messages(error.normalized_messages())
        field, message = next(iter(fields_.items()))
        while isinstance(message, dict):
            inner, message = next(iter(message.items()))
            field = f"{field}.{inner}"
        raise Invalid(f"{field}: {message}", fields_) from None


def _first_messages(messages):
    """{field: first message}; a nested object's errors stay nested ({"subscriber": {...}})."""
    return {name: _first_messages(value) if isinstance(value, dict)
            else (value[0] if isinstance(value, list) else str(value))
            for name, value in messages.items()}


def iso_date(value, field):
    """An RPC's date argument written `YYYY-MM-DD`, or Invalid naming `field`."""
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise Invalid(f"{field}: an ISO date (YYYY-MM-DD)", {field: "an ISO date (YYYY-MM-DD)"}) from None


def to_utc(value):
    """SQLite hands back naive datetimes: they are UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def dump_page(schema_class, page):
    return {"items": list_dumper(schema_class)(page.items), "next_cursor": page.next_cursor}


def list_dumper(schema_class):
    """`schema_class(many=True).dump`, of one instance made once per schema class (dumping
    keeps no state in it)."""
    return _many(schema_class).dump


@lru_cache(maxsize=None)
def _many(schema_class):
    return schema_class(many=True)


def _unstorable(value):
    """A text PostgreSQL cannot store (a NUL, a lone surrogate), anywhere in `value`."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return "\x00" in value
    if isinstance(value, dict):
        return any(map(_unstorable, value.values()))
    if isinstance(value, list):
        return any(map(_unstorable, value))
    return False


class In(Schema):
    """Unknown fields are refused (marshmallow's default); null is absent (spec §6); a text
    holding a NUL or a lone surrogate is refused (422, never a database error)."""

    @pre_load
    def drop_nulls(self, data, **kwargs):
        if not isinstance(data, dict):
            return data
        refused = {key: "a NUL or an invalid character" for key, value in data.items() if _unstorable(value)}
        if refused:
            raise ValidationError(refused)
        return {k: v for k, v in data.items() if v is not None}


class Text(fields.String):
    """A trimmed string; empty after trimming counts as missing."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise ValidationError("must not be empty")
        return text


class Identifier(fields.String):
    """A SEPA identifier checked and normalised by a common.sepa function."""

    def __init__(self, check, **kwargs):
        super().__init__(**kwargs)
        self.check = check

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return self.check(super()._deserialize(value, attr, data, **kwargs))
        except InvalidIdentifier as error:
            raise ValidationError(error.message) from None


class StrictInt(fields.Field):
    """An integer, never a bool, a float or a numeric string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("an integer")
        return value


class StrictBool(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("true or false")
        return value


class Instant(fields.DateTime):
    """Written as an ISO instant in UTC."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else to_utc(value).isoformat()


class Phone(fields.String):
    """E.164 (`+33612345678`), checked with phonenumbers; spaces and dots are accepted and dropped."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            raise ValidationError("a phone number in international format, e.g. +33612345678") from None
        if not phonenumbers.is_valid_number(number):
            raise ValidationError("not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
