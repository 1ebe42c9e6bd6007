"""Export jobs: every section's list (spec §6) as a CSV file (spec §8).

A job is created `pending`; the work runs later (the service hands it to
itself through an event) and pages through the section's list RPC, writing
each page to a temporary file and counting `rows_done` as it goes. Only a
complete file is renamed to its final name, so a job that failed midway
leaves nothing to download. Files live under `EXPORT_DIR/<merchant_id>/`.

Nothing here knows nameko: the caller passes `fetch_page(filters)`, which
answers a list page `{items, next_cursor}`, or `{items_json, next_cursor}` for
the lists whose one read path is JSON text rendered by PostgreSQL
(common.json_pages: mandates, plans, payments, R-transactions) (for the statement, a page of
payments.statement_page: `{columns, rows, lines, opening_balance,
closing_balance, next_cursor}`, its rows as CSV lines).
"""
import logging
import os
import threading
import time
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select, update

from common import clock
from common.config import env, var_dir
from common.csv import Amount, CsvWriter
from common.errors import Conflict, DebitoError, Invalid, NotFound
from common.ids import new_id
from common.json_pages import page_data
from common.schemas import to_utc
from reporting import events
from reporting.models import ExportJob

log = logging.getLogger(__name__)

PAGE_SIZE = 500
STATEMENT_PAGE_SIZE = 20_000  # about 2.5 MB a page: few round trips, bounded memory
STATEMENT_PAGES_AHEAD = 3  # statement pages asked at once (PostgreSQL makes them on as many connections)
CHUNK_MAX = 1024 * 1024  # read_export answers at most 1 MB per call
AMOUNT_COLUMNS = ("amount", "balance")


@dataclass(frozen=True)
class Section:
    service: str
    method: str
    columns: tuple
    filters: tuple


# The same column names as the dashboard's CSV (gateway/gateway/dashboard_*.py), duplicated on purpose:
# a service never imports the gateway.
SECTIONS = {
    "subscribers": Section("mandates", "list_subscribers",
                           ("customer_reference", "name", "email", "phone", "address", "created_at"),
                           ("q",)),
    "mandates": Section("mandates", "list_mandates_json",
                        ("reference", "customer_reference", "name", "iban", "bic", "status",
                         "signature_method", "signed_at", "signed_place", "sequence",
                         "last_collected_on", "revoked_at", "revocation_reason"),
                        ("customer_reference", "reference", "status", "signed_from", "signed_to", "q",
                         "subscriber_id")),
    "plans": Section("plans", "list_plans_json",
                     ("id", "label", "mandate_id", "amount", "frequency", "start_date", "count", "end_date",
                      "day_of_month", "status", "next_due_date", "collected_count"),
                     ("status", "frequency", "from", "to", "mandate_id", "subscriber_id")),
    "payments": Section("payments", "list_payments_json",
                        ("id", "due_date", "amount", "status", "sequence_type", "debtor_name",
                         "mandate_reference", "end_to_end_id", "label", "plan_id", "replay_of", "attempt"),
                        ("status", "from", "to", "plan_id", "mandate_id", "subscriber_id")),
    "r-transactions": Section("payments", "list_r_transactions_json",
                              ("id", "received_on", "type", "reason_code", "reason", "amount", "status",
                               "retryable", "payment_id", "replayed_by"),
                              ("type", "reason_code", "status", "from", "to")),
    "payouts": Section("payments", "list_payouts",
                       ("id", "execution_date", "amount", "status", "end_to_end_id", "creditor_name",
                        "creditor_iban", "created_at", "paid_on", "failed_reason"),
                       ("status",)),
    "statement": Section("payments", "statement_page",
                         ("date", "value_date", "code", "reference", "subscriber", "label", "amount",
                          "balance"),
                         ("from", "to")),
    # customer_reference, name, email and phone are the order's subscriber's (see _value)
    "signature-orders": Section("signing", "list_orders",
                                ("id", "method", "status", "customer_reference", "name", "email", "phone",
                                 "created_at", "expires_at", "signed_at", "mandate_id"),
                                ("status", "method")),
}


def export_dir():
    return Path(env("EXPORT_DIR") or var_dir() / "exports")


def retention_hours():
    return int(env("EXPORT_RETENTION_HOURS", "72"))


def file_path(job, root=None):
    return Path(root or export_dir()) / job.merchant_id / f"{job.id}.csv"


def _partial_path(job, root=None):
    return file_path(job, root).with_suffix(".csv.part")


# --- asking for an export ----------------------------------------------------

def check_filters(section, filters):
    """Light checks only: the source service validates the values when the job runs."""
    if not isinstance(filters, dict) or not all(isinstance(v, str) for v in filters.values()):
        raise Invalid("filters: an object of text values", {"filters": "an object of text values"})
    unknown = sorted(set(filters) - set(SECTIONS[section].filters))
    if unknown:
        message = f"unknown filter {unknown[0]!r} for {section} (known: {', '.join(SECTIONS[section].filters)})"
        raise Invalid(f"filters: {message}", {"filters": message})
    filters = {key: value.strip() for key, value in filters.items() if value.strip()}
    if section == "statement":
        period = {}
        for name in ("from", "to"):
            try:
                period[name] = date.fromisoformat(filters.get(name, ""))
            except ValueError:
                message = f"{name}: an ISO date (YYYY-MM-DD)"
                raise Invalid(f"filters: {message}", {"filters": message}) from None
        if period["from"] > period["to"]:
            raise Invalid("filters: from must be on or before to", {"filters": "from: on or before to"})
    return filters


def create_export(session, merchant_id, payload):
    """A new `pending` job; the caller commits and has the work started."""
    if not isinstance(payload, dict):
        raise Invalid("expected an object {section, filters?, decimal?}", {"body": "a JSON object"})
    unknown = sorted(set(payload) - {"section", "filters", "decimal"})
    if unknown:
        raise Invalid(f"{unknown[0]}: unknown field", {unknown[0]: "unknown field"})
    section = payload.get("section")
    if section not in SECTIONS:
        message = f"one of {', '.join(SECTIONS)}"
        raise Invalid(f"section: {message}", {"section": message})
    decimal = payload.get("decimal") or ","
    if decimal not in (",", "."):
        raise Invalid("decimal: ',' or '.'", {"decimal": "',' or '.'"})
    filters = check_filters(section, payload.get("filters") or {})
    now = clock.now()
    job = ExportJob(id=new_id("EX"), merchant_id=merchant_id, section=section, filters=filters,
                    decimal=decimal, status="pending", rows_done=0, created_at=now,
                    filename=f"{section}-{now:%Y%m%d-%H%M%S}.csv")
    session.add(job)
    session.flush()
    return job


def get_export(session, merchant_id, export_id):
    job = session.get(ExportJob, export_id) if isinstance(export_id, str) else None
    if job is None or job.merchant_id != merchant_id:
        raise NotFound("no such export", {"export_id": "not found"})
    return job


def dump(job):
    return {"id": job.id, "section": job.section, "filters": job.filters, "decimal": job.decimal,
            "status": job.status, "rows_done": job.rows_done, "rows_total": job.rows_total,
            "error": job.error, "filename": job.filename,
            "created_at": to_utc(job.created_at).isoformat(),
            "finished_at": job.finished_at and to_utc(job.finished_at).isoformat()}


# --- doing it ---------------------------------------------------------------

def _cell(column, value):
    if column in AMOUNT_COLUMNS and isinstance(value, int):
        return Amount(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _value(item, column):
    """A column of the item, or of its nested subscriber (signature orders)."""
    return item[column] if column in item else (item.get("subscriber") or {}).get(column)


def _list_pages(job, fetch_page, columns, start_page=None):
    filters = dict(job.filters, limit=PAGE_SIZE)
    while True:
        page = fetch_page(dict(filters))
        items = page_data(page)["items"] if "items_json" in page else page["items"]
        yield [[_cell(c, _value(item, c)) for c in columns] for item in items], not page["next_cursor"]
        if not page["next_cursor"]:
            return
        filters["cursor"] = page["next_cursor"]


class _Columns(list):
    """A batch of rows given column by column (a list of equal-length lists of cells)."""

    @property
    def rows(self):
        return len(self[0]) if self else 0


class _Ahead(threading.Thread):
    """fetch_page(filters) in the background (a green thread in a service), so the source
    works on the next page while this one is written."""

    def __init__(self, fetch_page, filters):
        super().__init__(daemon=True)
        self._fetch, self._filters, self._page, self._error = fetch_page, filters, None, None
        self.start()
        time.sleep(0)  # under eventlet: let the request leave before this thread writes a page

    def run(self):
        try:
            self._page = self._fetch(self._filters)
        except BaseException as error:  # noqa: BLE001 - raised again by result()
            self._error = error

    def result(self):
        self.join()
        if self._error is not None:
            raise self._error
        return self._page


class _Lines(str):
    """A batch of rows already written as CSV lines (a statement page made by PostgreSQL)."""

    rows = 0

    @classmethod
    def of(cls, page):
        lines = cls(page["lines"])
        lines.rows = page["rows"]
        return lines


def _statement_pages(job, fetch_page, columns, start_page=None):
    """Keyset pages of payments.statement_page, asked as the CSV lines of their rows
    (`decimal`: PostgreSQL formats them as common.csv does) and written as they come; each
    row carries its running balance. The opening-balance row comes before the first, the
    closing-balance row after the last."""
    filters = dict(job.filters, limit=STATEMENT_PAGE_SIZE, decimal=job.decimal)
    yield from _planned_pages(filters, fetch_page, start_page or (lambda f: _Ahead(fetch_page, f)), columns)


def _planned_pages(filters, fetch_page, start_page, columns):
    """The statement's pages as CSV lines, up to STATEMENT_PAGES_AHEAD of them asked at once
    once the plan is in (payments' bounds: where runs of whole days end, asked beside the first
    page): PostgreSQL makes them on several connections while this writes them in order.
    A page is asked to end on the next bound, so the page after it starts on a known cursor;
    until the plan is in, within a day longer than a page, and once a page does not end on its
    bound's cursor (the ledger changed meanwhile: the plan is dropped), the next page is asked
    with this page's next_cursor. The file is the same either way."""
    size = filters["limit"]
    plan = start_page(dict(filters, plan=True))
    page, at = fetch_page(dict(filters)), 0  # `at`: the period's entries before this page
    bounds = None  # the plan's {entries up to a bound: its cursor}
    ends = []  # those numbers in order
    asked = deque()  # (entries before the page, its cursor, its limit, the answer to come)

    def ask(before, cursor):
        following = ends[bisect_right(ends, before)] if ends and before < ends[-1] else before + size
        limit = min(size, following - before)
        asked.append((before, cursor, limit, start_page(dict(filters, cursor=cursor, limit=limit))))

    while True:
        if bounds is None and plan is not None and _ready(plan):
            bounds, plan = _plan_bounds(plan), None
            ends = sorted(bounds)
        cursor, end = page["next_cursor"], at + page["rows"]
        if bounds and cursor is not None and bounds.get(end, cursor) != cursor:
            bounds, ends = {}, []  # the plan no longer holds: the pages asked from it are dropped
            _drop(asked)
        if cursor is not None:
            if asked and asked[0][:2] != (end, cursor):
                _drop(asked)
            if not asked:  # the next page from this one's cursor
                ask(end, cursor)
            while len(asked) < STATEMENT_PAGES_AHEAD and bounds:  # and the pages after it from the plan
                before, _, limit, _ = asked[-1]
                if before + limit not in bounds or before + limit >= ends[-1]:
                    break
                ask(before + limit, bounds[before + limit])
        if page["opening_balance"] is not None:
            yield _balance_row(columns, "OPENING", "opening balance", page["opening_balance"]), False
        yield _Lines.of(page), False
        if cursor is None:
            _drop(asked)
            if plan is not None:
                _drop([plan])
            yield _balance_row(columns, "CLOSING", "closing balance", page["closing_balance"]), True
            return
        at, page = end, asked.popleft()[3].result()


def _ready(reply):
    """Whether an asked page's answer is in (nameko's RpcReply, or an _Ahead thread)."""
    event = getattr(reply, "reply_event", None)
    if event is not None:
        return event.ready()
    return not reply.is_alive() if isinstance(reply, threading.Thread) else True


def _plan_bounds(plan):
    try:
        return {int(rows): cursor for rows, cursor in plan.result()["bounds"]}
    except Exception:  # noqa: BLE001 - without a plan, the pages come one after the other
        log.warning("no plan of the statement's pages: asked one after the other", exc_info=True)
        return {}


def _drop(replies):
    """Waits for answers no longer wanted, so none is left behind."""
    for reply in replies:
        try:
            reply.result()
        except Exception:  # noqa: BLE001, S110 - not wanted
            pass
    if isinstance(replies, deque):
        replies.clear()


def _balance_row(columns, code, label, balance):
    row = {"code": code, "label": label, "balance": balance}
    return _Columns([row.get(column)] for column in columns)


def run_export(session, job, fetch_page, root=None, start_page=None):
    """Write `job`'s file, committing its progress (and a heartbeat) after every page; a job
    already started (a redelivered event) is left alone (resume_stalled starts it again if
    its worker died). Returns the job.
    `start_page(filters)`, if given, sends a page's request at once and answers an object
    whose result() waits for it (nameko's call_async); else a thread asks fetch_page. The
    statement's pages come as CSV lines made by PostgreSQL (payments' statement_page)."""
    if job.status != "pending":
        return job
    job.status, job.heartbeat_at = "running", clock.wall()
    session.commit()
    final, partial = file_path(job, root), _partial_path(job, root)
    columns = SECTIONS[job.section].columns
    pages = _statement_pages if job.section == "statement" else _list_pages
    try:
        partial.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "wb") as file:
            writer = CsvWriter(file, columns, decimal=job.decimal,
                               amounts=[c for c in columns if c in AMOUNT_COLUMNS])
            for batch, last in pages(job, fetch_page, columns, start_page):
                if isinstance(batch, _Lines):
                    writer.writelines(batch)
                    job.rows_done += batch.rows
                elif isinstance(batch, _Columns):
                    writer.writecolumns(batch)
                    job.rows_done += batch.rows
                else:
                    writer.writerows(batch)
                    job.rows_done += len(batch)
                if last:
                    job.rows_total = job.rows_done
                job.heartbeat_at = clock.wall()
                session.commit()
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, final)
    except Exception as error:  # noqa: BLE001 (any failure ends the job, with its reason)
        session.rollback()
        partial.unlink(missing_ok=True)
        if isinstance(error, DebitoError):
            reason = error.message
        else:
            log.exception("export %s failed", job.id)
            reason = f"the export could not be written ({type(error).__name__})"
        job.status, job.error, job.finished_at = "failed", reason, clock.now()
        session.commit()
        return job
    job.status, job.finished_at = "done", clock.now()
    session.commit()
    return job


def resume_stalled(session, stall_seconds, root=None):
    """The running jobs without a heartbeat for `stall_seconds` (their worker was killed: a
    redelivered event leaves a running job alone) are made pending again, their partial file
    removed; the caller dispatches their events and commits. Two replicas never both take one."""
    stalled = session.execute(
        update(ExportJob)
        .where(ExportJob.status == "running",
               ExportJob.heartbeat_at < clock.wall() - timedelta(seconds=stall_seconds))
        .values(status="pending", rows_done=0, rows_total=None, heartbeat_at=None)
        .returning(ExportJob.id, ExportJob.merchant_id)
        .execution_options(synchronize_session=False)).all()
    for export_id, merchant_id in stalled:
        _partial_path(session.get(ExportJob, export_id), root).unlink(missing_ok=True)
    return [events.export_requested(export_id, merchant_id) for export_id, merchant_id in stalled]


def read_export(session, merchant_id, export_id, offset, size, root=None):
    """`size` bytes (at most 1 MB) of a done job's file from `offset`, and whether the file ends there."""
    job = get_export(session, merchant_id, export_id)
    if job.status != "done":
        raise Conflict(f"the export is {job.status}, not done", {"status": job.status})
    for name, value in (("offset", offset), ("size", size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise Invalid(f"{name}: a non-negative integer", {name: "a non-negative integer"})
    path = file_path(job, root)
    with open(path, "rb") as file:
        file.seek(offset)
        content = file.read(min(size, CHUNK_MAX))
        eof = offset + len(content) >= os.fstat(file.fileno()).st_size
    return content, eof


def cleanup_exports(session, older_than_hours, root=None):
    """Delete the jobs created more than `older_than_hours` ago, and their files."""
    limit = clock.now() - timedelta(hours=older_than_hours)
    jobs = session.scalars(select(ExportJob).where(ExportJob.created_at < limit)).all()
    for job in jobs:
        file_path(job, root).unlink(missing_ok=True)
        _partial_path(job, root).unlink(missing_ok=True)
        session.delete(job)
    return len(jobs)
