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
from harness.statement import statement_rows

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
    """A page's CSV lines back to rows: cents as ints, an absent text as "", formulas re-armed."""
    return statement_rows(page)


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


def test_a_page_is_the_export_csv_of_its_entries_in_either_decimal_mark(session):
    """The lines are what common.csv writes: ; inside a cell quoted, formulas disarmed, euros."""
    entry = session.get(LedgerEntry, pages(session, 5)[0]["next_cursor"].split(".")[1])
    entry.label, entry.subscriber_name, entry.amount = 'Yoga; "duo"\r\n', "@SUM(A1)", -5
    session.flush()
    for decimal in (",", "."):
        page = ledger.statement_page(session, A, date(2027, 1, 1), date(2027, 1, 31), None, 5, decimal)
        text = page["csv"].decode("utf-8")
        last = text.split("\r\n")[4]
        assert last.startswith(f"{entry.date.isoformat()};") and text.endswith("\r\n")
        assert f";{entry.code};PM" in last and last.endswith(";'@SUM(A1);\"Yoga; \"\"duo\"\"")
        assert text.split("\r\n")[5].startswith(f"\";-0{decimal}05;")
        assert text.count("\r\n") == 6  # the label's CR LF is inside its quotes
