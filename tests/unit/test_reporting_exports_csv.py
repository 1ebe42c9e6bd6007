"""Export jobs as plain functions on PostgreSQL (rolled back) with fake page sources: progress
page by page, the statement's opening and closing rows, a failure midway
leaves no file, the CSV reads back with pandas, formulas are disarmed,
tenancy, and old exports are cleaned up."""
import io

import pandas
import pytest
from sqlalchemy import select

from common.errors import Conflict, Invalid, NotFound
from reporting import exports
from reporting.models import ExportJob

A, B = "MEaaaa", "MEbbbb"


@pytest.fixture
def session(monkeypatch, db_session):
    monkeypatch.setenv("DEBITO_CLOCK", "2027-03-31T12:00:00+00:00")
    yield db_session("reporting", expire_on_commit=False)


def subscriber(n, name=None):
    return {"id": f"SB{n}", "customer_reference": f"C{n:04d}", "name": name or f"Client {n}",
            "email": f"c{n}@example.test", "phone": "+33612345678", "address": None,
            "created_at": "2027-03-01T10:00:00+00:00"}


def pages_of(items, size, seen=None):
    """A fake list RPC: `size` items per page, keyset cursor = index."""
    def fetch_page(filters):
        if seen is not None:
            seen.append(dict(filters))
        start = int(filters.get("cursor", 0))
        end = start + size
        return {"items": items[start:end], "next_cursor": str(end) if end < len(items) else None}
    return fetch_page


def export(session, tmp_path, fetch_page, section="subscribers", merchant=A, **payload):
    job = exports.create_export(session, merchant, {"section": section, **payload})
    session.commit()
    return exports.run_export(session, job, fetch_page, root=tmp_path)


def read(job, tmp_path):
    return exports.file_path(job, tmp_path).read_bytes()


def test_rows_done_progresses_page_by_page_and_rows_total_comes_with_the_last_page(session, tmp_path):
    items = [subscriber(n) for n in range(7)]
    progress = []
    source = pages_of(items, 3)

    def watched(filters):
        job = session.scalars(select(ExportJob)).one()
        progress.append((job.status, job.rows_done, job.rows_total))
        return source(filters)

    job = export(session, tmp_path, watched, filters={"q": "Client"})
    assert progress == [("running", 0, None), ("running", 3, None), ("running", 6, None)]
    assert (job.status, job.rows_done, job.rows_total, job.error) == ("done", 7, 7, None)
    content = read(job, tmp_path).decode("utf-8")
    assert content.startswith("\ufeffcustomer_reference;name;email;phone;address;created_at\r\n")
    assert content.count("\r\n") == 8
    dumped = exports.dump(job)
    assert dumped["id"].startswith("EX") and dumped["filters"] == {"q": "Client"}
    assert dumped["filename"].startswith("subscribers-") and dumped["finished_at"]


def test_the_source_is_asked_pages_of_500_with_the_job_filters_and_its_cursor(session, tmp_path):
    seen = []
    export(session, tmp_path, pages_of([subscriber(n) for n in range(3)], 2, seen), filters={"q": "x"})
    assert seen == [{"q": "x", "limit": 500}, {"q": "x", "limit": 500, "cursor": "2"}]


def test_a_job_already_started_is_not_run_twice(session, tmp_path):
    calls = []
    job = export(session, tmp_path, pages_of([subscriber(1)], 5, calls))
    again = exports.run_export(session, job, pages_of([subscriber(1)], 5, calls), root=tmp_path)
    assert again.status == "done" and len(calls) == 1


STATEMENT_COLUMNS = ["date", "value_date", "code", "reference", "subscriber", "label", "amount", "balance"]
STATEMENT_LINES = ("2027-03-05;2027-03-05;SDD;PM1;Émilie Durand;Abonnement;29{d}90;129{d}90\r\n",
                   "2027-03-09;2027-03-09;RET;RT1;Émilie Durand;MS02;-17{d}50;112{d}40\r\n")


def statement_source(decimal, seen):
    """A fake payments.statement_page: one entry a page as its CSV line, the running balance in
    the cursor; the plan (where pages can start) is answered too. Records the filters asked."""
    def fetch_page(filters):
        seen.append(dict(filters))
        if filters.get("plan"):
            return {"bounds": [[1, "2027-03-05.LE1.12990"], [2, "2027-03-09.LE2.11240"]]}
        first = "cursor" not in filters
        return {"columns": STATEMENT_COLUMNS, "rows": 1, "decimal": decimal,
                "lines": STATEMENT_LINES[0 if first else 1].format(d=decimal),
                "opening_balance": 10000 if first else None, "closing_balance": None if first else 11240,
                "next_cursor": "2027-03-05.LE1.12990" if first else None}
    return fetch_page


@pytest.mark.parametrize("decimal", [",", "."])
def test_the_statement_starts_with_the_opening_balance_and_ends_with_the_closing_balance(session, tmp_path,
                                                                                         decimal):
    seen = []
    job = export(session, tmp_path, statement_source(decimal, seen), section="statement",
                 filters={"from": "2027-03-01", "to": "2027-03-31"}, decimal=decimal)
    assert (job.status, job.rows_done, job.rows_total) == ("done", 4, 4)
    period = {"from": "2027-03-01", "to": "2027-03-31", "decimal": decimal}
    size = exports.STATEMENT_PAGE_SIZE
    # the plan (in the background), the first page, then the next page from its cursor: up to the
    # plan's next bound (1 entry) if the plan is in by then, else a whole page
    assert [asked for asked in seen if "plan" in asked] == [dict(period, limit=size, plan=True)]
    assert [asked for asked in seen if "plan" not in asked] in (
        [dict(period, limit=size), dict(period, limit=1, cursor="2027-03-05.LE1.12990")],
        [dict(period, limit=size), dict(period, limit=size, cursor="2027-03-05.LE1.12990")])
    content = read(job, tmp_path)
    frame = pandas.read_csv(io.BytesIO(content), sep=";", decimal=decimal, encoding="utf-8-sig")
    assert list(frame.columns) == ["date", "value_date", "code", "reference", "subscriber", "label",
                                   "amount", "balance"]
    assert list(frame["code"]) == ["OPENING", "SDD", "RET", "CLOSING"]
    assert list(frame["balance"]) == [100.0, 129.9, 112.4, 112.4]
    assert list(frame["amount"].iloc[1:3]) == [29.9, -17.5]
    assert frame["amount"].iloc[[0, 3]].isna().all()  # the balance rows carry no amount
    assert content.decode("utf-8-sig").split("\r\n")[1:] == [
        f";;OPENING;;;opening balance;;100{decimal}00",
        *(line.format(d=decimal).removesuffix("\r\n") for line in STATEMENT_LINES),
        f";;CLOSING;;;closing balance;;112{decimal}40", ""]


def test_the_csv_reads_back_with_pandas_in_both_decimal_marks(session, tmp_path):
    payments = [{"id": f"PM{n}", "due_date": "2027-03-10", "amount": 1250 * n + 5, "status": "paid",
                 "debtor_name": "Durand; Fils", "label": 'dit "yoga"', "attempt": 1} for n in range(1, 4)]
    comma = export(session, tmp_path, pages_of(payments, 2), section="payments")
    frame = pandas.read_csv(io.BytesIO(read(comma, tmp_path)), sep=";", decimal=",", encoding="utf-8-sig")
    assert list(frame["amount"]) == [12.55, 25.05, 37.55]
    assert list(frame["debtor_name"]) == ["Durand; Fils"] * 3 and frame["label"][0] == 'dit "yoga"'
    point = export(session, tmp_path, pages_of(payments, 2), section="payments", decimal=".")
    assert b";12.55;" in read(point, tmp_path)
    frame = pandas.read_csv(io.BytesIO(read(point, tmp_path)), sep=";", decimal=".", encoding="utf-8-sig")
    assert list(frame["amount"]) == [12.55, 25.05, 37.55]


def test_a_subscriber_named_like_a_formula_is_exported_harmless(session, tmp_path):
    job = export(session, tmp_path, pages_of([subscriber(1, '=HYPERLINK("http://x")')], 10))
    content = read(job, tmp_path).decode("utf-8")
    assert """;"'=HYPERLINK(""http://x"")";""" in content
    frame = pandas.read_csv(io.BytesIO(read(job, tmp_path)), sep=";", decimal=",", encoding="utf-8-sig")
    assert frame["name"][0] == "'=HYPERLINK(\"http://x\")"


def test_booleans_become_yes_or_no(session, tmp_path):
    job = export(session, tmp_path, pages_of([{"id": "RT1", "amount": 100, "retryable": True}], 10),
                 section="r-transactions")
    assert b"RT1;;;;;1,00;;yes;;\r\n" in read(job, tmp_path)


def test_a_failure_midway_ends_the_job_failed_with_its_reason_and_leaves_no_file(session, tmp_path):
    source = pages_of([subscriber(n) for n in range(10)], 3)

    def failing(filters):
        if filters.get("cursor") == "6":
            raise Invalid("status: must be one of: active, revoked", {"status": "must be one of"})
        return source(filters)

    job = export(session, tmp_path, failing)
    assert job.status == "failed" and job.error == "status: must be one of: active, revoked"
    assert job.rows_done == 6 and job.rows_total is None and job.finished_at
    assert list(tmp_path.rglob("*")) == [tmp_path / A]  # neither the file nor its temporary
    with pytest.raises(Conflict):
        exports.read_export(session, A, job.id, 0, 100, root=tmp_path)


def test_an_unexpected_error_fails_the_job_without_leaking_details(session, tmp_path):
    def broken(filters):
        raise RuntimeError("connection reset by secret host")

    job = export(session, tmp_path, broken)
    assert job.status == "failed" and "RuntimeError" in job.error and "secret" not in job.error


@pytest.mark.parametrize("payload, field", [
    ({"section": "invoices"}, "section"),
    ({}, "section"),
    ({"section": "payments", "filters": {"colour": "red"}}, "filters"),
    ({"section": "payments", "filters": {"status": 3}}, "filters"),
    ({"section": "payments", "filters": ["status"]}, "filters"),
    ({"section": "payments", "filters": {"limit": "10"}}, "filters"),
    ({"section": "statement"}, "filters"),
    ({"section": "statement", "filters": {"from": "2027-03-31", "to": "2027-03-01"}}, "filters"),
    ({"section": "statement", "filters": {"from": "March", "to": "2027-03-01"}}, "filters"),
    ({"section": "payments", "decimal": ";"}, "decimal"),
    ({"section": "payments", "format": "xlsx"}, "format"),
])
def test_bad_export_requests_are_refused_and_create_nothing(session, payload, field):
    with pytest.raises(Invalid) as raised:
        exports.create_export(session, A, payload)
    assert field in raised.value.fields
    assert session.scalars(select(ExportJob)).all() == []


def test_another_merchant_never_sees_nor_reads_an_export(session, tmp_path):
    job = export(session, tmp_path, pages_of([subscriber(1)], 10))
    for call in (lambda: exports.get_export(session, B, job.id),
                 lambda: exports.read_export(session, B, job.id, 0, 10, root=tmp_path),
                 lambda: exports.get_export(session, A, "EXnope")):
        with pytest.raises(NotFound):
            call()


def test_the_file_is_read_back_in_chunks_up_to_its_end(session, tmp_path):
    job = export(session, tmp_path, pages_of([subscriber(n) for n in range(50)], 20))
    whole, offset, eof = b"", 0, False
    while not eof:
        chunk, eof = exports.read_export(session, A, job.id, offset, 1000, root=tmp_path)
        whole, offset = whole + chunk, offset + len(chunk)
    assert whole == read(job, tmp_path)
    assert exports.read_export(session, A, job.id, 0, 10**9, root=tmp_path) == (whole, True)


def test_cleanup_removes_old_exports_and_their_files_only(session, tmp_path, monkeypatch):
    old = export(session, tmp_path, pages_of([subscriber(1)], 10))
    monkeypatch.setenv("DEBITO_CLOCK", "2027-04-03T13:00:00+00:00")  # 73 hours later
    recent = export(session, tmp_path, pages_of([subscriber(2)], 10))
    assert exports.cleanup_exports(session, 72, root=tmp_path) == 1
    session.commit()
    assert [j.id for j in session.scalars(select(ExportJob))] == [recent.id]
    assert not exports.file_path(old, tmp_path).exists() and exports.file_path(recent, tmp_path).exists()


def test_export_dir_defaults_under_the_var_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("EXPORT_DIR", raising=False)
    monkeypatch.setenv("DEBITO_VAR", str(tmp_path))
    assert exports.export_dir() == tmp_path.resolve() / "exports"
    monkeypatch.setenv("EXPORT_DIR", str(tmp_path / "elsewhere"))
    assert exports.export_dir() == tmp_path / "elsewhere"
