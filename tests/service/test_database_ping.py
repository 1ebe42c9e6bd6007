"""The services' PostgreSQL pool (common.database.make_engine) pings a connection that rested
before handing it out, and replaces it if PostgreSQL dropped it meanwhile (a restart, an idle
timeout): the call does not fail. A connection back in use within a burst is not pinged (the
round trip cost every busy call about 8 % of a service's CPU), so one dropped mid-burst fails
its call once, and the pool is recycled for the next."""
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from common import database


def _pid(engine):
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar()


def _terminate(url, pid):
    killer = database.make_engine("ping_test", url)
    with killer.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    killer.dispose()
    time.sleep(0.2)


@pytest.fixture
def url(postgres_database):
    return postgres_database


def test_a_connection_dropped_while_it_rested_is_replaced_before_use(url, monkeypatch):
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.5)
    engine = database.make_engine("ping_test", url)
    try:
        first = _pid(engine)
        _terminate(url, first)
        time.sleep(0.6)  # it has rested: pinged at checkout, found dead, replaced
        second = _pid(engine)
        assert second != first
        assert _pid(engine) == second  # and reused at once, without a ping, while it is busy
    finally:
        engine.dispose()


def test_a_connection_dropped_mid_burst_fails_one_call_and_the_pool_recovers(url, monkeypatch):
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 60)
    engine = database.make_engine("ping_test", url)
    try:
        first = _pid(engine)
        _terminate(url, first)  # back in use within PING_AFTER_IDLE: not pinged
        with pytest.raises(OperationalError):
            _pid(engine)
        assert _pid(engine) not in (None, first)
    finally:
        engine.dispose()
