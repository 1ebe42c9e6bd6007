"""The CSV of every export and statement (spec §8), written as a stream.

``;`` separator, RFC 4180 quoting, UTF-8 with BOM, CRLF, a header row.
A cell is one of:

- ``str``: text; if it starts with ``= + - @``, tab or CR it gets a leading
  ``'`` so that a spreadsheet never runs it as a formula;
- ``int``: a number, written as is (a number cannot be a formula);
- :class:`Amount`: cents, written in euros with the file's decimal mark;
- ``date`` / ``datetime``: ISO 8601;
- ``None``: an empty cell.

Anything else (float, bool, Decimal) is refused: the caller decides its text.

``CsvWriter(..., amounts=[column names])`` also writes plain ``int`` cells of
those columns as amounts in cents: the same text as ``Amount``, without an
object per cell (exports of a million rows). ``writerows`` converts a chunk of
rows column by column (one type check per column, not per cell), with the
same output as ``writerow`` row by row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from itertools import islice
from dataclasses import dataclass
from datetime import date
from typing import IO

from common.money import require_cents, format_amount

BOM = "\ufeff"
FORMULA_STARTS = _FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # public: payments' SQL writes the same cells
_CHUNK_ROWS = 5000  # writerows converts and writes this many rows at a time
_CENTS = tuple(f"{n:02d}" for n in range(100))


@dataclass(frozen=True, slots=True)
class Amount:
    """A cell holding an amount in cents: ``Amount(-1250)`` is written ``-12,50``."""

    cents: int


def _text(cell: object, decimal: str) -> str:
    if cell is None:
        return ""
    if isinstance(cell, str):
        return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell
    if isinstance(cell, Amount):
        return format_amount(cell.cents, decimal)
    if isinstance(cell, int) and not isinstance(cell, bool):
        return str(int(cell))
    if isinstance(cell, date):
        return cell.isoformat()
    raise TypeError(f"cannot write a {type(cell).__name__} in a CSV cell: {cell!r}")


def _euros(cents: int, decimal: str) -> str:
    """format_amount for an int already checked."""
    if cents < 0:
        units, rest = divmod(-cents, 100)
        return f"-{units}{decimal}{_CENTS[rest]}"
    units, rest = divmod(cents, 100)
    return f"{units}{decimal}{_CENTS[rest]}"


def _column(cells: tuple, decimal: str, amount: bool) -> list:
    """The CSV text of one column's cells, as `_text` writes each and the csv module quotes it,
    with one type check per column and C-speed searches over the joined column instead of
    tests per cell where possible. Numbers and amounts never need quotes."""
    kinds = set(map(type, cells))
    if kinds <= _TEXT:
        if _NONE in kinds:
            cells = ["" if c is None else c for c in cells]
        joined = _UNIT + _UNIT.join(cells)
        if any(start in joined for start in _FORMULA_MARKS):  # some cell may start like a formula
            cells = ["'" + c if c.startswith(_FORMULA_STARTS) else c for c in cells]
        if ";" in joined or '"' in joined or "\r" in joined or "\n" in joined:
            return _quoted(cells)
        return cells
    if kinds <= _INT:
        if amount:
            d, cents = decimal, _CENTS
            return ["" if c is None else f"{c // 100}{d}{cents[c % 100]}" if c >= 0
                    else f"-{-c // 100}{d}{cents[-c % 100]}" for c in cells]
        return ["" if c is None else str(c) for c in cells]
    if kinds <= _AMOUNT:
        return ["" if c is None else _euros(require_cents(c.cents), decimal) for c in cells]
    if amount:
        return _quoted([_text(Amount(c) if type(c) is int else c, decimal) for c in cells])
    return _quoted([_text(c, decimal) for c in cells])


def _quoted(cells: list) -> list:
    """QUOTE_MINIMAL as the csv module writes it: a cell holding ';', '"', CR or LF is quoted,
    its quotes doubled."""
    return ['"' + c.replace('"', '""') + '"' if ";" in c or '"' in c or "\r" in c or "\n" in c else c
            for c in cells]


_NONE = type(None)
_TEXT, _INT, _AMOUNT = frozenset((str, _NONE)), frozenset((int, _NONE)), frozenset((Amount, _NONE))
_UNIT = "\x1f"  # joins a column for the searches; a cell holding it only costs the slow path
_FORMULA_MARKS = tuple(_UNIT + start for start in _FORMULA_STARTS)


class _Lines:
    """Turns a row of cells into one CRLF-terminated CSV line."""

    def __init__(self, decimal: str, amounts: Iterable[int] = ()) -> None:
        if decimal not in (",", "."):
            raise ValueError("decimal must be ',' or '.'")
        self._decimal = decimal
        self._amounts = frozenset(amounts)  # indexes of the columns whose int cells are cents
        self._buffer = io.StringIO()
        # QUOTE_MINIMAL quotes a cell holding ';', '"', CR or LF and doubles its quotes.
        self._writer = csv.writer(self._buffer, delimiter=";", lineterminator="\r\n")

    def __call__(self, row: Iterable[object]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        if self._amounts:
            row = [Amount(cell) if type(cell) is int and i in self._amounts else cell for i, cell in enumerate(row)]
        self._writer.writerow([_text(cell, self._decimal) for cell in row])
        return self._buffer.getvalue()

    def many(self, rows: list) -> str:
        """The lines of `rows`, the same text as row by row, converted column by column
        (the csv module's writer costs ~5 us a row; joining the quoted columns ~1 us)."""
        if not rows:
            return ""
        if len(set(map(len, rows))) != 1 or len(rows[0]) < 2:  # ragged, or one column (`""` rows)
            return "".join(map(self, rows))
        return self.columns(list(zip(*rows)))

    def columns(self, columns: list) -> str:
        """The lines of rows given as columns (sequences of cells of equal length, two or more)."""
        if len(set(map(len, columns))) > 1:
            raise ValueError("columns of unequal length")
        if len(columns) < 2:  # one column: the csv module's `""` for an empty row
            return "".join(map(self, zip(*columns)))
        if not columns[0]:
            return ""
        texts = [_column(cells, self._decimal, i in self._amounts) for i, cells in enumerate(columns)]
        return "\r\n".join(map(";".join, zip(*texts))) + "\r\n"


def csv_lines(columns: list, decimal: str = ",", amounts: Iterable[int] = ()) -> str:
    """The CSV lines (each ended by CRLF) of rows given as columns of cells, no BOM nor header;
    int cells of the columns at the indexes `amounts` are cents."""
    return _Lines(decimal, amounts).columns(columns)


def iter_csv_rows(
    header: Iterable[str], rows: Iterable[Iterable[object]], decimal: str = ","
) -> Iterator[bytes]:
    """UTF-8 chunks of the whole file: BOM and header first, then one chunk per row.

    Made for Flask streaming responses (``Response(iter_csv_rows(...))``) and
    ``file.writelines``.
    """
    line = _Lines(decimal)
    yield (BOM + line(header)).encode("utf-8")
    for row in rows:
        yield line(row).encode("utf-8")


class CsvWriter:
    """Writes the CSV row by row to a binary file, or to a text file opened
    with ``encoding="utf-8", newline=""``; the BOM and header are written at once.
    """

    def __init__(self, file: IO, header: Iterable[str], decimal: str = ",", amounts: Iterable[str] = ()) -> None:
        self._file = file
        self._binary = not isinstance(file, io.TextIOBase)
        header = list(header)
        self._write(BOM + _Lines(decimal)(header))
        amounts = set(amounts)
        self._line = _Lines(decimal, (i for i, name in enumerate(header) if name in amounts))

    def _write(self, text: str) -> None:
        self._file.write(text.encode("utf-8") if self._binary else text)

    def writerow(self, row: Iterable[object]) -> None:
        self._write(self._line(row))

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        rows = iter(rows)
        while chunk := list(islice(rows, _CHUNK_ROWS)):
            if not all(type(row) in (list, tuple) for row in chunk):
                chunk = [tuple(row) for row in chunk]
            self._write(self._line.many(chunk))

    def writelines(self, text: str) -> None:
        """Rows already written as this file's CSV lines, each ended by CRLF (a statement page
        formatted by PostgreSQL, see payments.ledger.statement_page)."""
        self._write(text)

    def writecolumns(self, columns: list) -> None:
        """Rows given column by column (each a sequence of cells, all of one length): the same
        bytes as writerows(zip(*columns)), without building the rows; _CHUNK_ROWS rows at a time."""
        if len(set(map(len, columns))) > 1:
            raise ValueError("columns of unequal length")
        for start in range(0, len(columns[0]) if columns else 0, _CHUNK_ROWS):
            self._write(self._line.columns([cells[start:start + _CHUNK_ROWS] for cells in columns]))
