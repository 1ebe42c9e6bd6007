"""The statement export with several pages asked at once: reporting's export job
(exports.run_export) against payments' ledger functions on PostgreSQL, through a
fake RPC whose answers are made when asked. Once the plan (the cursor after
every page) is in, STATEMENT_PAGES_AHEAD pages are asked before the first of
them is written; the file is byte for byte the one of pages asked one after the
other (no plan); and when the ledger changes between the plan and the pages, the
pages that no longer start where the plan said are dropped and asked again
from the previous page's cursor, so the file holds every entry once with an
unbroken running balance."""
import io
import random
from datetime import date, datetime, timedelta, timezone

import pytest

from common.csv import CsvWriter
from common.errors import Invalid
from payments import ledger
from payments.models import LedgerEntry
from reporting import exports

A = "MEaaaa"
PERIOD = {"from": "2027-01-01", "to": "2027-01-31"}
NAMES = ("Zoë Ødegård", "=HYPERLINK(\"x\")", "Dupont; Fils", None, "-Moins", 'dit "yoga"', "Łukasz\r\nNowak")


def entry(rng, n, day):
    return LedgerEntry(id=f"LE{rng.getrandbits(60):016X}", merchant_id=A, date=day, value_date=day + timedelta(days=n % 2),
                       code="SDD" if n % 5 else "REJ", reference=f"PM{n}", subscriber_name=NAMES[n % len(NAMES)],
                       label="Yoga" if n % 3 else "@label", amount=rng.randint(-5000, 20000),
                       created_at=datetime(2027, 2, 1, tzinfo=timezone.utc))


@pytest.fixture
def ledger_session(db_session):
    rng = random.Random(6)
    session = db_session("payments")
    # 250 entries over 40 days, 168 of them in the period
    session.add_all(entry(rng, n, date(2026, 12, 20) + timedelta(days=n % 40)) for n in range(250))
    session.commit()
    yield session


@pytest.fixture
def session(monkeypatch, db_session):
    monkeypatch.setenv("DEBITO_CLOCK", "2027-03-31T12:00:00+00:00")
    yield db_session("reporting", expire_on_commit=False)


class Asked:
    """An answer (or an error) made when asked (as payments starts on a request at once)."""

    def __init__(self, answer, error=None):
        self.answer, self.error = answer, error

    def result(self):
        if self.error is not None:
            raise self.error
        return self.answer


class FakePayments:
    """payments.statement_page over the ledger session; records the requests, the pages
    answered and how many were asked and not yet taken."""

    def __init__(self, ledger_session, after_plan=None, plan=True):
        self.session, self.after_plan, self.plan = ledger_session, after_plan, plan
        self.requests, self.answers, self.waiting, self.most_waiting = [], [], 0, 0

    def page(self, filters):
        filters = dict(filters)
        self.requests.append(dict(filters))
        period = (date.fromisoformat(filters.pop("from")), date.fromisoformat(filters.pop("to")))
        if filters.pop("plan", False):
            if not self.plan:  # as an older payments, or one whose plan failed: pages one after the other
                raise Invalid("plan: unknown filter", {"plan": "unknown filter"})
            answer = ledger.statement_plan(self.session, A, *period, filters["limit"])
            if self.after_plan:
                self.after_plan(self.session)
            return answer
        answer = ledger.statement_page(self.session, A, *period, filters.get("cursor"), filters["limit"],
                                       filters.get("decimal"))
        self.answers.append(answer)
        return answer

    def start(self, filters):
        try:
            answer = Asked(self.page(filters))
        except Invalid as error:
            answer = Asked(None, error)
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        taken = answer.result

        def result():
            self.waiting -= 1
            return taken()
        answer.result = result
        return answer


def export(session, tmp_path, payments, decimal=","):
    job = exports.create_export(session, A, {"section": "statement", "filters": PERIOD, "decimal": decimal})
    session.commit()
    job = exports.run_export(session, job, payments.page, root=tmp_path, start_page=payments.start)
    assert job.status == "done", job.error
    return exports.file_path(job, tmp_path).read_bytes()


def expected_csv(ledger_session, decimal):
    """The statement as the one-shot get_statement gave it, written row by row."""
    statement = ledger.statement(ledger_session, A, date(2027, 1, 1), date(2027, 1, 31))
    columns = exports.SECTIONS["statement"].columns
    file = io.BytesIO()
    writer = CsvWriter(file, columns, decimal=decimal)
    opening = {"code": "OPENING", "label": "opening balance", "balance": statement["opening_balance"]}
    closing = {"code": "CLOSING", "label": "closing balance", "balance": statement["closing_balance"]}
    for item in [opening, *statement["entries"], closing]:
        writer.writerow([exports._cell(c, item.get(c)) for c in columns])
    return file.getvalue()


@pytest.mark.parametrize("decimal", [",", "."])
def test_pages_asked_at_once_make_the_same_file_as_pages_asked_one_by_one(ledger_session, session, tmp_path,
                                                                         monkeypatch, decimal):
    monkeypatch.setattr(exports, "STATEMENT_PAGE_SIZE", 13)  # 13 pages, boundaries inside days
    payments = FakePayments(ledger_session)
    content = export(session, tmp_path, payments, decimal)
    assert content == expected_csv(ledger_session, decimal)
    assert payments.requests[0] == dict(PERIOD, limit=13, decimal=decimal, plan=True)
    pages = [r for r in payments.requests if not r.get("plan")]
    assert len(pages) == len({r.get("cursor") for r in pages})  # each page asked once
    # after the first page, pages end on the plan's bounds (runs of whole days of at most 13
    # entries): together they ask for the period's 168 entries exactly
    limits = [r["limit"] for r in pages]
    assert limits[0] == 13 and max(limits) <= 13 and sum(limits) == 168 and len(limits) > 13
    assert payments.most_waiting == exports.STATEMENT_PAGES_AHEAD > 1  # several in flight, not one by one
    unplanned = FakePayments(ledger_session, plan=False)
    one_by_one = export(session, tmp_path, unplanned, decimal)
    assert one_by_one == content
    pages = [r for r in unplanned.requests if not r.get("plan")]
    assert [r["limit"] for r in pages] == [13] * 13 and unplanned.most_waiting == 1  # one after the other
    assert [r.get("cursor") for r in pages[1:]] == [r["next_cursor"] for r in unplanned.answers[:-1]]


@pytest.mark.parametrize("rows", [156, 160])
def test_the_last_page_ends_the_file_when_the_period_fills_whole_pages_or_not(ledger_session, session, tmp_path,
                                                                            monkeypatch, rows):
    monkeypatch.setattr(exports, "STATEMENT_PAGE_SIZE", 12)
    count = sum(1 for _ in ledger.iter_statement(ledger_session, A, date(2027, 1, 1), date(2027, 1, 31)))
    assert count > rows
    if count != rows:  # trim the period's entries to `rows` (156 = 13 whole pages of 12)
        extra = ledger_session.query(LedgerEntry).filter(LedgerEntry.date >= date(2027, 1, 1),
                                                         LedgerEntry.date <= date(2027, 1, 31)) \
            .order_by(LedgerEntry.date.desc(), LedgerEntry.id.desc()).limit(count - rows).all()
        for found in extra:
            ledger_session.delete(found)
        ledger_session.commit()
    content = export(session, tmp_path, FakePayments(ledger_session))
    assert content == expected_csv(ledger_session, ",")
    assert content.count(b"\r\n") == 1 + rows + 2 + content.count(b"\r\nNowak")  # header, rows, balances


def test_a_ledger_changed_after_the_plan_is_read_again_from_the_last_good_page(ledger_session, session, tmp_path,
                                                                            monkeypatch):
    monkeypatch.setattr(exports, "STATEMENT_PAGE_SIZE", 13)

    def book_late_entry(ledger_session):  # lands in the middle of the period, after the plan
        ledger_session.add(entry(random.Random(7), 999, date(2027, 1, 15)))
        ledger_session.commit()

    payments = FakePayments(ledger_session, after_plan=book_late_entry)
    content = export(session, tmp_path, payments)
    assert content == expected_csv(ledger_session, ",")  # the late entry once, the balance unbroken
    pages = [r.get("cursor") for r in payments.requests if not r.get("plan")]
    assert len(pages) > 15  # pages asked from the plan were dropped and asked again


def test_an_empty_period_is_its_opening_and_closing_rows(ledger_session, session, tmp_path):
    job = exports.create_export(session, A, {"section": "statement", "filters": {"from": "2027-06-01", "to": "2027-06-30"}})
    session.commit()
    payments = FakePayments(ledger_session)
    job = exports.run_export(session, job, payments.page, root=tmp_path, start_page=payments.start)
    lines = exports.file_path(job, tmp_path).read_bytes().decode("utf-8-sig").split("\r\n")
    assert (job.status, job.rows_total) == ("done", 2)
    assert lines[1].startswith(";;OPENING;;;opening balance;;") and lines[2].startswith(";;CLOSING;;;closing balance;;")
    assert lines[1].split(";")[-1] == lines[2].split(";")[-1] != "0,00" and lines[3:] == [""]
