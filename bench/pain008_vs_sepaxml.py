"""The collection cycle against sepaxml, on the same debits (issue 5, "Speed").

    python -m bench.pain008_vs_sepaxml [--count 100000]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres] [--output var/bench/pain008.json]

1. A throwaway PostgreSQL database `debito_bench_<hex>` (dropped at the end, even on
   failure) gets the payments schema (the project's migrations), a creditor and
   `count` scheduled payments due on one day, plus `count // 10` due a fortnight
   earlier for the memory comparison. Loading (COPY) is not timed.
2. Timed: `collection.submit_due(session, as_of, outbox)`, the project's whole path
   from the database (claim, SQL totals, streamed rows) to the XSD-validated pain.008
   atomically renamed into a temporary outbox; first at count/10, then at count. Peak
   RSS growth during each run: VmHWM (reset through /proc/self/clear_refs) minus the
   RSS before, and getrusage's ru_maxrss before/after.
3. Timed: sepaxml's SepaDD ("pain.008.001.02", `export(validate=True)` as in normal
   use) building the same debits from the same rows (read beforehand, untimed) and
   writing the file.
4. A table, "goal met"/"goal NOT met" (project <= 0.6 x sepaxml), the figures in JSON.
   Exit status 0: this measures, it does not judge.
"""
import argparse
import csv
import gc
import io
import json
import os
import platform
import re
import resource
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from bench.common import reset_peak, throwaway_database

GOAL = 0.6
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_OUTPUT = Path("var/bench/pain008.json")
MERCHANT = "MEBENCH0000000000000000001"
DUE = date(2027, 3, 16)  # a Tuesday, TARGET2 open
SMALL_DUE = DUE - timedelta(days=14)  # the count/10 run, submitted first
CREDITOR = {"merchant_id": MERCHANT, "name": "Société Générale des Sports d'Île-de-France",
            "creditor_id": "FR72ZZZ123456", "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP"}
# (IBAN, BIC or None): valid IBANs, some debits IBAN-only (NOTPROVIDED).
ACCOUNTS = (("DE89370400440532013000", "COBADEFFXXX"), ("FR7630006000011234567890189", "AGRIFRPP"),
            ("FR7630004000011234567890173", "BNPAFRPP"), ("DE89370400440532013000", None),
            ("FR7630006000011234567890189", None))
FIRST = ("Zoë", "Jürgen", "Émilie", "François", "Łukasz", "Søren", "Inés", "Björn", "Chloé", "Ана",
         "Mañuel", "Hélène", "Noël", "Ægir", "Giulia", "Dvořák")
LAST = ("Müller-Lefèvre", "Østergaard", "Nuñez", "Dupont & Fils", "Großmann", "Çelik", "Ødegård",
        "D'Artagnan", "Łęcki", "Schäfer", "Martin", "Żółkiewski", "O'Brien", "Pérez", "Kovač")
LABELS = ("Abonnement yoga — mars", "Mitgliedsbeitrag März", "Cotisation été/automne",
          "Cours de piano n°3", "Fitnessstudio Köln")  # sepaxml needs one on every debit
_COLUMNS = ("id", "merchant_id", "plan_id", "instalment_key", "sequence_no", "mandate_id",
            "subscriber_id", "mandate_reference", "mandate_signed_on", "debtor_name", "debtor_email",
            "iban", "bic", "amount", "currency", "label", "due_date", "sequence_type",
            "end_to_end_id", "status", "attempt", "automatic", "created_at")


# --- memory -----------------------------------------------------------------

def _status_kib(field):
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return int(match.group(1)) if match else None


@contextmanager
def measured():
    """Wall time and peak RSS growth of the block; fills the yielded dict."""
    figures = {}
    gc.collect()
    figures["peak_reset"] = reset_peak()
    rss_before, maxrss_before = _status_kib("VmRSS"), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hwm_before = _status_kib("VmHWM")
    started = time.perf_counter()
    yield figures
    figures["seconds"] = time.perf_counter() - started
    hwm_after, maxrss_after = _status_kib("VmHWM"), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures.update(
        rss_before_kib=rss_before, vmhwm_before_kib=hwm_before, vmhwm_after_kib=hwm_after,
        # VmHWM was reset to the RSS: its rise is the block's own peak growth.
        peak_growth_kib=hwm_after - (rss_before if figures["peak_reset"] else hwm_before),
        ru_maxrss_before_kib=maxrss_before, ru_maxrss_after_kib=maxrss_after,
        ru_maxrss_growth_kib=maxrss_after - maxrss_before)


# --- the data -----------------------------------------------------------------

def _rows(count, due_date, prefix, created_at):
    from common.ids import new_id

    for n in range(count):
        iban, bic = ACCOUNTS[n % len(ACCOUNTS)]
        payment_id = new_id("PM")
        first, last = FIRST[n % len(FIRST)], LAST[(n * 7) % len(LAST)]
        plan = f"PL{prefix}{n:08d}"
        yield (payment_id, MERCHANT, plan, f"{plan}:1", 1, f"MD{prefix}{n:08d}", f"SB{prefix}{n:08d}",
               f"DBT-{prefix}-{n:08d}", (date(2026, 1, 5) + timedelta(days=n % 300)).isoformat(),
               f"{first} {last}", f"debtor{n}@example.org", iban, bic or "",
               500 + (n * 7919) % 250_000,  # 5.00 to 2 504.99 EUR, uneven
               "EUR", LABELS[n % len(LABELS)], due_date.isoformat(),
               "FRST" if n % 3 == 0 else "RCUR", payment_id, "scheduled", 1, "f", created_at)


def load(engine, count, due_date, prefix):
    """`count` scheduled payments due on `due_date`: by COPY, or by multi-row INSERTs
    when psycopg2 runs green (psycogreen, as under the test suite: no COPY there)."""
    import psycopg2.extensions
    from psycopg2.extras import execute_values

    rows = _rows(count, due_date, prefix, datetime.now(timezone.utc).isoformat())
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            if psycopg2.extensions.get_wait_callback() is None:
                buffer = io.StringIO()
                csv.writer(buffer).writerows(rows)  # an empty field is NULL in CSV COPY
                buffer.seek(0)
                cursor.copy_expert(f"COPY payments ({', '.join(_COLUMNS)}) FROM STDIN WITH (FORMAT csv)",
                                   buffer)
            else:
                execute_values(cursor, f"INSERT INTO payments ({', '.join(_COLUMNS)}) VALUES %s",
                               (tuple(None if v == "" else v for v in row) for row in rows), page_size=1000)
        raw.commit()
    finally:
        raw.close()


def prepare(url):
    """Migrate the payments schema into `url` and register the creditor; the engine."""
    from sqlalchemy import insert

    from common.database import make_engine
    from common.migrations import upgrade
    from payments.models import Creditor

    upgrade("payments", make_engine("payments", url))  # disposes of its engine
    engine = make_engine("payments", url)
    with engine.begin() as connection:
        connection.execute(insert(Creditor).values(**CREDITOR, updated_at=datetime.now(timezone.utc)))
    return engine


def _analyze(engine):
    from sqlalchemy import text

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE payments"))


# --- the two contenders -----------------------------------------------------------

def run_project(engine, as_of, outbox):
    """Time submit_due; (figures, path of the file)."""
    from sqlalchemy.orm import Session

    from payments import collection

    with Session(engine) as session:
        with measured() as figures:
            submissions = collection.submit_due(session, as_of, outbox)
        assert len(submissions) == 1, submissions
        submission = submissions[0]
        path = Path(outbox) / submission.bank_file.filename
        figures.update(count=submission.count, total_cents=submission.total_cents, file=str(path),
                       file_bytes=path.stat().st_size)
    return figures, path


def debits_for_sepaxml(engine, due_date):
    """The same rows, as sepaxml's payment dicts (read untimed)."""
    from sqlalchemy import select

    from payments.models import Payment

    with engine.connect() as connection:
        rows = connection.execute(
            select(Payment.end_to_end_id, Payment.amount, Payment.mandate_reference,
                   Payment.mandate_signed_on, Payment.debtor_name, Payment.iban, Payment.bic,
                   Payment.label, Payment.sequence_type, Payment.due_date)
            .where(Payment.due_date == due_date).order_by(Payment.id)).all()
    payments = []
    for row in rows:
        payment = {"name": row.debtor_name, "IBAN": row.iban, "amount": row.amount, "type": row.sequence_type,
                   "collection_date": row.due_date, "mandate_id": row.mandate_reference,
                   "mandate_date": row.mandate_signed_on, "description": row.label,
                   "endtoend_id": row.end_to_end_id}
        if row.bic:
            payment["BIC"] = row.bic
        payments.append(payment)
    return payments


def run_sepaxml(payments, path):
    """Time SepaDD building, validating (xmlschema) and writing the same debits."""
    from sepaxml import SepaDD

    import xmlschema.limits

    # xmlschema (sepaxml's validator) refuses documents over 10**6 elements, about 45 000
    # debits of this shape: lift the guard so validation can run at all (figures note it).
    elements = 50 * len(payments) + 100
    raised = elements > xmlschema.limits.MAX_XML_ELEMENTS
    if raised:
        xmlschema.limits.MAX_XML_ELEMENTS = elements
    config = {"name": CREDITOR["name"], "IBAN": CREDITOR["iban"], "BIC": CREDITOR["bic"], "batch": True,
              "creditor_id": CREDITOR["creditor_id"], "currency": "EUR"}
    with measured() as figures:
        sepa = SepaDD(config, schema="pain.008.001.02", clean=True)
        for payment in payments:
            sepa.add_payment(payment)
        Path(path).write_bytes(sepa.export(validate=True))
    figures.update(count=len(payments), file=str(path), file_bytes=Path(path).stat().st_size,
                   xmlschema_max_xml_elements_raised_to=elements if raised else None)
    return figures


# --- the benchmark ------------------------------------------------------------------

def benchmark(count=100_000, database_url=DEFAULT_URL, output=DEFAULT_OUTPUT, keep_dir=None):
    """Run the whole comparison; returns the figures (also written to `output`).
    The files are written in a temporary directory; `keep_dir` keeps a copy of both."""
    from common.calendar import previous_business_day
    from payments.iso20022 import xsd

    xsd.schema("pain.008.001.02")  # compiled once per process (a service's steady state), not timed

    small = max(1, count // 10)
    with tempfile.TemporaryDirectory(prefix="debito-bench-") as tmp, \
            throwaway_database(database_url) as url:
        engine = prepare(url)
        try:
            load(engine, small, SMALL_DUE, "S")
            load(engine, count, DUE, "L")
            _analyze(engine)
            outbox = Path(tmp) / "outbox"
            # D-1: each run takes only its own due date.
            project_small, _ = run_project(engine, previous_business_day(SMALL_DUE), outbox / "small")
            project, project_file = run_project(engine, previous_business_day(DUE), outbox / "large")
            payments = debits_for_sepaxml(engine, DUE)
            sepaxml = run_sepaxml(payments, Path(tmp) / "sepaxml.xml")
            del payments
            project["file_valid"] = True  # build_pain008_file validated it against the XSD before the rename
            if keep_dir is not None:  # the two files, for a look or a test
                keep_dir = Path(keep_dir)
                keep_dir.mkdir(parents=True, exist_ok=True)
                project["file"] = str(shutil.copy2(project_file, keep_dir / "project-pain008.xml"))
                sepaxml["file"] = str(shutil.copy2(sepaxml["file"], keep_dir / "sepaxml-pain008.xml"))
        finally:
            engine.dispose()
    ratio = project["seconds"] / sepaxml["seconds"]
    figures = {
        "count": count, "small_count": small, "goal_ratio": GOAL, "ratio": ratio, "goal_met": ratio <= GOAL,
        "project": project, "project_small": project_small, "sepaxml": sepaxml,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
    }
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return figures


def _mib(kib):
    return f"{kib / 1024:.1f} MiB"


def report(figures, output):
    project, small, sepaxml = figures["project"], figures["project_small"], figures["sepaxml"]
    lines = [
        f"{'':24}{'debits':>9}{'seconds':>10}{'peak RSS growth':>17}{'ru_maxrss growth':>18}",
        f"{'project (submit_due)':24}{small['count']:>9}{small['seconds']:>10.2f}"
        f"{_mib(small['peak_growth_kib']):>17}{_mib(small['ru_maxrss_growth_kib']):>18}",
        f"{'project (submit_due)':24}{project['count']:>9}{project['seconds']:>10.2f}"
        f"{_mib(project['peak_growth_kib']):>17}{_mib(project['ru_maxrss_growth_kib']):>18}",
        f"{'sepaxml (validate=True)':24}{sepaxml['count']:>9}{sepaxml['seconds']:>10.2f}"
        f"{_mib(sepaxml['peak_growth_kib']):>17}{_mib(sepaxml['ru_maxrss_growth_kib']):>18}",
        "",
        f"ratio project/sepaxml at {figures['count']}: {figures['ratio']:.3f} (goal <= {GOAL}): "
        + ("goal met" if figures["goal_met"] else "goal NOT met"),
        f"project peak RSS growth: {_mib(small['peak_growth_kib'])} at {small['count']}, "
        f"{_mib(project['peak_growth_kib'])} at {project['count']} debits",
        f"figures written to {output}",
    ]
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.pain008_vs_sepaxml", description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    figures = benchmark(args.count, args.database_url, args.output)
    report(figures, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
