"""ledger.statement_page on PostgreSQL (a rolled-back session): the pages' CSV lines, put
end to end, are the one-shot statement as common.csv writes it, and the running
balance crosses their boundaries."""
import csv
import io
import random
from datetime import date, datetime, timedelta, timezone

import pytest

from common.csv import CsvWriter
from common.errors import Invalid
from payments import ledger
from payments.models import LedgerEntry

A, B = "MEaaaa", "MEbbbb"


@pytest.fixture
def session(db_session):
    rng = random.Random(6)
    session = db_session("payments")
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
    """A page's CSV lines read back: amounts and balances as int cents, texts as written."""
    mark = page["decimal"]
    return [[int(cell.replace(mark, "")) if name in ("amount", "balance") else cell
             for name, cell in zip(page["columns"], row)]
            for row in csv.reader(io.StringIO(page["lines"], newline=""), delimiter=";")]


def one_shot(statement, decimal=","):
    """The one-shot statement's entries as common.csv writes them (no BOM nor header)."""
    file = io.BytesIO()
    writer = CsvWriter(file, ledger.STATEMENT_COLUMNS, decimal=decimal, amounts=("amount", "balance"))
    header = len(file.getvalue())
    writer.writerows([e[c] for c in ledger.STATEMENT_COLUMNS] for e in statement["entries"])
    return file.getvalue()[header:].decode("utf-8")


def pages(session, limit, decimal=None):
    found, cursor = [], None
    while True:
        page = ledger.statement_page(session, A, date(2027, 1, 1), date(2027, 1, 31), cursor, limit, decimal)
        found.append(page)
        cursor = page["next_cursor"]
        if not cursor:
            return found


@pytest.mark.parametrize("limit, decimal", [(1, ","), (7, "."), (50, None), (10_000, ",")])
def test_pages_end_to_end_are_the_one_shot_statement(session, limit, decimal):
    statement = ledger.statement(session, A, date(2027, 1, 1), date(2027, 1, 31))
    answered = pages(session, limit, decimal)
    assert "".join(page["lines"] for page in answered) == one_shot(statement, decimal or ",")
    assert {page["decimal"] for page in answered} == {decimal or ","}  # "," when not given
    rows = [row for page in answered for row in rows_of(page)]
    assert [row[7] for row in rows] == [e["balance"] for e in statement["entries"]]
    assert [len(rows_of(page)) for page in answered] == [page["rows"] for page in answered] == [
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


def test_bad_cursor_limit_or_decimal_is_invalid(session):
    for cursor, limit, decimal, field in (
            ("x", 10, ",", "cursor"), ("2027-01-01.LE1.1.2", 10, ",", "cursor"), (None, 0, ",", "limit"),
            (None, True, ",", "limit"), (None, ledger.STATEMENT_PAGE_MAX + 1, ",", "limit"),
            (None, 10, ";", "decimal"), (None, 10, "", "decimal")):
        with pytest.raises(Invalid) as raised:
            ledger.statement_page(session, A, date(2027, 1, 1), date(2027, 1, 31), cursor, limit, decimal)
        assert field in raised.value.fields


def test_cells_holding_separators_quotes_or_line_breaks_come_as_common_csv_writes_them(session):
    for n, label in enumerate(("odd~label", "a;b", 'dit "yoga"', "two\r\nlines", "x\x1fy", "+33")):
        entry = session.get(LedgerEntry, pages(session, 5)[n]["next_cursor"].split(".")[1])
        entry.label = label
    session.flush()
    statement = ledger.statement(session, A, date(2027, 1, 1), date(2027, 1, 31))
    answered = pages(session, 5)
    assert "".join(page["lines"] for page in answered) == one_shot(statement)
    assert [row[5] for page in answered for row in rows_of(page)].count("'+33") == 1
