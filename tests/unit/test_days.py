"""The tests' days come from the one clock and the TARGET2 calendar, not from the wall clock."""
from datetime import date

import pytest

from common.calendar import is_business_day
from harness import days


@pytest.mark.parametrize("frozen", ["2026-12-12", "2026-12-13", "2026-12-24", "2027-03-26", "2028-02-29"])
def test_the_days_follow_the_clock_a_test_sets(monkeypatch, frozen):
    monkeypatch.setenv("DEBITO_CLOCK", frozen)
    today = date.fromisoformat(frozen)
    assert days.today() == today
    assert (today - days.days_ago(3)).days == 3 and (days.days_ahead(5) - today).days == 5
    assert days.next_year(1, 31) == date(today.year + 1, 1, 31)


@pytest.mark.parametrize("frozen, ahead, expected", [
    ("2026-12-07", 20, date(2026, 12, 28)),  # 27 December 2026 is a Sunday, 25 and 26 are closed
    ("2026-12-12", 20, date(2027, 1, 4)),  # 1 January closed, then a weekend
    ("2026-12-27", 20, date(2027, 1, 18)),  # 16 January 2027 is a Saturday: the date
    ("2027-03-06", 20, date(2027, 3, 30)),  # Good Friday 26 March, a weekend, Easter Monday 29 March
])
def test_a_business_day_ahead_is_open_and_far_enough(monkeypatch, frozen, ahead, expected):
    monkeypatch.setenv("DEBITO_CLOCK", frozen)
    due = days.business_day_ahead(ahead)
    assert is_business_day(due) and (due - date.fromisoformat(frozen)).days >= ahead
    assert due == expected
