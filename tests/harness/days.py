"""The days a test builds its data from: the one clock (common.clock) and the TARGET2
calendar, never the wall clock, so that the suite passes on any day (`make test-dates`).

Under faketime the clock gives the faked day, the very day the cluster's processes see.
A rule that needs a business day (a one-off due date, a replay) gets one from the calendar:
`today + N` alone falls on a weekend or a holiday on some days. A test about a closing day
names its date.
"""
from datetime import date, timedelta

from common import clock
from common.calendar import next_business_day


def today():
    return clock.today()


def days_ago(n):
    return today() - timedelta(days=n)


def days_ahead(n):
    return today() + timedelta(days=n)


def business_day_ahead(n):
    """The first TARGET2 business day at least `n` calendar days ahead: with `n` above the
    pre-notification's 14 days, a due date `POST /payments` and a replay accept."""
    return next_business_day(days_ahead(n))


def next_year(month, day):
    """`month`/`day` of next year: a schedule's start that is always ahead, whatever today is."""
    return date(today().year + 1, month, day)
