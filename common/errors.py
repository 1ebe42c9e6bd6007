"""Errors that cross service boundaries.

Each class has a stable dotted path (`common.errors.NotFound`) registered with
nameko, so the gateway receives the same class and maps it to HTTP in one
place. Arguments are (message, fields): both survive JSON serialisation.
"""
from nameko.exceptions import deserialize_to_instance


@deserialize_to_instance
class DebitoError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message="", fields=None):
        super().__init__(message, fields or {})

    @property
    def message(self):
        return self.args[0]

    @property
    def fields(self):
        return self.args[1]

    def __str__(self):
        return self.message


@deserialize_to_instance
class Malformed(DebitoError):
    status, code = 400, "malformed"


@deserialize_to_instance
class Unauthorized(DebitoError):
    status, code = 401, "unauthorized"


@deserialize_to_instance
class Forbidden(DebitoError):
    status, code = 403, "forbidden"


@deserialize_to_instance
class NotFound(DebitoError):
    status, code = 404, "not_found"


@deserialize_to_instance
class Conflict(DebitoError):
    status, code = 409, "conflict"


@deserialize_to_instance
class Gone(DebitoError):
    status, code = 410, "gone"


@deserialize_to_instance
class Invalid(DebitoError):
    status, code = 422, "validation_failed"


@deserialize_to_instance
class TooManyRequests(DebitoError):
    status, code = 429, "too_many_requests"


@deserialize_to_instance
class Unavailable(DebitoError):
    status, code = 503, "unavailable"
