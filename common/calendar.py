"""TARGET2 business days: the days on which SEPA debits settle.

TARGET2 is closed on weekends, 1 January, Good Friday, Easter Monday, 1 May,
25 and 26 December (the ``holidays`` package's ``XECB`` calendar, which also
knows the one-off closing days of 1999-2001).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache

import holidays

_DAY = timedelta(days=1)


@cache
def _closing_days(year: int) -> frozenset[date]:
    return frozenset(holidays.financial_holidays("XECB", years=year))


def is_business_day(d: date) -> bool:
    """True when TARGET2 is open on ``d``."""
    if isinstance(d, datetime):
        # A datetime never equals a holiday date: refuse rather than answer wrongly.
        raise TypeError("is_business_day takes a date, not a datetime")
    return d.weekday() < 5 and d not in _closing_days(d.year)


def next_business_day(d: date) -> date:
    """``d`` itself if TARGET2 is open that day, else the first open day after it."""
    while not is_business_day(d):
        d += _DAY
    return d


def following_business_day(d: date) -> date:
    """The first business day strictly after ``d`` (D+1)."""
    return next_business_day(d + _DAY)


def previous_business_day(d: date) -> date:
    """The last business day strictly before ``d`` (D-1)."""
    d -= _DAY
    while not is_business_day(d):
        d -= _DAY
    return d


def add_business_days(d: date, n: int) -> date:
    """The ``n``-th business day strictly after ``d`` (before it when ``n`` < 0).

    ``n=1`` is :func:`following_business_day`, ``n=-1`` is
    :func:`previous_business_day`, ``n=0`` is :func:`next_business_day`.
    """
    if n == 0:
        return next_business_day(d)
    step = following_business_day if n > 0 else previous_business_day
    for _ in range(abs(n)):
        d = step(d)
    return d


def business_days_between(a: date, b: date) -> int:
    """The ``n`` such that ``add_business_days(a, n) == b`` for business days ``a`` and ``b``.

    Counts the business days in ``(a, b]``, negated (over ``[b, a)``) when ``b`` < ``a``.
    """
    if b < a:
        return -sum(is_business_day(a - timedelta(days=i)) for i in range(1, (a - b).days + 1))
    return sum(is_business_day(a + timedelta(days=i)) for i in range(1, (b - a).days + 1))
