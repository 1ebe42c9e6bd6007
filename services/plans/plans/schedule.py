"""The due dates of a plan: plain arithmetic on TARGET2 business days.

The rule:

1. Theoretical dates. ``once``: the start date alone. ``weekly``: the start
   date + 7 days × n. Month-based frequencies (``monthly`` 1 month,
   ``bimonthly`` 2, ``quarterly`` 3, ``semiannual`` 6, ``annual`` 12): in the
   month *start month + n × step*, on ``day_of_month`` (1–28, or -1 for the
   last day of the month), else on the start date's day, clamped to the
   month's end. Each date is computed from the start month, never from the
   previous clamped date: 31 Jan → 28 Feb (29 in a leap year) → 31 Mar.
   A ``day_of_month`` that falls before the start date in the start month
   begins in the next period.
2. ``end_date`` is inclusive and compares with the theoretical date; ``count``
   limits the number of dates; with neither the schedule is open-ended (a
   generator: the caller takes what it needs).
3. A theoretical date on a day TARGET2 is closed (weekend, 1 January, Good
   Friday, Easter Monday, 1 May, 25 and 26 December) moves to the next
   business day.
"""
from __future__ import annotations

import calendar as _months
from collections.abc import Iterator
from datetime import date, timedelta
from itertools import count as _count, islice

from common.calendar import next_business_day
from contracts.plans import FREQUENCIES, MONTH_BASED

MONTHS = dict(zip(MONTH_BASED, (1, 2, 3, 6, 12)))  # months between two dates
LAST_DAY = -1


def is_month_based(frequency: str) -> bool:
    return frequency in MONTHS


def month_day(year: int, month: int, day: int) -> date:
    """``day`` of that month, clamped to its end; -1 is the last day."""
    last = _months.monthrange(year, month)[1]
    return date(year, month, last if day == LAST_DAY else min(day, last))


def theoretical_dates(frequency: str, start_date: date, day_of_month: int | None = None,
                      end_date: date | None = None) -> Iterator[date]:
    """The dates of rule 1, up to ``end_date`` (inclusive) if given; not moved to business days."""
    if frequency not in FREQUENCIES:
        raise ValueError(f"unknown frequency {frequency!r}")
    if frequency == "once":
        candidates = iter([start_date])
    elif frequency == "weekly":
        candidates = (start_date + timedelta(days=7 * n) for n in _count())
    else:
        step, day = MONTHS[frequency], day_of_month or start_date.day
        candidates = (month_day(start_date.year + (start_date.month - 1 + n * step) // 12,
                                (start_date.month - 1 + n * step) % 12 + 1, day) for n in _count())
    for candidate in candidates:
        if candidate < start_date:  # day_of_month before the start day: the next period begins
            continue
        if end_date is not None and candidate > end_date:
            return
        yield candidate


def due_dates(frequency: str, start_date: date, count: int | None = None, end_date: date | None = None,
              day_of_month: int | None = None, after: date | None = None,
              limit: int | None = None) -> Iterator[date]:
    """The due dates (rule 1–3), in order.

    ``count`` counts from the start date; ``after`` then drops the due dates on
    or before it and ``limit`` caps how many are yielded.
    """
    dates = (next_business_day(d) for d in islice(
        theoretical_dates(frequency, start_date, day_of_month, end_date), count))
    if after is not None:
        dates = (d for d in dates if d > after)
    return islice(dates, limit)
