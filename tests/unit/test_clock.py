"""The one clock: frozen by DEBITO_CLOCK, moved for a whole cluster through
DEBITO_CLOCK_FILE, the real time otherwise."""
import os
from datetime import date, datetime, timezone

import pytest

from common import clock


@pytest.fixture
def clock_file(monkeypatch, tmp_path):
    monkeypatch.delenv("DEBITO_CLOCK", raising=False)
    path = tmp_path / "clock"
    monkeypatch.setenv("DEBITO_CLOCK_FILE", str(path))
    return path


def test_without_a_file_the_clock_is_the_real_time(clock_file):
    before = datetime.now(timezone.utc)
    assert before <= clock.now() <= datetime.now(timezone.utc)


def test_every_write_of_the_file_moves_the_clock_at_the_next_call(clock_file):
    clock.set_clock(date(2026, 5, 4))
    assert clock.today() == date(2026, 5, 4)
    assert clock.now() == datetime(2026, 5, 4, 12, tzinfo=timezone.utc)
    for day in range(5, 25):  # quick successive writes are all seen (no stale cache)
        clock.set_clock(date(2026, 5, day))
        assert clock.today() == date(2026, 5, day)
    clock.set_clock(datetime(2026, 6, 1, 8, 30))
    assert clock.now() == datetime(2026, 6, 1, 8, 30, tzinfo=timezone.utc)


def test_another_process_writing_the_file_moves_this_one(clock_file):
    pid = os.fork()
    if pid == 0:
        clock.set_clock("2031-01-02")
        os._exit(0)
    os.waitpid(pid, 0)
    assert clock.today() == date(2031, 1, 2)


def test_removing_or_emptying_the_file_gives_the_real_time_back(clock_file):
    clock.set_clock(date(2020, 1, 1))
    clock.set_clock(None)
    assert clock.today() == datetime.now(timezone.utc).date()
    clock_file.write_text("")
    assert clock.today() == datetime.now(timezone.utc).date()


def test_debito_clock_wins_over_the_file(clock_file, monkeypatch):
    clock.set_clock(date(2020, 1, 1))
    monkeypatch.setenv("DEBITO_CLOCK", "2029-09-09")
    assert clock.today() == date(2029, 9, 9)


def test_a_value_no_process_could_read_is_refused(clock_file):
    with pytest.raises(ValueError):
        clock.set_clock("next tuesday")
    assert not clock_file.exists()


def test_moving_the_clock_without_a_clock_file_is_an_error(monkeypatch):
    monkeypatch.delenv("DEBITO_CLOCK_FILE", raising=False)
    with pytest.raises(RuntimeError, match="DEBITO_CLOCK_FILE"):
        clock.set_clock(date(2020, 1, 1))
