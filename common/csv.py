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
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import IO

from common.money import format_amount

BOM = "\ufeff"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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


class _Lines:
    """Turns a row of cells into one CRLF-terminated CSV line."""

    def __init__(self, decimal: str) -> None:
        if decimal not in (",", "."):
            raise ValueError("decimal must be ',' or '.'")
        self._decimal = decimal
        self._buffer = io.StringIO()
        # QUOTE_MINIMAL quotes a cell holding ';', '"', CR or LF and doubles its quotes.
        self._writer = csv.writer(self._buffer, delimiter=";", lineterminator="\r\n")

    def __call__(self, row: Iterable[object]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow([_text(cell, self._decimal) for cell in row])
        return self._buffer.getvalue()


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

    def __init__(self, file: IO, header: Iterable[str], decimal: str = ",") -> None:
        self._file = file
        self._binary = not isinstance(file, io.TextIOBase)
        self._line = _Lines(decimal)
        self._write(BOM + self._line(header))

    def _write(self, text: str) -> None:
        self._file.write(text.encode("utf-8") if self._binary else text)

    def writerow(self, row: Iterable[object]) -> None:
        self._write(self._line(row))

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)
