"""The one clock. Every time-dependent operation asks it for the time.

`DEBITO_CLOCK` (an ISO date or instant) freezes it for a whole cluster, so a
demo or a test can stand on a chosen day; operations that walk through time
take an explicit `as_of` date instead.
"""
from datetime import date, datetime, time, timezone

from common.config import env


def now():
    frozen = env("DEBITO_CLOCK")
    if frozen:
        value = datetime.fromisoformat(frozen) if "T" in frozen else datetime.combine(
            date.fromisoformat(frozen), time(12, 0))
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc)


def today():
    return now().date()
