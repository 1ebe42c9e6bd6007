from datetime import date, datetime

import pytest
from dateutil.easter import easter

from common.calendar import (
    add_business_days,
    business_days_between,
    following_business_day,
    is_business_day,
    next_business_day,
    previous_business_day,
)

YEARS = [2025, 2026, 2027]


@pytest.mark.parametrize("year", YEARS)
@pytest.mark.parametrize("month, day", [(1, 1), (5, 1), (12, 25), (12, 26)])
def test_fixed_target2_holidays_are_closed(year, month, day):
    assert not is_business_day(date(year, month, day))


@pytest.mark.parametrize("year", YEARS)
def test_good_friday_and_easter_monday_are_closed(year):
    sunday = easter(year)
    assert not is_business_day(date.fromordinal(sunday.toordinal() - 2))
    assert not is_business_day(date.fromordinal(sunday.toordinal() + 1))


def test_easter_dates_match_the_known_calendar():
    assert [easter(y) for y in YEARS] == [date(2025, 4, 20), date(2026, 4, 5), date(2027, 3, 28)]


@pytest.mark.parametrize("day", [date(2026, 11, 28), date(2026, 11, 29)])
def test_weekends_are_closed(day):
    assert not is_business_day(day)


def test_an_ordinary_tuesday_is_open():
    assert is_business_day(date(2026, 11, 24))


@pytest.mark.parametrize(
    "day", [date(2026, 7, 14), date(2025, 10, 3), date(2026, 12, 24), date(2026, 12, 31)]
)
def test_national_holidays_are_open_for_target2(day):
    assert is_business_day(day)


def test_a_datetime_is_refused_rather_than_misjudged():
    with pytest.raises(TypeError):
        is_business_day(datetime(2026, 1, 1, 12, 0))


def test_next_business_day_of_an_open_day_is_that_day():
    assert next_business_day(date(2026, 4, 2)) == date(2026, 4, 2)


def test_next_business_day_skips_the_easter_weekend():
    assert next_business_day(date(2026, 4, 3)) == date(2026, 4, 7)


def test_following_business_day_of_the_thursday_before_easter_is_the_tuesday_after():
    assert following_business_day(date(2026, 4, 2)) == date(2026, 4, 7)


def test_next_business_day_over_new_year():
    assert next_business_day(date(2026, 12, 25)) == date(2026, 12, 28)
    assert following_business_day(date(2026, 12, 31)) == date(2027, 1, 4)
    assert next_business_day(date(2027, 1, 1)) == date(2027, 1, 4)


def test_day_before_the_tuesday_after_easter_is_the_thursday_before_good_friday():
    assert previous_business_day(date(2026, 4, 7)) == date(2026, 4, 2)


def test_day_before_the_first_business_day_of_the_year_is_the_last_of_the_previous():
    assert previous_business_day(date(2027, 1, 4)) == date(2026, 12, 31)
    assert previous_business_day(date(2026, 1, 2)) == date(2025, 12, 31)


def test_previous_business_day_of_a_monday_is_the_friday():
    assert previous_business_day(date(2026, 11, 30)) == date(2026, 11, 27)


def test_adding_zero_business_days_rolls_to_the_next_open_day():
    assert add_business_days(date(2026, 11, 28), 0) == date(2026, 11, 30)
    assert add_business_days(date(2026, 11, 24), 0) == date(2026, 11, 24)


def test_adding_business_days_skips_weekends_and_holidays():
    assert add_business_days(date(2026, 4, 2), 1) == date(2026, 4, 7)
    assert add_business_days(date(2026, 4, 1), 5) == date(2026, 4, 10)
    assert add_business_days(date(2026, 12, 23), 3) == date(2026, 12, 29)


def test_adding_business_days_to_a_saturday_counts_from_the_monday():
    assert add_business_days(date(2026, 11, 28), 1) == date(2026, 11, 30)
    assert add_business_days(date(2026, 11, 28), 2) == date(2026, 12, 1)


def test_subtracting_business_days_goes_back_over_holidays():
    assert add_business_days(date(2026, 4, 7), -1) == date(2026, 4, 2)
    assert add_business_days(date(2026, 4, 7), -2) == date(2026, 4, 1)
    assert add_business_days(date(2027, 1, 4), -2) == date(2026, 12, 30)


def test_business_days_between_inverts_adding_them():
    start = date(2026, 3, 30)
    for n in range(-30, 31):
        end = add_business_days(start, n)
        assert business_days_between(start, end) == n


def test_no_business_days_lie_between_a_day_and_itself():
    assert business_days_between(date(2026, 4, 3), date(2026, 4, 3)) == 0


def test_business_days_between_spans_the_easter_weekend():
    assert business_days_between(date(2026, 4, 2), date(2026, 4, 7)) == 1
    assert business_days_between(date(2026, 4, 7), date(2026, 4, 2)) == -1
