"""Statement pages as CSV lines made by PostgreSQL (ledger.statement_page) are
byte for byte what common.csv writes for the same rows read one by one: formula
prefixes, quoting, CR/LF and quotes in cells, empty and absent texts, accents,
amounts and balances from -0,01 to bigint's 19 digits in both decimal marks; and the plan's
bounds are where pages asked up to them end. On the real PostgreSQL."""
import io
import random
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import BigInteger, insert, literal, select
from sqlalchemy.orm import Session

from common.csv import CsvWriter
from common.money import format_amount
from common.database import make_engine
from common.migrations import upgrade
from payments import ledger
from payments.models import LedgerEntry

COLUMNS = ("date", "value_date", "code", "reference", "subscriber", "label", "amount", "balance")
PIECES = ("=", "+", "-", "@", "\t", "\r", "\n", "\r\n", ";", '"', '""', "'", " ", "é", "Ø", "—", "€", "~", "^",
          "\x1f", "a", "Zoë", "1", "SUM(A1)", "\\", "\\.", "%", "_")
AMOUNTS = (0, 1, -1, 5, -5, 99, -99, 100, -100, 12_345, -12_345, 2**31 - 1, -(2**31))  # amount is an integer


def cell(rng):
    if rng.random() < 0.1:
        return None
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 5)))


@pytest.fixture(scope="module")
def engine(postgres_database):
    upgrade("payments", make_engine("payments", postgres_database))
    engine = make_engine("payments", postgres_database)
    yield engine
    engine.dispose()


def book(engine, count, seed):
    merchant = "ME" + uuid.uuid4().hex[:20].upper()
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        day = date(2027, 1, 1) + timedelta(days=n % 20)
        amount = AMOUNTS[n % len(AMOUNTS)] if n < 3 * len(AMOUNTS) else rng.randint(-10**9, 10**9) // 2
        rows.append(dict(id=f"LE{rng.getrandbits(100):030X}", merchant_id=merchant, date=day,
                         value_date=None if n % 4 == 0 else day + timedelta(days=1),
                         code=(cell(rng) or "SDD")[:10], reference=cell(rng), subscriber_name=cell(rng),
                         label=cell(rng), amount=amount, created_at=datetime(2027, 2, 1, tzinfo=timezone.utc)))
    with engine.begin() as connection:
        connection.execute(insert(LedgerEntry), rows)
    return merchant


def written_by_python(entries, decimal):
    """Entries of ledger.statement (read row by row in Python) written by common.csv, without
    its BOM and header."""
    file = io.BytesIO()
    writer = CsvWriter(file, COLUMNS, decimal=decimal, amounts=("amount", "balance"))
    header = len(file.getvalue())
    writer.writerows([entry[name] for name in COLUMNS] for entry in entries)
    return file.getvalue()[header:].decode("utf-8")


@pytest.mark.parametrize("decimal", [",", ".", None])
def test_postgresqls_lines_are_the_csv_writers_bytes_for_hostile_cells(engine, decimal):
    merchant = book(engine, 600, seed=decimal or "default")
    period = (date(2027, 1, 1), date(2027, 1, 31))
    with Session(engine) as session:
        statement = ledger.statement(session, merchant, *period)
        entries = statement["entries"]
        cursor, at, pages = None, 0, 0
        while True:
            page = ledger.statement_page(session, merchant, *period, cursor, 97, decimal)
            rows = min(97, len(entries) - at)
            assert page["decimal"] == (decimal or ",")  # "," when not given
            assert page["lines"] == written_by_python(entries[at:at + rows], decimal or ",")
            assert (page["rows"], page["opening_balance"]) == (rows, None if at else statement["opening_balance"])
            at, pages = at + rows, pages + 1
            cursor = page["next_cursor"]
            if not cursor:
                break
            day, _, balance = cursor.split(".")  # the page's last entry, its running balance
            assert (day, int(balance)) == (entries[at - 1]["date"], entries[at - 1]["balance"])
        assert page["closing_balance"] == statement["closing_balance"] and at == len(entries) == 600
        session.rollback()
    assert pages == 7


def test_the_plans_bounds_are_where_pages_asked_up_to_them_end(engine):
    merchant = book(engine, 250, seed=3)  # 12 or 13 entries a day over 20 days
    period = (date(2027, 1, 1), date(2027, 1, 31))
    with Session(engine) as session:
        bounds = ledger.statement_plan(session, merchant, *period, 40)["bounds"]
        assert [rows for rows, _ in bounds][-1] == 250 and all(
            0 < after - before <= 40 for (before, _), (after, _) in zip([[0, None]] + bounds, bounds))
        cursor, at = None, 0
        for rows, expected in bounds:  # each page asked up to the next bound ends on its cursor
            page = ledger.statement_page(session, merchant, *period, cursor, rows - at, ",")
            assert page["rows"] == rows - at
            cursor, at = page["next_cursor"], rows
            if rows < 250:
                assert cursor == expected
        assert cursor is None and expected.split(".")[2] == str(page["closing_balance"])


@pytest.mark.parametrize("decimal", [",", "."])
def test_postgresqls_euros_are_format_amounts_up_to_bigints_19_digits(engine, decimal):
    cents = [0, 1, -1, 9, -9, 10, -10, 99, -99, 100, -100, 101, 123_456_789, -123_456_789,
             10**17, -(10**17), 10**18 - 1, 2**63 - 1, -(2**63) + 1]
    with engine.connect() as connection:
        written = connection.execute(select(*(ledger._csv_euros(literal(c, BigInteger), decimal) for c in cents))).one()
    assert list(written) == [format_amount(c, decimal) for c in cents]


def test_a_page_whose_row_numbers_come_out_of_order_is_asked_again_with_an_order_by(engine, monkeypatch):
    merchant = book(engine, 120, seed=5)
    period = (date(2027, 1, 1), date(2027, 1, 31))
    with Session(engine) as session:
        expected = ledger.statement_page(session, merchant, *period, None, 50)
        asked = []
        page = ledger._page

        def recorded(*args, **kwargs):
            asked.append(kwargs.get("ordered", False))
            return page(*args, **kwargs)
        monkeypatch.setattr(ledger, "_page", recorded)
        monkeypatch.setattr(ledger, "_row_numbers", lambda rows: "out of order")
        assert ledger.statement_page(session, merchant, *period, None, 50) == expected
        session.rollback()
    assert asked == [False, True] and expected["rows"] == 50
