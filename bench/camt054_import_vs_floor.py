"""The import of a camt.054 of 10 000 returns against its floor: a plain lxml iterparse
pulling out the same fields, plus a PostgreSQL COPY of as many rows as the import writes.

    python -m bench.camt054_import_vs_floor [--scale 1.0] [--repeat 3]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--output var/bench/camt054_import_vs_floor.json]

1. A throwaway PostgreSQL database `debito_bench_<hex>` (dropped at the end, even on
   failure) gets the payments schema (the project's migrations) and two creditors. By
   COPY (untimed): `int(1_000_000 * scale)` payments of two merchants over thirteen
   months; among the bench merchant's, `max(100, int(10_000 * scale))` are the debits the
   file returns: 40 % `submitted`, 60 % `paid`. ANALYZE, then CHECKPOINT.
2. The camt.054.001.02 (untimed, pretty-printed as banks send it): one `Ntry` per return
   (DBIT, BOOK, PMNT/RDDT/UPDD), each with one `TxDtls` (Refs, AmtDtls, charges on a third,
   related parties and agents, remittance, RtrInf with a real mix of reason codes). Every
   return names exactly one payment. Checked against the shipped XSD (untimed).
3. Timed, `repeat` times, best of each:
   (a) the project's import of the file: `inbox.import_inbox(session, inbox, as_of)` with
       the service's `announce` (the events staged in outbox_events in the same
       transaction, as PaymentsService._announce_import does): identify, parse, reconcile,
       the payments `rejected`, R-transactions, RET/REF ledger entries, the bank file's row,
       the commit, the move to processed/. The session is bound to a connection whose outer
       transaction is rolled back afterwards, then VACUUM ANALYZE (untimed).
   (b) the floor, two parts: `iterparse_fields`: lxml iterparse over the file (in a child
       process) reading, per entry, the fields the reader reads (status, code, amounts,
       ids, dates, reversal, reason) with `findtext`, each entry cleared once read; and
       `copy`: a COPY of as many rows as the import writes (the payments it updates, its
       R-transactions and ledger entries) into a temporary table shaped as r_transactions,
       rolled back.
   Figure: best (a) / (best iterparse_fields + best copy) (wall clock); goal <= 3.0.
4. A table and the figures in JSON (var/bench/camt054_import_vs_floor.json). Exit
   status 0: this measures, it does not judge.
"""
import argparse
import csv
import gc
import io
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from bench.common import machine, reset_peak, save_figures, status_mb, throwaway_database
from bench.pain008_vs_sepaxml import ACCOUNTS, FIRST, LABELS, LAST
from common.ids import base32

FIGURE = "camt054_import_vs_floor"
GOAL = 3.0
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_OUTPUT = Path(f"var/bench/{FIGURE}.json")
MERCHANT = "MECAMTBENCH000000000000001"
OTHER = "MECAMTBENCH000000000000002"
AS_OF = date(2027, 2, 3)  # a Wednesday: the bank's notification of the day
FIRST_DUE = date(2026, 1, 5)
SUBMITTED_DAYS = (date(2027, 2, 1), date(2027, 2, 2), date(2027, 2, 3))  # not yet credited
SCHEDULED_DAYS = (date(2027, 2, 5), date(2027, 2, 8), date(2027, 2, 10), date(2027, 2, 15))
CREDITORS = (
    {"merchant_id": MERCHANT, "name": "Société Générale des Sports d'Île-de-France",
     "creditor_id": "FR72ZZZ123456", "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP"},
    {"merchant_id": OTHER, "name": "Großmann Fitness GmbH", "creditor_id": "DE98ZZZ09999999999",
     "iban": "DE89370400440532013000", "bic": "COBADEFFXXX"},
)
# A return's reason, weighted as they come (per 100); MD06 (refund) only after a credit.
REASONS = (("AM04", 46), ("MS02", 14), ("AC04", 8), ("MS03", 8), ("MD06", 10), ("AC01", 4), ("MD01", 4),
           ("AG01", 3), ("MD07", 2), ("SL01", 1))
ADDITIONAL = {"AM04": "PROVISION INSUFFISANTE", "MS02": "OPPOSITION DU DEBITEUR", "AC04": "COMPTE CLOTURE",
              "MS03": "MOTIF NON COMMUNIQUE", "MD06": "CONTESTATION DEBITEUR (REMBOURSEMENT)",
              "AC01": "IBAN ERRONE", "MD01": "ABSENCE DE MANDAT", "AG01": "OPERATION NON AUTORISEE",
              "MD07": "DEBITEUR DECEDE", "SL01": "SERVICE SPECIFIQUE BANQUE DU DEBITEUR"}
_COLUMNS = ("id", "merchant_id", "plan_id", "instalment_key", "sequence_no", "mandate_id",
            "subscriber_id", "mandate_reference", "mandate_signed_on", "debtor_name", "debtor_email",
            "iban", "bic", "amount", "currency", "label", "due_date", "sequence_type", "end_to_end_id",
            "status", "attempt", "automatic", "bank_file_id", "created_at", "submitted_at", "paid_at",
            "rejected_at", "cancelled_at")
_R_COLUMNS = ("id", "merchant_id", "payment_id", "type", "reason_code", "reason", "amount", "received_on",
              "retryable", "status", "bank_file_id", "created_at")
NS = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"


def counts(scale):
    """(payments, returns) at `scale`."""
    return int(1_000_000 * scale), max(100, int(10_000 * scale))


# --- the data -----------------------------------------------------------------

def _business_days(first, last):
    day, days = first, []
    while day <= last:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def _instant(day, hour=6):
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


def _payment(n, merchant, due, status, rng):
    """One payment row (as COPY reads it) and what the file needs of it."""
    created = _instant(due - timedelta(days=20), 3)
    payment_id = "PM" + base32(int(created.timestamp() * 1000) + n % 86_400_000, 10) + base32(rng.getrandbits(60), 12)
    iban, bic = ACCOUNTS[n % len(ACCOUNTS)]
    name = f"{FIRST[n % len(FIRST)]} {LAST[(n * 7) % len(LAST)]}"
    plan, mandate = f"PL{merchant[-1]}{n // 12:08d}", f"MD{merchant[-1]}{n // 12:08d}"
    amount = 500 + (n * 7919) % 250_000  # 5.00 to 2 504.99 EUR, uneven
    submitted = _instant(due - timedelta(days=1), 14) if status != "scheduled" and status != "cancelled" else None
    row = (payment_id, merchant, plan, f"{plan}:{n % 12 + 1}", n % 12 + 1, mandate, f"SB{merchant[-1]}{n // 12:08d}",
           f"DBT-{merchant[-1]}-{n // 12:08d}", (FIRST_DUE - timedelta(days=30 + n % 300)).isoformat(), name,
           f"debtor{n}@example.org", iban, bic or "", amount, "EUR", LABELS[n % len(LABELS)], due.isoformat(),
           "FRST" if n % 12 == 0 else "RCUR", payment_id, status, 1, "f",
           f"BF{due:%Y%m%d}{merchant[-1]}" if submitted else "", created.isoformat(),
           submitted.isoformat() if submitted else "",
           _instant(due + timedelta(days=1)).isoformat() if status == "paid" else "",
           _instant(due, 9).isoformat() if status == "rejected" else "",
           _instant(due - timedelta(days=5)).isoformat() if status == "cancelled" else "")
    return row


def _rows(total, returns, seed, details):
    """(payment row, R-transaction row or None) in created order; the returned payments'
    details for the file are appended to `details`."""
    rng = random.Random(seed)
    past = _business_days(FIRST_DUE, SUBMITTED_DAYS[0] - timedelta(days=1))
    recent = [day for day in past if day >= SUBMITTED_DAYS[0] - timedelta(weeks=8)]
    days = past + list(SUBMITTED_DAYS) + list(SCHEDULED_DAYS)
    returned_submitted = returns * 4 // 10
    returned = {}  # n -> "submitted" | "paid"
    by_day = {}
    for n in range(total):
        by_day.setdefault(days[n * len(days) // total], []).append(n)
    submitted_pool = [n for day in SUBMITTED_DAYS for n in by_day.get(day, ()) if n % 10 != 9]
    paid_pool = [n for day in recent for n in by_day.get(day, ()) if n % 10 != 9]
    for n in rng.sample(submitted_pool, min(returned_submitted, len(submitted_pool))):
        returned[n] = "submitted"
    for n in rng.sample(paid_pool, min(returns - len(returned), len(paid_pool))):
        returned[n] = "paid"
    assert len(returned) == returns, "too few payments for the returns"
    for n in range(total):
        merchant = OTHER if n % 10 == 9 else MERCHANT  # every tenth payment is the other merchant's
        due = days[n * len(days) // total]
        if n in returned:
            status = returned[n]
        elif due >= SCHEDULED_DAYS[0]:
            status = "scheduled"
        elif due >= SUBMITTED_DAYS[0]:
            status = "submitted"
        else:
            roll = (n * 2654435761) % 100
            status = "paid" if roll < 96 else "rejected" if roll < 99 else "cancelled"
        row, r_row = _payment(n, merchant, due, status, rng), None
        if status == "rejected":
            r_row = ("RT" + row[0][2:], merchant, row[0], "return", "AM04", "insufficient funds", row[13],
                     (due + timedelta(days=3)).isoformat(), "t", "open", "", row[-2])
        if n in returned:
            details.append({"end_to_end_id": row[18], "amount": row[13], "status": status, "due_date": due,
                            "debtor_name": row[9], "iban": row[11], "bic": row[12] or None,
                            "mandate_reference": row[7], "label": row[15], "bank_file": row[22], "n": n})
        yield row, r_row


def load(url, total, returns, seed=8, chunk=100_000):
    """COPY the payments (and the R-transactions of the rejected ones); the returned
    payments' details for the file, in a shuffled order (a bank sorts by its own refs)."""
    import psycopg2

    connection = psycopg2.connect(url, options="-csearch_path=payments")
    details = []
    rows = _rows(total, returns, seed, details)
    try:
        with connection.cursor() as cursor:
            done = False
            while not done:
                payments, r_transactions = io.StringIO(), io.StringIO()
                write_payment, write_r = csv.writer(payments), csv.writer(r_transactions)
                written = 0
                for row, r_row in rows:
                    write_payment.writerow(row)  # an empty field is NULL in CSV COPY
                    if r_row:
                        write_r.writerow(r_row)
                    written += 1
                    if written == chunk:
                        break
                else:
                    done = True
                payments.seek(0)
                r_transactions.seek(0)
                cursor.copy_expert(f"COPY payments ({', '.join(_COLUMNS)}) FROM STDIN WITH (FORMAT csv)",
                                   payments)
                cursor.copy_expert(f"COPY r_transactions ({', '.join(_R_COLUMNS)}) FROM STDIN WITH (FORMAT csv)",
                                   r_transactions)
        connection.commit()
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE payments")
            cursor.execute("VACUUM ANALYZE r_transactions")
        checkpoint(connection)
    finally:
        connection.close()
    random.Random(seed + 1).shuffle(details)
    return details


def checkpoint(connection):
    """A CHECKPOINT (autocommit psycopg2 connection), when the role may run one: the WAL of the
    load (and of the figures run before this one) is written out before the timed imports,
    which do not then share the disk and the CPUs with a checkpoint that the load started."""
    import psycopg2

    with connection.cursor() as cursor:
        try:
            cursor.execute("CHECKPOINT")
        except psycopg2.errors.InsufficientPrivilege:
            pass


def prepare(url):
    """Migrate the payments schema into `url` and register both creditors."""
    from sqlalchemy import insert

    from common.database import make_engine
    from common.migrations import upgrade
    from payments.models import Creditor

    upgrade("payments", make_engine("payments", url))  # disposes of its engine
    engine = make_engine("payments", url)
    with engine.begin() as connection:
        for creditor in CREDITORS:
            connection.execute(insert(Creditor).values(**creditor, updated_at=datetime.now(timezone.utc)))
    return engine


# --- the file -------------------------------------------------------------------

def _reasons(returns, seed):
    rng = random.Random(seed)
    codes = [code for code, weight in REASONS for _ in range(weight)]
    return [rng.choice(codes) for _ in range(returns)]


def _decimal(cents):
    return f"{cents // 100}.{cents % 100:02d}"


def write_file(path, details, seed=9):
    """The bank's camt.054.001.02 of the day: one notification, one entry per return."""
    from lxml import etree

    creditor = CREDITORS[0]
    codes = _reasons(len(details), seed)
    total = sum(d["amount"] for d in details)
    message_id = f"CAMT054-{AS_OF:%Y%m%d}-{len(details):06d}"

    def sub(parent, tag, text=None, **attributes):
        element = etree.SubElement(parent, tag, attributes)
        if text is not None:
            element.text = text
        return element

    def bank_code(parent, proprietary):
        code = sub(parent, "BkTxCd")
        domain = sub(code, "Domn")
        sub(domain, "Cd", "PMNT")
        family = sub(domain, "Fmly")
        sub(family, "Cd", "RDDT")
        sub(family, "SubFmlyCd", "UPDD")
        prtry = sub(code, "Prtry")
        sub(prtry, "Cd", proprietary)
        sub(prtry, "Issr", "DK")

    with etree.xmlfile(str(path), encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element("Document", nsmap={None: NS}):
            with xf.element("BkToCstmrDbtCdtNtfctn"):
                header = etree.Element("GrpHdr")
                sub(header, "MsgId", message_id)
                sub(header, "CreDtTm", f"{AS_OF.isoformat()}T05:12:44")
                pages = sub(header, "MsgPgntn")
                sub(pages, "PgNb", "1")
                sub(pages, "LastPgInd", "true")
                xf.write("\n", header, pretty_print=True)
                with xf.element("Ntfctn"):
                    top = etree.Element("Top")
                    sub(top, "Id", f"NTF{AS_OF:%Y%m%d}0001")
                    sub(top, "ElctrncSeqNb", "37")
                    sub(top, "CreDtTm", f"{AS_OF.isoformat()}T05:12:44")
                    period = sub(top, "FrToDt")
                    sub(period, "FrDtTm", f"{(AS_OF - timedelta(days=1)).isoformat()}T00:00:00")
                    sub(period, "ToDtTm", f"{AS_OF.isoformat()}T04:59:59")
                    account = sub(top, "Acct")
                    sub(sub(account, "Id"), "IBAN", creditor["iban"])
                    sub(account, "Ccy", "EUR")
                    sub(sub(account, "Ownr"), "Nm", creditor["name"])
                    sub(sub(sub(account, "Svcr"), "FinInstnId"), "BIC", creditor["bic"])
                    for child in top:
                        xf.write("\n", child, pretty_print=True)
                    summary = etree.Element("TxsSummry")
                    sums = sub(summary, "TtlNtries")
                    sub(sums, "NbOfNtries", str(len(details)))
                    sub(sums, "Sum", _decimal(total))
                    sub(sums, "TtlNetNtryAmt", _decimal(total))
                    sub(sums, "CdtDbtInd", "DBIT")
                    xf.write(summary, pretty_print=True)
                    for number, (detail, code) in enumerate(zip(details, codes), 1):
                        if code == "MD06" and detail["status"] != "paid":
                            code = "AM04"  # a refund claim follows a credit
                        xf.write(_entry(sub, bank_code, creditor, number, detail, code), pretty_print=True)
    return {"message_id": message_id, "entries": len(details), "total_cents": total,
            "codes": {code: codes.count(code) for code, _ in REASONS}}


def _entry(sub, bank_code, creditor, number, detail, code):
    from lxml import etree

    amount = _decimal(detail["amount"])
    booked = AS_OF if number % 5 else AS_OF - timedelta(days=1)
    entry = etree.Element("Ntry")
    sub(entry, "NtryRef", f"{AS_OF:%y%m%d}{number:07d}")
    sub(entry, "Amt", amount, Ccy="EUR")
    sub(entry, "CdtDbtInd", "DBIT")
    sub(entry, "RvslInd", "false")
    sub(entry, "Sts", "BOOK")
    sub(sub(entry, "BookgDt"), "Dt", booked.isoformat())
    sub(sub(entry, "ValDt"), "Dt", booked.isoformat())
    sub(entry, "AcctSvcrRef", f"2027{number:012d}RT")
    bank_code(entry, "NRTI+109+00931")
    details = sub(sub(entry, "NtryDtls"), "TxDtls")
    refs = sub(details, "Refs")
    sub(refs, "AcctSvcrRef", f"R{number:010d}")
    sub(refs, "PmtInfId", f"{detail['bank_file'] or 'BF'}-{1 + detail['n'] % 2}")
    sub(refs, "EndToEndId", detail["end_to_end_id"])
    sub(refs, "MndtId", detail["mandate_reference"])
    amounts = sub(details, "AmtDtls")
    sub(sub(amounts, "InstdAmt"), "Amt", amount, Ccy="EUR")
    sub(sub(amounts, "TxAmt"), "Amt", amount, Ccy="EUR")
    bank_code(details, "NRTI+109+00931")
    if number % 3 == 0:  # the debtor's bank's fee, when it charges one
        charges = sub(details, "Chrgs")
        sub(charges, "Amt", "3.00", Ccy="EUR")
    parties = sub(details, "RltdPties")
    sub(sub(parties, "Dbtr"), "Nm", detail["debtor_name"])
    sub(sub(sub(parties, "DbtrAcct"), "Id"), "IBAN", detail["iban"])
    cdtr = sub(parties, "Cdtr")
    sub(cdtr, "Nm", creditor["name"])
    other = sub(sub(sub(cdtr, "Id"), "PrvtId"), "Othr")
    sub(other, "Id", creditor["creditor_id"])
    sub(sub(other, "SchmeNm"), "Prtry", "SEPA")
    sub(sub(sub(parties, "CdtrAcct"), "Id"), "IBAN", creditor["iban"])
    agents = sub(details, "RltdAgts")
    if detail["bic"]:
        sub(sub(sub(agents, "DbtrAgt"), "FinInstnId"), "BIC", detail["bic"])
    sub(sub(sub(agents, "CdtrAgt"), "FinInstnId"), "BIC", creditor["bic"])
    sub(sub(details, "RmtInf"), "Ustrd", detail["label"])
    sub(sub(details, "RltdDts"), "IntrBkSttlmDt", detail["due_date"].isoformat())
    returned = sub(details, "RtrInf")
    sub(sub(sub(sub(returned, "Orgtr"), "Id"), "OrgId"), "BICOrBEI", detail["bic"] or "AGRIFRPP")
    sub(sub(returned, "Rsn"), "Cd", code)
    sub(returned, "AddtlInf", ADDITIONAL[code])
    sub(entry, "AddtlNtryInf", f"RETOUR SDD {code} {detail['end_to_end_id']}")
    return entry


# --- the contenders -------------------------------------------------------------

def _outbox(session, figures):
    """An `announce` for collection.import_inbox that stages the import's events in the
    outbox_events table as the service does before its commit (PaymentsService._announce_import
    through common.outbox.Staged, the rest written as the session commits); its time in
    figures["outbox_seconds"] (the payloads and the rows written before the commit)."""
    from types import SimpleNamespace

    from common.outbox import Staged, row
    from payments.models import outbox_events
    from payments.service import PaymentsService

    staged = Staged(session, outbox_events)

    def dispatch(event_type, payload):
        staged.add(row(event_type, payload))

    def announce(part):
        started, cpu = time.perf_counter(), time.process_time()
        PaymentsService._announce_import(SimpleNamespace(dispatch=dispatch, db=session), part)
        staged.write(session)
        figures["outbox_seconds"] += time.perf_counter() - started
        figures["outbox_cpu_seconds"] += time.process_time() - cpu
    return announce


def _backend_cpu(connection):
    """CPU seconds used so far by the PostgreSQL backend of `connection` when the server runs
    on this machine (/proc), else None."""
    from sqlalchemy import text

    pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_import(engine, source, workdir, outbox=False):
    """Time inbox.import_inbox over an inbox holding only the file, in a transaction
    rolled back afterwards; the figures and what the import did. With `outbox`, the import's
    events are staged in outbox_events before its commit, as the service does."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from payments.inbox import import_inbox

    inbox = Path(workdir) / f"inbox-{time.monotonic_ns()}"
    inbox.mkdir(parents=True)
    shutil.copyfile(source, inbox / Path(source).name)
    connection = engine.connect()
    outer = connection.begin()
    try:
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        staged = {"outbox_seconds": 0.0, "outbox_cpu_seconds": 0.0}
        backend_before = _backend_cpu(connection)
        gc.collect()
        reset = reset_peak()
        rss_before = status_mb(os.getpid(), "VmRSS")
        started, cpu = time.perf_counter(), time.process_time()
        report = import_inbox(session, inbox, AS_OF, announce=_outbox(session, staged) if outbox else None)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        backend_after = _backend_cpu(connection)
        backend = None if backend_before is None or backend_after is None else backend_after - backend_before
        peak = status_mb(os.getpid(), "VmHWM")
        effects = {
            name: connection.execute(text(query)).scalar() for name, query in (
                ("rejected_payments", "SELECT count(*) FROM payments WHERE status = 'rejected' AND id IN "
                                      "(SELECT payment_id FROM r_transactions WHERE bank_file_id IN "
                                      "(SELECT id FROM bank_files WHERE direction = 'in'))"),
                ("r_transactions", "SELECT count(*) FROM r_transactions WHERE bank_file_id IN "
                                   "(SELECT id FROM bank_files WHERE direction = 'in')"),
                ("ledger_entries", "SELECT count(*) FROM ledger_entries"),
                ("ledger_sum_cents", "SELECT coalesce(sum(amount), 0) FROM ledger_entries"),
                ("unmatched_entries", "SELECT count(*) FROM unmatched_entries"),
                ("bank_files_in", "SELECT count(*) FROM bank_files WHERE direction = 'in'"),
                ("outbox_events", "SELECT count(*) FROM outbox_events"))}
        figures = {"seconds": seconds, "cpu_seconds": cpu, "outbox": outbox, **staged, "backend_cpu_seconds": backend,
                   "peak_reset": reset, "rss_before_mb": rss_before, "vmhwm_mb": peak,
                   "files": len(report.files), "failed": report.failed, "rejected": len(report.rejected),
                   "r_transaction_count": len(report.r_transactions), "unmatched": len(report.unmatched),
                   "paid": len(report.paid), "effects": {k: int(v) for k, v in effects.items()}}
        session.close()
        del report
    finally:
        outer.rollback()
        connection.close()
        shutil.rmtree(inbox, ignore_errors=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in ("payments", "r_transactions", "ledger_entries", "bank_files", "unmatched_entries",
                      "outbox_events"):
            connection.execute(text(f"VACUUM ANALYZE {table}"))
    return figures


def run_iterparse_fields(path):
    """The floor's parse: lxml iterparse over the file reading each entry's fields (those
    payments.iso20022.camt054 reads) with findtext, each Ntry cleared once read."""
    from lxml import etree

    ns = {"c": NS}
    fields = ("c:Amt", "c:CdtDbtInd", "c:RvslInd", "c:Sts", "c:BookgDt/c:Dt", "c:ValDt/c:Dt", "c:NtryRef",
              "c:AcctSvcrRef", "c:BkTxCd/c:Domn/c:Cd", "c:BkTxCd/c:Domn/c:Fmly/c:Cd",
              "c:BkTxCd/c:Domn/c:Fmly/c:SubFmlyCd", "c:BkTxCd/c:Prtry/c:Cd", "c:NtryDtls/c:Btch/c:NbOfTxs")
    tx_fields = ("c:Amt", "c:CdtDbtInd", "c:AmtDtls/c:TxAmt/c:Amt", "c:AmtDtls/c:InstdAmt/c:Amt",
                 "c:Chrgs/c:Amt", "c:Refs/c:EndToEndId", "c:Refs/c:InstrId", "c:Refs/c:MndtId", "c:Refs/c:PmtInfId",
                 "c:RtrInf/c:Rsn/c:Cd", "c:RtrInf/c:Rsn/c:Prtry", "c:RtrInf/c:AddtlInf")
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    entries = 0
    for _, element in etree.iterparse(str(path), events=("end",), tag=f"{{{NS}}}Ntry"):
        entries += 1
        read = [element.findtext(field, None, ns) for field in fields]
        for tx in element.iterfind("c:NtryDtls/c:TxDtls", ns):
            read += [tx.findtext(field, None, ns) for field in tx_fields]
        element.clear(keep_tail=True)
        while element.getprevious() is not None:
            del element.getparent()[0]
    return {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu, "entries": entries}


def run_copy(engine, rows):
    """The floor's writes: COPY of `rows` rows shaped as R-transactions into a temporary
    table, in a transaction rolled back."""
    from common.database import copy_in

    line = ('"RT{n:030d}","{merchant}","PM{n:030d}","return","AM04","insufficient funds",1234,2027-02-03,t,'
            '"open","BF000000000000000000000000000001",2027-02-03T06:00:00+00:00\n')
    buffer = io.StringIO("".join(line.format(n=n, merchant=MERCHANT) for n in range(rows)))
    from sqlalchemy import text

    with engine.connect() as connection:
        with connection.begin() as transaction:
            connection.execute(text("CREATE TEMPORARY TABLE floor_rows (LIKE r_transactions) ON COMMIT DROP"))
            started = time.perf_counter()
            copy_in(connection, "floor_rows", _R_COLUMNS, buffer)
            seconds = time.perf_counter() - started
            transaction.rollback()
    return {"seconds": seconds, "rows": rows}


def validate(path):
    from payments.iso20022 import xsd

    xsd.validate(path, "camt.054.001.02")
    return True


# --- the benchmark ----------------------------------------------------------------

def run(scale=1.0, database_url=DEFAULT_URL, output=DEFAULT_OUTPUT, repeat=3):
    """Load, write the file, time both contenders `repeat` times alternating; the figures.
    The anchors (and the XSD check) run in a child forked first: a whole tree of the file is
    some 300 MB that the allocator keeps, and this process's memory is the import's."""
    total, returns = counts(scale)
    with tempfile.TemporaryDirectory(prefix="debito-bench-camt054-") as tmp, \
            multiprocessing.get_context("fork").Pool(1) as anchor, \
            throwaway_database(database_url) as url:
        engine = prepare(url)
        try:
            started = time.perf_counter()
            # In a child process: the million rows made in Python must not swell this one,
            # whose memory is the importing process's. No pooled connection crosses the fork.
            engine.dispose()
            with multiprocessing.get_context("fork").Pool(1) as pool:
                details = pool.apply(load, (url, total, returns))
            load_seconds = time.perf_counter() - started
            path = Path(tmp) / f"camt054-{AS_OF:%Y%m%d}.xml"
            started = time.perf_counter()
            written = write_file(path, details)
            write_seconds = time.perf_counter() - started
            anchor.apply(validate, (path,))  # a file a bank could send (untimed)
            expected = {"returned_paid": sum(d["status"] == "paid" for d in details),
                        "returned_submitted": sum(d["status"] == "submitted" for d in details),
                        "ledger_sum_cents": -sum(d["amount"] for d in details if d["status"] == "paid")}
            del details
            gc.collect()
            imports, plain, parses, copies = [], [], [], []
            for _ in range(repeat):
                parses.append(anchor.apply(run_iterparse_fields, (path,)))
                imports.append(run_import(engine, path, tmp, outbox=True))
                plain.append(run_import(engine, path, tmp))
                written_rows = sum(imports[-1]["effects"][name] for name in (
                    "rejected_payments", "r_transactions", "ledger_entries"))
                copies.append(run_copy(engine, written_rows))
        finally:
            engine.dispose()
        file_bytes = path.stat().st_size
    import_seconds = min(i["seconds"] for i in imports)
    parse_seconds = min(p["seconds"] for p in parses)
    copy_seconds = min(c["seconds"] for c in copies)
    floor_seconds = parse_seconds + copy_seconds
    ratio = import_seconds / floor_seconds
    effects = imports[0]["effects"]
    correct = (imports[0]["files"] == 1 and imports[0]["rejected"] == returns and imports[0]["unmatched"] == 0
               and effects["r_transactions"] == returns and effects["rejected_payments"] == returns
               and effects["ledger_entries"] == expected["returned_paid"]
               and effects["ledger_sum_cents"] == expected["ledger_sum_cents"])
    figures = {
        "figure": FIGURE, "value": ratio, "goal": f"<= {GOAL}", "goal_met": ratio <= GOAL and correct,
        "peak_rss_mb": {"payments": max(i["vmhwm_mb"] for i in imports + plain)},
        "scale": scale, "payments": total, "returns": returns, "import_correct": correct,
        "import_seconds": import_seconds, "floor_seconds": floor_seconds,
        "iterparse_fields_seconds": parse_seconds, "copy_seconds": copy_seconds, "copy_rows": copies[0]["rows"],
        # CPU time of the importing process alone (PostgreSQL's work is not in it) and of the parse
        "import_cpu_seconds": min(i["cpu_seconds"] for i in imports),
        "iterparse_fields_cpu_seconds": min(p["cpu_seconds"] for p in parses),
        "import_runs_seconds": [i["seconds"] for i in imports],
        "iterparse_fields_runs_seconds": [p["seconds"] for p in parses],
        "copy_runs_seconds": [c["seconds"] for c in copies],
        "import_backend_cpu_seconds": [i["backend_cpu_seconds"] for i in imports],
        "import_without_outbox_seconds": min(i["seconds"] for i in plain),
        "outbox_seconds": [i["outbox_seconds"] for i in imports],
        "outbox_events": imports[0]["effects"]["outbox_events"],
        "import": imports[0], "expected": expected,
        "file_bytes": file_bytes, "file": written,
        "load_seconds": load_seconds, "write_seconds": write_seconds, "repeat": repeat,
        "fresh_state": "each import runs in a transaction rolled back afterwards (its commit releases a "
                       "SAVEPOINT), then VACUUM ANALYZE; the file is copied into a new inbox each time",
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    return save_figures(figures, output)


def report(figures, output):
    runs = lambda values: ", ".join(f"{v:.3f}" for v in values)  # noqa: E731
    lines = [
        f"{'':40}{'best s':>8}   runs",
        f"{'import (inbox.import_inbox)':40}{figures['import_seconds']:>8.3f}   {runs(figures['import_runs_seconds'])}",
        f"{'floor: lxml iterparse of the fields':40}{figures['iterparse_fields_seconds']:>8.3f}   "
        f"{runs(figures['iterparse_fields_runs_seconds'])}",
        f"{'floor: COPY of ' + str(figures['copy_rows']) + ' rows':40}{figures['copy_seconds']:>8.3f}   "
        f"{runs(figures['copy_runs_seconds'])}",
        "",
        f"{figures['returns']} returns in a {figures['file_bytes']} byte camt.054, {figures['payments']} payments in "
        f"the database; import correct: {figures['import_correct']}",
        f"import: client CPU {figures['import_cpu_seconds']:.3f} s, PostgreSQL backend CPU "
        + ", ".join("?" if c is None else f"{c:.2f}" for c in figures["import_backend_cpu_seconds"]) + " s",
        f"the import stages its {figures['outbox_events']} events in the outbox: "
        + ", ".join(f"{r:.3f}" for r in figures["outbox_seconds"]) + " s of it; without them "
        f"{figures['import_without_outbox_seconds']:.3f} s",
        f"ratio import / floor: {figures['value']:.2f} (goal {figures['goal']})",
        f"peak RSS of the importing process: {figures['peak_rss_mb']['payments']:.1f} MB",
        "goal met" if figures["goal_met"] else "goal NOT met",
        f"figures written to {output}",
    ]
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(prog=f"python -m bench.{FIGURE}", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE", "1.0")))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    figures = run(args.scale, args.database_url, args.output, args.repeat)
    report(figures, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
