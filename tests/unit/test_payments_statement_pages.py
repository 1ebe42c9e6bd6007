"""ledger.statement_page on SQLite (`make run`'s default): the pages, put end to
end, are the one-shot statement, and the running balance crosses their boundaries."""
import random
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from common.errors import Invalid
from payments import ledger
from payments.models import Base, LedgerEntry

A, B = "MEaaaa", "MEbbbb"


@pytest.fixture
def session():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    rng = random.Random(6)
    with Session(engine) as session:
        for n in range(260):
            day = date(2027, 1, 1) + timedelta(days=n % 45 - 10)  # ten days before the period
            session.add(LedgerEntry(
                id=f"LE{rng.getrandbits(60):016X}", merchant_id=A if n % 13 else B, date=day,
                value_date=None if n % 7 == 0 else day + timedelta(days=1), code="SDD" if n % 4 else "REJ",
                reference=f"PM{n}", subscriber_name=None if n % 5 == 0 else "Zoë Ødegård",
                label="=1+1" if n % 9 == 0 else "Yoga", amount=rng.randint(-5000, 20000),
                created_at=datetime(2027, 3, 1, tzinfo=timezone.utc)))
        session.commit()
        yield session


def rows_of(page):
    """A page's columns back to rows: cents as ints, an absent text as ""."""
    columns = [value.split(page["separator"]) if page["rows"] else [] for value in page["values"]]
    return [[int(cell) if name in ("amount", "balance") else cell for name, cell in zip(page["columns"], row)]
            for row in zip(*columns)]


def one_shot(statement):
    return [["" if e[c] is None else e[c] for c in ledger.STATEMENT_COLUMNS] for e in statement["entries"]]


def pages(session, limit):
    found, cursor = [], None
    while True:
        page = ledger.statement_page(session, A, date(2027, 1, 1), date(2027, 1, 31), cursor, limit)
        found.append(page)
        cursor = page["next_cursor"]
        if not cursor:
            return found


@pytest.mark.parametrize("limit", [1, 7, 50, 10_000])
def test_pages_end_to_end_are_the_one_shot_statement(session, limit):
    statement = ledger.statement(session, A, date(2027, 1, 1), date(2027, 1, 31))
    answered = pages(session, limit)
    rows = [row for page in answered for row in rows_of(page)]
    assert rows == one_shot(statement) and [page["rows"] for page in answered] == [
        min(limit, len(rows) - n) for n in range(0, len(rows), limit)]
    assert len(answered) == max(1, -(-len(rows) // limit))
    assert answered[0]["opening_balance"] == statement["opening_balance"] != 0
    assert answered[-1]["closing_balance"] == statement["closing_balance"]
    assert [p["opening_balance"] is None for p in answered] == [False] + [True] * (len(answered) - 1)
    assert [p["closing_balance"] is None for p in answered] == [True] * (len(answered) - 1) + [False]


def test_a_page_boundary_carries_the_running_balance(session):
    first, second = pages(session, 10)[:2]
    last, following = rows_of(first)[-1], rows_of(second)[0]
    assert following[7] == last[7] + following[6]
    assert first["next_cursor"].endswith(f".{last[7]}")


def test_bad_cursor_or_limit_is_invalid(session):
    for cursor, limit, field in (("x", 10, "cursor"), ("2027-01-01.LE1.1.2", 10, "cursor"), (None, 0, "limit"),
                                 (None, True, "limit"), (None, ledger.STATEMENT_PAGE_MAX + 1, "limit")):
        with pytest.raises(Invalid) as raised:
            ledger.statement_page(session, A, date(2027, 1, 1), date(2027, 1, 31), cursor, limit)
        assert field in raised.value.fields


def test_a_cell_holding_the_separator_moves_the_page_to_the_next_one(session):
    entry = session.get(LedgerEntry, pages(session, 5)[0]["next_cursor"].split(".")[1])
    entry.label = "odd~label"
    session.flush()
    statement = ledger.statement(session, A, date(2027, 1, 1), date(2027, 1, 31))
    answered = pages(session, 5)
    assert {page["separator"] for page in answered} == {"~", "^"}
    assert [row for page in answered for row in rows_of(page)] == one_shot(statement)
