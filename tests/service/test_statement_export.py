"""The statement export in pages, on the real broker and PostgreSQL with the real
payments and reporting services: a few thousand entries exported page by page
are byte for byte the CSV the one-shot statement gave, and the RPC's pages carry
the running balance across their boundaries."""
import base64
import csv
import io
import random
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from sqlalchemy import insert

from common.csv import CsvWriter
from common.database import make_engine
from common.errors import Invalid
from common.migrations import upgrade
from payments.models import LedgerEntry
from payments.service import PaymentsService
from reporting import exports
from reporting.service import ReportingService

PERIOD = {"from": "2027-01-01", "to": "2027-03-31"}
NAMES = ("Émilie Durand", "Jürgen Großmann", "=HYPERLINK(\"http://x\")", "Dupont; Fils", 'Zoë "Zo" Ødegård',
         "Łukasz\r\nNowak", None, "-Moins", "@Arobase", "Søren Kierkegaard")
LABELS = ("Abonnement yoga — mars", "Cotisation été/automne", "+33 frais", None, "AM04 insufficient funds",
          "Payout to FR7630006000011234567890189", "\tTab", "")
CODES = (("SDD", 1), ("SDD", 1), ("SDD", 1), ("REJ", -1), ("RET", -1), ("REF", -1), ("FEE", -1), ("PAYOUT", -1))


@pytest.fixture
def services(container_factory, rabbit_config, postgres_database, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", postgres_database)
    monkeypatch.setenv("EXPORT_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("DEBITO_VAR", str(tmp_path / "var"))
    for owner in ("payments", "reporting"):
        upgrade(owner, make_engine(owner, postgres_database))
    started = [container_factory(cls, rabbit_config) for cls in (PaymentsService, ReportingService)]
    for container in started:
        container.start()
    return started


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def book_entries(database_url, merchant, count, seed=6):
    """`count` entries in the period (several a day, ids out of time order within a day),
    some before it (the opening balance) and some of another merchant."""
    rng = random.Random(f"{seed}{merchant}")
    now = datetime(2027, 4, 1, tzinfo=timezone.utc)
    rows = []
    for n in range(count + 40):
        before = n >= count  # the last 40: before the period
        day = date(2026, 12, 1) + timedelta(days=n % 31) if before else date(2027, 1, 1) + timedelta(days=n % 90)
        code, sign = CODES[n % len(CODES)]
        rows.append(dict(id=f"LE{rng.getrandbits(100):030X}", merchant_id=merchant, date=day,
                         value_date=day + timedelta(days=n % 3), code=code, reference=f"PM{n:06d}",
                         subscriber_name=NAMES[n % len(NAMES)], label=LABELS[n % len(LABELS)],
                         amount=sign * rng.randint(1, 250_000), created_at=now))
    other = [dict(row, id=row["id"][:-1] + "Z", merchant_id="ME" + uuid.uuid4().hex[:20].upper()) for row in rows[:50]]
    engine = make_engine("payments", database_url)
    try:
        with engine.begin() as connection:
            connection.execute(insert(LedgerEntry), rows + other)
    finally:
        engine.dispose()


def rows_of(page):
    """A statement_page answer's CSV lines read back: amounts and balances as int cents."""
    mark = page["decimal"]
    return [[int(cell.replace(mark, "")) if name in ("amount", "balance") else cell
             for name, cell in zip(page["columns"], row)]
            for row in csv.reader(io.StringIO(page["lines"], newline=""), delimiter=";")]


def entry_lines(entries, decimal=","):
    """get_statement's entries as common.csv writes them (no BOM nor header)."""
    columns = exports.SECTIONS["statement"].columns
    file = io.BytesIO()
    writer = CsvWriter(file, columns, decimal=decimal, amounts=("amount", "balance"))
    header = len(file.getvalue())
    writer.writerows([entry[c] for c in columns] for entry in entries)
    return file.getvalue()[header:].decode("utf-8")


def one_shot_csv(statement, decimal=","):
    """The statement CSV as the export wrote it before pages: one get_statement answer, its
    entries as dicts between the opening and closing rows, each cell through exports._cell."""
    columns = exports.SECTIONS["statement"].columns
    opening = {"code": "OPENING", "label": "opening balance", "balance": statement["opening_balance"]}
    closing = {"code": "CLOSING", "label": "closing balance", "balance": statement["closing_balance"]}
    file = io.BytesIO()
    writer = CsvWriter(file, columns, decimal=decimal)
    for item in [opening, *statement["entries"], closing]:
        writer.writerow([exports._cell(c, item.get(c)) for c in columns])
    return file.getvalue()


@pytest.mark.parametrize("decimal", [",", "."])
def test_the_paged_statement_export_is_byte_for_byte_the_one_shot_csv(services, postgres_database, monkeypatch,
                                                                     decimal):
    payments, reporting = services
    merchant = "ME" + uuid.uuid4().hex[:20].upper()
    book_entries(postgres_database, merchant, 3000)
    monkeypatch.setattr(exports, "STATEMENT_PAGE_SIZE", 701)  # 5 pages, boundaries inside a day

    statement = call(payments, "get_statement", merchant, PERIOD)
    assert len(statement["entries"]) == 3000 and statement["opening_balance"] != 0
    with entrypoint_waiter(reporting, "on_export_requested", timeout=60) as waiter:
        job = call(reporting, "create_export", merchant,
                   {"section": "statement", "filters": PERIOD, "decimal": decimal})
    assert waiter.get() == "done"
    done = call(reporting, "get_export", merchant, job["id"])
    assert (done["status"], done["rows_done"], done["rows_total"]) == ("done", 3002, 3002)
    content = base64.b64decode(call(reporting, "read_export", merchant, job["id"], 0, 10**7)["content_base64"])
    assert content == one_shot_csv(statement, decimal)
    assert b"\r\n;;OPENING;;;opening balance;;" in content and b";;CLOSING;;;closing balance;;" in content
    assert b";\"'=HYPERLINK(\"\"http://x\"\")\";" in content  # disarmed and quoted, as before


def test_the_rpc_pages_carry_the_running_balance_across_their_boundaries(services, postgres_database):
    payments, _ = services
    merchant = "ME" + uuid.uuid4().hex[:20].upper()
    book_entries(postgres_database, merchant, 500, seed=7)
    statement = call(payments, "get_statement", merchant, PERIOD)

    pages, cursor = [], None
    while True:  # without `decimal`: "," (the RPC's default)
        page = call(payments, "statement_page", merchant,
                    dict(PERIOD, limit=37, **({"cursor": cursor} if cursor else {})))
        pages.append(page)
        cursor = page["next_cursor"]
        if not cursor:
            break
    rows = [rows_of(page) for page in pages]
    assert [len(r) for r in rows] == [page["rows"] for page in pages] == [37] * 13 + [19]
    assert {page["decimal"] for page in pages} == {","}
    assert "".join(page["lines"] for page in pages) == entry_lines(statement["entries"])
    assert [row[7] for page in rows for row in page] == [entry["balance"] for entry in statement["entries"]]
    assert pages[0]["opening_balance"] == statement["opening_balance"]
    assert all(page["opening_balance"] is None for page in pages[1:])
    assert all(page["closing_balance"] is None for page in pages[:-1])
    assert pages[-1]["closing_balance"] == statement["closing_balance"] == rows[-1][-1][7]
    for before, after in zip(rows, rows[1:]):  # each page starts from where the last one ended
        assert after[0][7] == before[-1][7] + after[0][6]
    # the cursor holds the balance: the next page starts from it, not from a new sum
    day, entry_id, balance = pages[0]["next_cursor"].split(".")
    moved = call(payments, "statement_page", merchant,
                 dict(PERIOD, limit=1, cursor=f"{day}.{entry_id}.{int(balance) + 100}"))
    assert rows_of(moved)[0][7] == rows[1][0][7] + 100


def test_an_empty_period_is_one_page_from_opening_to_closing(services, postgres_database):
    payments, _ = services
    merchant = "ME" + uuid.uuid4().hex[:20].upper()
    book_entries(postgres_database, merchant, 10)
    page = call(payments, "statement_page", merchant, {"from": "2028-01-01", "to": "2028-01-31"})
    assert page["lines"] == "" and page["rows"] == 0 and page["next_cursor"] is None
    assert page["opening_balance"] == page["closing_balance"] != 0


@pytest.mark.parametrize("filters, field", [
    ({"from": "2027-02-01", "to": "2027-01-01"}, "from"),
    (dict(PERIOD, cursor="not-a-cursor"), "cursor"),
    (dict(PERIOD, cursor="2027-01-01.LE1.ten"), "cursor"),
    (dict(PERIOD, limit=0), "limit"),
    (dict(PERIOD, limit=20_001), "limit"),
    (dict(PERIOD, limit="50"), "limit"),
    (dict(PERIOD, decimal=";"), "decimal"),
])
def test_bad_pages_are_refused_on_their_field(services, filters, field):
    payments, _ = services
    with pytest.raises(Exception) as raised:
        call(payments, "statement_page", "ME" + uuid.uuid4().hex[:20].upper(), filters)
    assert isinstance(raised.value, Invalid) and field in raised.value.fields
