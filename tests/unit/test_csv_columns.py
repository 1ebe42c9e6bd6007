"""CsvWriter.writerows converts a chunk column by column for speed: the bytes
must be those of the csv module writing the same cells row by row."""
import csv
import io
import random
from datetime import date

import pytest

from common.csv import Amount, CsvWriter

TEXTS = ["", "plain", "Émilie Müller-Lefèvre", "a;b", 'dit "Mimi"', "two\r\nlines", "one\nline", "\rcr",
         "=1+1", "+33", "-x", "@SUM(A1)", "\ttab", "ok=", "x\x1f=y", "\x1fz", "'quoted'"]


def reference(header, rows, decimal=",", amounts=()):
    """The writer's contract, spelled the slow way: one csv.writer call per row."""
    def text(cell, column):
        if type(cell) is int and column in amounts:
            cell = Amount(cell)
        if cell is None:
            return ""
        if isinstance(cell, str):
            return "'" + cell if cell.startswith(("=", "+", "-", "@", "\t", "\r")) else cell
        if isinstance(cell, Amount):
            sign, (units, rest) = "-" if cell.cents < 0 else "", divmod(abs(cell.cents), 100)
            return f"{sign}{units}{decimal}{rest:02d}"
        if isinstance(cell, int):
            return str(cell)
        return cell.isoformat()
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([text(cell, column) for cell, column in zip(row, header)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def random_cell(rng, kind):
    if rng.random() < 0.1:
        return None
    if kind == "text":
        return rng.choice(TEXTS)
    if kind in ("amount", "int"):
        return rng.choice([0, 5, -5, 99, -100, 1250, -1250, 10**12 + 7, -(10**12 + 7)])
    if kind == "money":
        return Amount(rng.choice([0, 1, -1, 1250, -99999]))
    return date(2027, 1, rng.randint(1, 31))


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("decimal", [",", "."])
def test_writerows_writes_what_the_csv_module_writes_row_by_row(seed, decimal):
    rng = random.Random(seed)
    kinds = ["text", "amount", "int", "money", "date", "text"]
    header = ["label", "amount", "count", "fee", "day", "name"]
    rows = [[random_cell(rng, kind) for kind in kinds] for _ in range(rng.randint(0, 40))]
    if seed % 3 == 0:  # a column mixing Amount and int cents, as the statement's balance rows do
        rows.append(["x", Amount(-5), 1, 7, None, "y"])
    file = io.BytesIO()
    writer = CsvWriter(file, header, decimal=decimal, amounts=["amount", "fee"])
    writer.writerows(rows)
    assert file.getvalue() == reference(header, rows, decimal, amounts={"amount", "fee"})

    one_by_one = io.BytesIO()
    writer = CsvWriter(one_by_one, header, decimal=decimal, amounts=["amount", "fee"])
    for row in rows:
        writer.writerow(row)
    assert one_by_one.getvalue() == file.getvalue()


def test_writerows_in_chunks_of_any_size_and_ragged_or_single_column_rows(monkeypatch):
    import common.csv

    monkeypatch.setattr(common.csv, "_CHUNK_ROWS", 3)
    rows = [["a", Amount(1)], ["=b", None], ["c;d", Amount(-250)], ["e", Amount(3)], ["f"]]
    file = io.BytesIO()
    CsvWriter(file, ["x", "y"]).writerows(iter(rows))
    assert file.getvalue() == reference(["x", "y"], rows)
    single = io.BytesIO()
    CsvWriter(single, ["x"]).writerows([[""], ["a"], [None]])
    assert single.getvalue() == "\ufeffx\r\n\"\"\r\na\r\n\"\"\r\n".encode()


@pytest.mark.parametrize("cell", [12.5, True, object()])
def test_writerows_still_refuses_ambiguous_cells(cell):
    with pytest.raises(TypeError):
        CsvWriter(io.BytesIO(), ["x", "y"]).writerows([["a", cell]])


@pytest.mark.parametrize("seed", range(10))
def test_writecolumns_writes_the_rows_those_columns_make(seed):
    rng = random.Random(seed)
    kinds = ["text", "amount", "date", "text"]
    rows = [[random_cell(rng, kind) for kind in kinds] for _ in range(rng.randint(0, 30))]
    header = ["label", "amount", "day", "name"]
    by_rows, by_columns = io.BytesIO(), io.BytesIO()
    CsvWriter(by_rows, header, amounts=["amount"]).writerows(rows)
    CsvWriter(by_columns, header, amounts=["amount"]).writecolumns([list(c) for c in zip(*rows)] or [[]] * 4)
    assert by_columns.getvalue() == by_rows.getvalue() == reference(header, rows, amounts={"amount"})
    with pytest.raises(ValueError):
        CsvWriter(io.BytesIO(), header).writecolumns([["a"], ["b", "c"], [], []])
