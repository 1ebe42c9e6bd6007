"""The lines PostgreSQL's COPY writes for the statement export (common.csv's COPY rules and
copy_lines, common.database.copy_out under psycogreen) are byte for byte what the Python writer
writes, for hostile random cells."""
import random

import pytest
from sqlalchemy import BigInteger, Integer, Text, column, create_engine, select, values

from common import csv
from common.database import copy_out

PIECES = ("a", "Zoë", "Ødegård", ";", '"', "\r", "=", "+", "-", "@", "\t", " ", "'", "~", "\\.", "\\N",
          "1,5", "€", "=HYPERLINK(\"http://x\")", "", "NULL")


def random_text(rng):
    if rng.random() < 0.1:
        return None
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 5)))


def random_cents(rng):
    return rng.choice((0, -1, -5, -99, -100, 5, 99, 100, 101, 10**12 + 7, -(10**12) - 7, 2**63 - 1, -(2**63) + 1,
                       rng.randint(-10**7, 10**7)))


def copied(url, rows, decimal):
    table = values(column("n", Integer), column("day", Text), column("a", Text), column("cents", BigInteger),
                   column("b", Text), name="cells").data(rows)
    query = select(table.c.day, csv.sql_text(table.c.a), csv.sql_amount(table.c.cents, decimal),
                   csv.sql_text(table.c.b)).order_by(table.c.n)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return copy_out(connection, query, csv.COPY_OPTIONS)
    finally:
        engine.dispose()


@pytest.mark.parametrize("decimal", [",", "."])
def test_copy_writes_the_lines_the_python_writer_writes(postgres_database, decimal):
    rng = random.Random(8)
    rows = [(n, f"2027-01-{n % 28 + 1:02d}", random_text(rng), random_cents(rng), random_text(rng))
            for n in range(3000)]
    data, count = copied(postgres_database, rows, decimal)
    columns = [[r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows], [r[4] for r in rows]]
    text = csv.copy_lines(data, count)
    assert count == 3000 and text == csv.lines(columns, decimal, [2]).encode("utf-8")
    assert b"'=HYPERLINK" in text and b'"' in text and f";-0{decimal}05;".encode() in text  # the rules were exercised


def test_a_cell_holding_a_line_feed_is_left_to_the_slow_way(postgres_database):
    rows = [(1, "2027-01-01", "Zoë", 1250, "Yoga"), (2, "2027-01-02", "two\nlines", -5, None)]
    assert csv.copy_lines(*copied(postgres_database, rows, ",")) is None
    data, count = copied(postgres_database, rows[:1], ",")
    assert csv.copy_lines(data, count) == "2027-01-01;Zoë;12,50;Yoga\r\n".encode("utf-8")
