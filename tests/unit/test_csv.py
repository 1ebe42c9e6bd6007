import csv
import io
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from common.csv import Amount, CsvWriter, iter_csv_rows

BOM = b"\xef\xbb\xbf"


def csv_bytes(header, rows, decimal=","):
    return b"".join(iter_csv_rows(header, rows, decimal=decimal))


def read_back(data):
    assert data.startswith(BOM)
    return list(csv.reader(io.StringIO(data[len(BOM):].decode("utf-8"), newline=""), delimiter=";"))


def test_file_starts_with_a_bom_and_a_header_and_ends_lines_with_crlf():
    data = csv_bytes(["id", "amount"], [["PM1", Amount(1250)]])
    assert data == BOM + b"id;amount\r\nPM1;12,50\r\n"


def test_bom_is_written_once():
    data = csv_bytes(["id"], [["a"], ["b"]])
    assert data.count(BOM) == 1


def test_empty_file_has_the_header_only():
    assert csv_bytes(["id", "name"], []) == BOM + b"id;name\r\n"


def test_each_row_is_a_separate_chunk_for_streaming():
    chunks = list(iter_csv_rows(["id"], [["a"], ["b"]]))
    assert chunks == [BOM + b"id\r\n", b"a\r\n", b"b\r\n"]


@pytest.mark.parametrize(
    "cell, written",
    [
        ("a;b", b'"a;b"'),
        ('say "hi"', b'"say ""hi"""'),
        ("two\r\nlines", b'"two\r\nlines"'),
        ("two\nlines", b'"two\nlines"'),
    ],
)
def test_cells_with_separator_quote_or_line_break_are_quoted(cell, written):
    assert csv_bytes(["x"], [[cell]]) == BOM + b"x\r\n" + written + b"\r\n"


@pytest.mark.parametrize(
    "cell, written",
    [('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'), ("+1", "'+1"), ("-x", "'-x"),
     ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx")],
)
def test_text_that_a_spreadsheet_would_run_gets_a_leading_quote(cell, written):
    assert read_back(csv_bytes(["x"], [[cell]]))[1] == [written]


def test_negative_amount_is_not_taken_for_a_formula():
    assert read_back(csv_bytes(["amount"], [[Amount(-1250)]]))[1] == ["-12,50"]


def test_negative_number_is_not_taken_for_a_formula():
    assert read_back(csv_bytes(["n"], [[-3]]))[1] == ["-3"]


def test_amounts_take_a_decimal_point_on_request():
    assert csv_bytes(["amount"], [[Amount(1250)]], decimal=".") == BOM + b"amount\r\n12.50\r\n"


def test_dates_are_iso_and_none_is_an_empty_cell():
    instant = datetime(2026, 11, 25, 9, 30, tzinfo=timezone.utc)
    data = csv_bytes(["due_date", "at", "note", "n"], [[date(2026, 4, 7), instant, None, 3]])
    assert data.endswith(b"\r\n2026-04-07;2026-11-25T09:30:00+00:00;;3\r\n")


@pytest.mark.parametrize("cell", [12.5, True, Decimal("12.50"), object()])
def test_cells_of_an_ambiguous_type_are_refused(cell):
    with pytest.raises(TypeError):
        csv_bytes(["x"], [[cell]])


def test_unknown_decimal_mark_is_refused():
    with pytest.raises(ValueError):
        csv_bytes(["x"], [], decimal=";")


def test_python_csv_module_reads_back_the_original_values():
    rows = [
        ["SB1", "Dupont; Marie", 'dit "Mimi"', "rue 1\r\nParis", "é ü ß €",
         Amount(1250), date(2026, 4, 7), None],
        ["SB2", "plain", "", "", "", Amount(-5), date(2027, 1, 4), None],
    ]
    header = ["subscriber_id", "name", "nickname", "address", "note", "amount", "due_date", "empty"]
    assert read_back(csv_bytes(header, rows)) == [
        header,
        ["SB1", "Dupont; Marie", 'dit "Mimi"', "rue 1\r\nParis", "é ü ß €",
         "12,50", "2026-04-07", ""],
        ["SB2", "plain", "", "", "", "-0,05", "2027-01-04", ""],
    ]


def test_writer_to_a_binary_file_matches_the_stream():
    rows = [["PM1", Amount(-1250), "=1+1"], ["PM2", Amount(5), "a;b"]]
    file = io.BytesIO()
    writer = CsvWriter(file, ["id", "amount", "label"])
    writer.writerow(rows[0])
    writer.writerows(rows[1:])
    assert file.getvalue() == csv_bytes(["id", "amount", "label"], rows)


def test_writer_to_a_text_file_writes_the_same_bytes(tmp_path):
    rows = [["PM1", Amount(-1250), "two\r\nlines"]]
    path = tmp_path / "export.csv"
    with open(path, "w", encoding="utf-8", newline="") as file:
        CsvWriter(file, ["id", "amount", "label"], decimal=".").writerows(rows)
    assert path.read_bytes() == csv_bytes(["id", "amount", "label"], rows, decimal=".")
