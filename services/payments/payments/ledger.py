"""The merchant's money, as plain functions taking a session: the balance and
its reserve, the statement of a period, payouts (pain.001 credit transfers to
the merchant's own account). Figures are integer cents summed in SQL.

`request_payout` commits (claim before write, like collection.submit_due);
the other functions leave the commit to the caller.
"""
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

from sqlalchemy import BigInteger, Date, Text, case, cast, func, literal, literal_column, select, tuple_
from sqlalchemy.dialects.postgresql import aggregate_order_by

from common import clock
from common.calendar import add_business_days, next_business_day
from common.csv import FORMULA_STARTS
from common.errors import Invalid, NotFound
from common.ids import new_id
from common.database import keyset_page
from payments.domain import PAYOUT_IN_PROGRESS, PAYOUT_PENDING, send_payout
from payments.iso20022.pain001 import build_pain001_file
from payments.models import BankFile, Creditor, LedgerEntry, Payout, RTransaction, take_writing_file

STREAM_ROWS = 2000
IN_PROGRESS = PAYOUT_IN_PROGRESS
DEFAULT_AVAILABILITY_DELAY_DAYS = 5


# --- balance ----------------------------------------------------------------

def release_cutoff(as_of, delay_days):
    """The last value date whose credits are available on `as_of`: a credit is released once
    `delay_days` TARGET2 business days have passed since its value date."""
    cutoff = as_of
    while add_business_days(cutoff, delay_days) > as_of:
        cutoff -= timedelta(days=1)
    return cutoff


def _sum(session, column, *where):
    return int(session.scalar(select(func.coalesce(func.sum(column), 0)).where(*where)))


def balance(session, merchant_id, as_of):
    """Balance figures on `as_of` (spec §2), in cents.

    `available` = balance - reserved - transfers_in_progress, the true figure: it may be
    negative (a return after a payout); a payout then asks for at most 0 and is refused.
    `refunds_in_progress` is shown apart: a refund is already debited from the balance."""
    creditor = session.get(Creditor, merchant_id)
    delay = creditor.availability_delay_days if creditor else DEFAULT_AVAILABILITY_DELAY_DAYS
    mine = LedgerEntry.merchant_id == merchant_id
    total = _sum(session, LedgerEntry.amount, mine, LedgerEntry.value_date <= as_of)
    reserved = _sum(session, LedgerEntry.amount, mine, LedgerEntry.amount > 0,
                    LedgerEntry.value_date > release_cutoff(as_of, delay), LedgerEntry.value_date <= as_of)
    transfers = _sum(session, Payout.amount, Payout.merchant_id == merchant_id, Payout.status.in_(IN_PROGRESS))
    refunds = _sum(session, RTransaction.amount, RTransaction.merchant_id == merchant_id,
                   RTransaction.type == "refund", RTransaction.status == "open")
    return {"balance": total, "available": total - reserved - transfers, "reserved": reserved,
            "transfers_in_progress": transfers, "refunds_in_progress": refunds, "currency": "EUR",
            "as_of": as_of.isoformat()}


# --- statement --------------------------------------------------------------

def _check_period(date_from, date_to):
    if date_from > date_to:
        raise Invalid("from: on or before to", {"from": "on or before to"})


def opening_balance(session, merchant_id, date_from):
    """The sum of every entry booked before `date_from`."""
    return _sum(session, LedgerEntry.amount, LedgerEntry.merchant_id == merchant_id,
                LedgerEntry.date < date_from)


def iter_statement(session, merchant_id, date_from, date_to, opening=None):
    """The entries booked from `date_from` to `date_to` (inclusive), by (date, id), each with
    its running balance; streamed (for exports of any length)."""
    _check_period(date_from, date_to)
    running = opening_balance(session, merchant_id, date_from) if opening is None else opening
    rows = session.execute(
        select(LedgerEntry.date, LedgerEntry.value_date, LedgerEntry.code, LedgerEntry.reference,
               LedgerEntry.subscriber_name, LedgerEntry.label, LedgerEntry.amount)
        .where(LedgerEntry.merchant_id == merchant_id, LedgerEntry.date >= date_from,
               LedgerEntry.date <= date_to)
        .order_by(LedgerEntry.date, LedgerEntry.id).execution_options(yield_per=STREAM_ROWS))
    for row in rows:
        running += row.amount
        yield {"date": row.date.isoformat(), "value_date": (row.value_date or row.date).isoformat(),
               "code": row.code, "reference": row.reference, "subscriber": row.subscriber_name,
               "label": row.label, "amount": row.amount, "balance": running}


STATEMENT_PAGE_ROWS = 10_000
STATEMENT_PAGE_MAX = 20_000
STATEMENT_COLUMNS = ("date", "value_date", "code", "reference", "subscriber", "label", "amount", "balance")


def statement_query(merchant_id, date_from, date_to, after=None, start=0, limit=None):
    """The statement's SELECT: STATEMENT_COLUMNS, then `id` and `n` (1, 2, ...), of the entries
    booked from `date_from` (or after the (date, id) `after`) to `date_to`, by (date, id), the
    running balance a window function from `start`. One range scan of
    ix_ledger_entries_merchant_id_date_id, already in order (no sort)."""
    where = [LedgerEntry.merchant_id == merchant_id, LedgerEntry.date <= date_to]
    if after is None:
        where.append(LedgerEntry.date >= date_from)
    else:
        where.append(tuple_(LedgerEntry.date, LedgerEntry.id) > tuple_(literal(after[0], Date), after[1]))
    page = (select(LedgerEntry.date, LedgerEntry.id, LedgerEntry.value_date, LedgerEntry.code,
                   LedgerEntry.reference, LedgerEntry.subscriber_name, LedgerEntry.label, LedgerEntry.amount)
            .where(*where).order_by(LedgerEntry.date, LedgerEntry.id).limit(limit).subquery())
    order = dict(order_by=(page.c.date, page.c.id), rows=(None, 0))
    return select(page.c.date.label("date"), func.coalesce(page.c.value_date, page.c.date).label("value_date"),
                  page.c.code, page.c.reference, page.c.subscriber_name.label("subscriber"), page.c.label,
                  page.c.amount, (literal(start, BigInteger) + func.sum(page.c.amount).over(**order)).label("balance"),
                  page.c.id, func.row_number().over(**order).label("n"))


_SQL_QUOTE, _SQL_DOUBLED = literal_column("'\"'"), literal_column("'\"\"'")
_SQL_QUOTED_BY = tuple(literal_column(mark) for mark in ("';'", "'\"'", r"E'\r'", r"E'\n'"))


def _csv_text(value):
    """SQL: a text cell (never NULL) as common.csv writes it: a leading "'" if it starts like a
    formula, then quoted, its quotes doubled, if it holds ';', '"', CR or LF (strpos: cheaper
    than a regular expression)."""
    armed = case((func.ascii(value).in_([ord(start) for start in FORMULA_STARTS]),
                  func.concat(literal_column("''''"), value)), else_=value)
    quoted = sum((func.strpos(value, mark) for mark in _SQL_QUOTED_BY[1:]), func.strpos(value, _SQL_QUOTED_BY[0]))
    return case((quoted > 0, func.concat(_SQL_QUOTE, func.replace(armed, _SQL_QUOTE, _SQL_DOUBLED), _SQL_QUOTE)),
                else_=armed)


def _csv_euros(cents, decimal):
    """SQL: cents as common.csv writes an amount (-5 is -0,05), up to 19 digits (bigint)."""
    return func.to_char(cents, literal_column(f"'FM{'9' * 16}0\"{decimal}\"00'"))


_ROW_NUMBERS_JOINED_BY = ","  # a page's row numbers come back joined, to check their order


def _page(connection, query, limit, decimal, ordered=False):
    """PostgreSQL writes the page's rows as CSV lines (common.csv's cells), CRLF between them,
    and joins them into one text (`string_agg`), so neither payments nor the wire holds a
    Python object per cell. Aggregates read the window's rows in its order; the row numbers
    come back joined too, and the caller checks them (`ordered=True` asks for an explicit,
    slower, ORDER BY)."""
    c = query.subquery().c
    mine = c.n <= limit

    def joined(value, between):
        aggregate = func.string_agg(value, aggregate_order_by(between, c.n) if ordered else between)
        return func.coalesce(aggregate.filter(mine), "")

    line = func.concat_ws(literal_column("';'"), cast(c.date, Text), cast(c.value_date, Text),  # ISO: see statement_page
                          *(_csv_text(func.coalesce(c[name], "")) for name in STATEMENT_COLUMNS[2:6]),
                          _csv_euros(c.amount, decimal), _csv_euros(c.balance, decimal))
    found = connection.execute(select(
        func.count(), func.max(func.concat(c.date, ".", c.id, ".", c.balance)).filter(c.n == limit),
        func.coalesce(func.sum(c.amount).filter(mine), 0),
        joined(line, literal_column(r"E'\r\n'")), joined(cast(c.n, Text), _ROW_NUMBERS_JOINED_BY),
    )).one()
    return tuple(found)


@lru_cache(maxsize=8)
def _row_numbers(rows):
    """"1,2,...,rows": a page's row numbers as PostgreSQL joins them (the same for every full page)."""
    return _ROW_NUMBERS_JOINED_BY.join(map(str, range(1, rows + 1)))


def _parse_cursor(cursor):
    try:
        day, entry_id, running = cursor.split(".")
        return (date.fromisoformat(day), entry_id), int(running)
    except (AttributeError, ValueError):
        raise Invalid("cursor: a cursor from the previous page", {"cursor": "a cursor from the previous page"}) \
            from None


def statement_page(session, merchant_id, date_from, date_to, cursor=None, limit=STATEMENT_PAGE_ROWS,
                   decimal=None):
    """One keyset page of the statement, for exports of any length.

    `lines` is the CSV text of the page's `rows` entries (STATEMENT_COLUMNS), each ended by
    CRLF, byte for byte what common.csv.CsvWriter writes for them (formula prefix, quoting,
    ISO dates, amounts and running balances in euros with the `decimal` mark: "," or ".",
    "," if None), made by PostgreSQL: the export writes it as it comes. The running balance
    crosses pages in the cursor (`date.id.balance` of the last entry, in cents);
    `opening_balance` comes on the first page, `closing_balance` on the last (`next_cursor`
    None), both in cents. Each page is one indexed range scan, at most `limit` entries."""
    _check_period(date_from, date_to)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= STATEMENT_PAGE_MAX:
        message = f"an integer from 1 to {STATEMENT_PAGE_MAX}"
        raise Invalid(f"limit: {message}", {"limit": message})
    if decimal is None:
        decimal = ","
    elif decimal not in (",", "."):
        raise Invalid("decimal: ',' or '.'", {"decimal": "',' or '.'"})
    if cursor:
        after, start = _parse_cursor(cursor)
        opening = None
    else:
        after, start = None, opening_balance(session, merchant_id, date_from)
        opening = start
    connection = session.connection()
    query = statement_query(merchant_id, date_from, date_to, after, start, limit + 1)
    connection.exec_driver_sql("SET LOCAL DateStyle TO ISO")  # date::text is YYYY-MM-DD, cheaper than to_char
    found, last, total, lines, numbers = _page(connection, query, limit, decimal)
    rows = min(found, limit)
    if numbers != _row_numbers(rows):  # not in the window's order
        found, last, total, lines, _ = _page(connection, query, limit, decimal, ordered=True)
    more = found > limit
    return {"from": date_from.isoformat(), "to": date_to.isoformat(), "currency": "EUR",
            "columns": STATEMENT_COLUMNS, "rows": rows, "decimal": decimal, "lines": lines + "\r\n" if rows else "",
            "opening_balance": opening, "closing_balance": None if more else start + int(total),
            "next_cursor": last if more else None}


def statement_plan(session, merchant_id, date_from, date_to, every=STATEMENT_PAGE_ROWS):
    """Where pages can start, so an export can ask for several at once instead of one after
    the other: `bounds`, each `[rows, cursor]`, the number of the period's entries up to the
    end of a run of whole days of at most `every` entries (a day of more is a run of its own)
    and the cursor of that last entry (`date.id.balance`, as statement_page's next_cursor).
    The last bound holds every entry of the period. One pass over the period's entries,
    grouped by day (no window: about a third of the cost of numbering every entry)."""
    _check_period(date_from, date_to)
    if isinstance(every, bool) or not isinstance(every, int) or not 1 <= every <= STATEMENT_PAGE_MAX:
        message = f"an integer from 1 to {STATEMENT_PAGE_MAX}"
        raise Invalid(f"limit: {message}", {"limit": message})
    balance = opening_balance(session, merchant_id, date_from)
    days = session.execute(
        select(LedgerEntry.date, func.count(), func.sum(LedgerEntry.amount), func.max(LedgerEntry.id))
        .where(LedgerEntry.merchant_id == merchant_id, LedgerEntry.date >= date_from, LedgerEntry.date <= date_to)
        .group_by(LedgerEntry.date).order_by(LedgerEntry.date))
    bounds, rows, run, cursor = [], 0, 0, None
    for day, count, total, last_id in days:  # the day's last entry by (date, id) is its greatest id
        if run and run + count > every:
            bounds.append([rows, cursor])
            run = 0
        rows, run, balance = rows + count, run + count, balance + int(total)
        cursor = f"{day.isoformat()}.{last_id}.{balance}"
    if run:
        bounds.append([rows, cursor])
    return {"from": date_from.isoformat(), "to": date_to.isoformat(), "every": every, "bounds": bounds}


def statement(session, merchant_id, date_from, date_to):
    """Opening balance, the entries of the period, closing balance (= opening + entries)."""
    _check_period(date_from, date_to)
    opening = opening_balance(session, merchant_id, date_from)
    entries = list(iter_statement(session, merchant_id, date_from, date_to, opening))
    return {"from": date_from.isoformat(), "to": date_to.isoformat(), "currency": "EUR",
            "opening_balance": opening, "entries": entries,
            "closing_balance": opening + sum(entry["amount"] for entry in entries)}


# --- payouts ----------------------------------------------------------------

def claim_payout(session, merchant_id, amount, as_of, announce=None):
    """A `pending` payout of `amount` cents and its outbox file `writing`, committed
    (with what `announce(payout)` stages before the commit: its event).

    Invalid (`amount`) unless 0 < amount <= available. The creditor row is locked first,
    so two payouts of one merchant are decided one after the other."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise Invalid("amount: a positive number of cents", {"amount": "a positive number of cents"})
    creditor = session.get(Creditor, merchant_id, with_for_update=True, populate_existing=True)
    if creditor is None:
        raise NotFound(f"no creditor profile for {merchant_id}", {"merchant_id": "not found"})
    available = balance(session, merchant_id, as_of)["available"]
    if amount > available:
        message = f"at most the available {max(available, 0)} cents"
        raise Invalid(f"amount: {message}", {"amount": message})
    now, payout_id, file_id = clock.now(), new_id("PO"), new_id("BF")
    payout = Payout(id=payout_id, merchant_id=merchant_id, amount=amount, currency="EUR", status=PAYOUT_PENDING,
                    end_to_end_id=payout_id, creditor_name=creditor.name, creditor_iban=creditor.iban,
                    creditor_bic=creditor.bic, execution_date=next_business_day(as_of),
                    bank_file_id=file_id, created_at=now)
    session.add(payout)
    session.add(BankFile(id=file_id, merchant_id=merchant_id, direction="out", kind="pain.001",
                         message_id=file_id, filename=f"pain001-{merchant_id}-{file_id}.xml",
                         status="writing", created_at=now))
    if announce is not None:
        session.flush()
        announce(payout)
    session.commit()
    return payout


def write_payout(session, payout, outbox_dir, writer=None):
    """Write the pain.001 of a claimed payout (again, after a crash): file `written`, payout `sent`.
    A file written meanwhile, or being written by another worker, is left to it (its row is
    taken with models.take_writing_file): a pain.001 is never written twice."""
    writer = writer or build_pain001_file
    bank_file = take_writing_file(session, payout.bank_file_id)
    if bank_file is None:
        session.rollback()  # nothing of ours is pending: the payout as the other worker leaves it
        return payout
    outbox = Path(outbox_dir)
    outbox.mkdir(parents=True, exist_ok=True)
    account = {"name": payout.creditor_name, "iban": payout.creditor_iban, "bic": payout.creditor_bic}
    # The merchant's collection account pays the merchant's own account.
    writer(outbox / bank_file.filename, message_id=bank_file.message_id, created_at=bank_file.created_at,
           debtor=account, execution_date=payout.execution_date,
           transfers=[{"end_to_end_id": payout.end_to_end_id, "amount": payout.amount,
                       "creditor_name": payout.creditor_name, "creditor_iban": payout.creditor_iban,
                       "creditor_bic": payout.creditor_bic, "remittance": f"Debito payout {payout.id}"}])
    bank_file.status = "written"
    if payout.status == PAYOUT_PENDING:
        send_payout(payout, clock.now())
    session.commit()
    return payout


def request_payout(session, merchant_id, amount, as_of, outbox_dir, writer=None):
    """Claim a payout, then write its pain.001 into the outbox; the payout is then `sent`.
    A crash in between leaves it `pending`, written by `write_unwritten_payouts`."""
    payout = claim_payout(session, merchant_id, amount, as_of)
    return write_payout(session, payout, outbox_dir, writer)


def write_unwritten_payouts(session, outbox_dir, writer=None):
    """Payout files still `writing` (a crash after the claim) are written now; returns the payouts."""
    file_ids = session.scalars(select(BankFile.id).where(
        BankFile.direction == "out", BankFile.kind == "pain.001", BankFile.status == "writing")
        .order_by(BankFile.id)).all()
    written = []
    for file_id in file_ids:
        payout = session.scalar(select(Payout).where(Payout.bank_file_id == file_id))
        if payout is not None and take_writing_file(session, file_id) is not None:
            written.append(write_payout(session, payout, outbox_dir, writer))
    return written


def list_payouts(session, merchant_id, filters):
    """A keyset page of payouts, newest first (PayoutFiltersIn data)."""
    query = select(Payout).where(Payout.merchant_id == merchant_id)
    if filters.get("status"):
        query = query.where(Payout.status == filters["status"])
    return keyset_page(session, query, Payout.id, filters)
