"""The schedule arithmetic of plans: every frequency, month ends, the last
day, leap years, every TARGET2 closing day, count and end-date limits."""
from datetime import date
from itertools import islice

import pytest

from plans.schedule import due_dates, theoretical_dates


def dates(*args, **kwargs):
    return list(due_dates(*args, **kwargs))


def test_once_is_the_start_date_alone():
    assert dates("once", date(2027, 6, 2)) == [date(2027, 6, 2)]


def test_weekly_adds_seven_days():
    assert dates("weekly", date(2027, 6, 2), count=3) == [date(2027, 6, 2), date(2027, 6, 9), date(2027, 6, 16)]


@pytest.mark.parametrize("frequency, expected", [
    ("monthly", [date(2027, 6, 2), date(2027, 7, 2), date(2027, 8, 2)]),
    ("bimonthly", [date(2027, 6, 2), date(2027, 8, 2), date(2027, 10, 4)]),  # 2 Oct 2027 is a Saturday
    ("quarterly", [date(2027, 6, 2), date(2027, 9, 2), date(2027, 12, 2)]),
    ("semiannual", [date(2027, 6, 2), date(2027, 12, 2), date(2028, 6, 2)]),
    ("annual", [date(2027, 6, 2), date(2028, 6, 2), date(2029, 6, 4)]),  # 2 Jun 2029 is a Saturday
])
def test_month_based_frequencies_step_their_months(frequency, expected):
    assert dates(frequency, date(2027, 6, 2), count=3) == expected


def test_the_31st_clamps_to_each_month_end_computed_from_the_start_month():
    # 2028 is a leap year: 29 Feb; March goes back to the 31st, never to the 29th.
    assert list(islice(theoretical_dates("monthly", date(2028, 1, 31)), 4)) == [
        date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30)]
    assert list(islice(theoretical_dates("monthly", date(2026, 1, 31)), 3)) == [
        date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)]
    # on business days: 30 Apr 2028 is a Sunday, 1 May closed: 2 May
    assert dates("monthly", date(2028, 1, 31), count=4) == [
        date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31), date(2028, 5, 2)]


def test_day_of_month_minus_one_is_the_last_day_of_each_month():
    assert list(islice(theoretical_dates("monthly", date(2028, 1, 10), day_of_month=-1), 3)) == [
        date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31)]


def test_day_of_month_before_the_start_day_begins_next_month():
    assert dates("monthly", date(2027, 6, 10), day_of_month=5, count=2) == [date(2027, 7, 5), date(2027, 8, 5)]


@pytest.mark.parametrize("closed, opened", [
    (date(2027, 6, 5), date(2027, 6, 7)),     # Saturday
    (date(2027, 6, 6), date(2027, 6, 7)),     # Sunday
    (date(2027, 1, 1), date(2027, 1, 4)),     # New Year (a Friday)
    (date(2026, 1, 1), date(2026, 1, 2)),     # New Year (a Thursday)
    (date(2027, 3, 26), date(2027, 3, 30)),   # Good Friday, then the weekend, then Easter Monday
    (date(2027, 3, 29), date(2027, 3, 30)),   # Easter Monday
    (date(2026, 5, 1), date(2026, 5, 4)),     # 1 May (a Friday)
    (date(2029, 5, 1), date(2029, 5, 2)),     # 1 May (a Tuesday)
    (date(2025, 12, 25), date(2025, 12, 29)),  # Christmas, 26 Dec, weekend
    (date(2029, 12, 26), date(2029, 12, 27)),  # 26 December
])
def test_a_date_on_a_closed_day_moves_to_the_next_business_day(closed, opened):
    assert dates("once", closed) == [opened]


def test_good_friday_in_a_monthly_plan_moves_after_easter_monday():
    assert dates("monthly", date(2027, 2, 26), count=2) == [date(2027, 2, 26), date(2027, 3, 30)]


def test_count_limits_the_number_of_dates():
    assert len(dates("weekly", date(2027, 6, 2), count=5)) == 5


def test_end_date_is_inclusive_on_the_theoretical_date():
    # 5 Jun 2027 is a Saturday: the theoretical date is within end_date, its due date after it
    assert dates("weekly", date(2027, 5, 22), end_date=date(2027, 6, 5)) == [
        date(2027, 5, 24), date(2027, 5, 31), date(2027, 6, 7)]
    assert dates("monthly", date(2027, 6, 2), end_date=date(2027, 8, 1)) == [date(2027, 6, 2), date(2027, 7, 2)]


def test_without_count_or_end_date_the_schedule_is_open_ended():
    schedule = due_dates("monthly", date(2027, 6, 2))
    taken = list(islice(schedule, 100))
    assert len(taken) == 100 and taken[-1].year == 2035
    assert len(dates("annual", date(2027, 6, 2), limit=12)) == 12


def test_after_drops_the_dates_on_or_before_it():
    assert dates("monthly", date(2027, 6, 2), count=4, after=date(2027, 7, 2)) == [
        date(2027, 8, 2), date(2027, 9, 2)]


def test_unknown_frequency_is_refused():
    with pytest.raises(ValueError):
        dates("daily", date(2027, 6, 2))
