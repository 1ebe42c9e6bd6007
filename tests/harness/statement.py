"""A statement page's CSV lines (payments.statement_page) back to rows, for the tests."""
import base64
import csv
import io

from common.money import parse_amount

_DISARMED = tuple("'" + start for start in ("=", "+", "-", "@", "\t", "\r"))


def statement_rows(page):
    """Rows of cells: amounts and balances as int cents, texts as written before the `'` of a
    disarmed formula (so they compare with the ledger's own values), an absent text as ""."""
    text = page["csv"] if "csv" in page else base64.b64decode(page["csv_base64"])  # ledger's, or the RPC's
    rows = []
    for row in csv.reader(io.StringIO(text.decode("utf-8"), newline=""), delimiter=";"):
        rows.append([parse_amount(cell) if name in ("amount", "balance")
                     else cell[1:] if cell.startswith(_DISARMED) else cell
                     for name, cell in zip(page["columns"], row)])
    assert len(rows) == page["rows"]
    return rows
