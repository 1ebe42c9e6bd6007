"""The statement export job against PostgreSQL's COPY of the same query (issue 6, "Speed and memory").

    python -m bench.statement_export_vs_copy [--count 1000000] [--repeat 3]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres] [--output var/bench/statement.json]

1. A throwaway PostgreSQL database `debito_bench_<hex>` (dropped at the end, even on
   failure) gets the payments and reporting schemas (the project's migrations) and, by
   COPY (untimed), `count` ledger entries of one merchant in the statement's period
   (SDD credits, REJ/RET/REF debits, PAYOUT, FEE; names with accents), `count // 100`
   before it (the opening balance) and `count // 10` of another merchant; then ANALYZE.
2. The real payments and reporting services run as child processes (`debito service
   payments`, `debito service reporting`) on a throwaway RabbitMQ vhost (management API).
3. Timed, `repeat` times, alternating: the statement export job started through the
   reporting RPC (`create_export`), polled every 100 ms until done (time: the job's
   created_at to finished_at), while both services' RSS is sampled every 100 ms
   (/proc/<pid>/status VmRSS, and VmHWM at the end); and `COPY (<the export's SELECT,
   ledger.statement_query, running balance as a window function>) TO STDOUT WITH CSV`
   through psycopg2's copy_expert into a file.
4. A table and the figures in JSON; goal: best export <= 2 x best COPY, both services
   under 200 MB throughout. Exit status 0: this measures, it does not judge.
"""
import argparse
import csv
import io
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from bench.common import SAMPLE_SECONDS, RssSampler, throwaway_database, throwaway_vhost
from bench.common import services as _services
from bench.common import status_mb as _status_mb
from common.ids import base32
from common.money import parse_amount

GOAL_RATIO = 2.0
GOAL_RSS_MB = 200
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_RABBIT_API = "http://guest:guest@127.0.0.1:15672"
DEFAULT_OUTPUT = Path("var/bench/statement.json")
DEBITO = str(Path(sys.executable).parent / "debito")
MERCHANT = "MEBENCH0000000000000000001"
OTHER = "MEBENCH0000000000000000002"
PERIOD = (date(2026, 1, 1), date(2026, 12, 31))

FIRST = ("Zoë", "Jürgen", "Émilie", "François", "Łukasz", "Søren", "Inés", "Björn", "Chloé", "Ана",
         "Mañuel", "Hélène", "Noël", "Ægir", "Giulia", "Dvořák")
LAST = ("Müller-Lefèvre", "Østergaard", "Nuñez", "Dupont & Fils", "Großmann", "Çelik", "Ødegård",
        "D'Artagnan", "Łęcki", "Schäfer", "Martin", "Żółkiewski", "O'Brien", "Pérez; Hijos", "Kovač")
LABELS = ("Abonnement yoga — mars", "Mitgliedsbeitrag März", "Cotisation été/automne",
          "Cours de piano n°3", 'Fitnessstudio "Köln"')
R_REASONS = {"REJ": ("AM04 insufficient funds", "AC04 account closed", "MD01 no valid mandate"),
             "RET": ("MS02 refused by debtor", "AC06 account blocked"),
             "REF": ("MD06 refund requested by debtor",)}
_COLUMNS = ("id", "merchant_id", "date", "value_date", "code", "reference", "payment_id",
            "subscriber_name", "label", "amount", "created_at")


# --- the data -----------------------------------------------------------------

def _entries(merchant, count, first_day, days, rng):
    """`count` ledger entries spread evenly over `days` days from `first_day`, a realistic mix:
    about 86 % SDD credits, 6 % REJ, 2 % RET, 1 % REF, 4 % FEE, 1 % PAYOUT (ids time-ordered)."""
    created = datetime(2026, 1, 1, tzinfo=timezone.utc).isoformat()
    epoch_ms = int(datetime(first_day.year, first_day.month, first_day.day, tzinfo=timezone.utc).timestamp() * 1000)
    for n in range(count):
        offset = n * days // count
        day = first_day + timedelta(days=offset)
        millis = epoch_ms + offset * 86_400_000 + n % 86_400_000
        entry_id = "LE" + base32(millis, 10) + base32(rng.getrandbits(60), 12)
        name = f"{FIRST[n % len(FIRST)]} {LAST[(n * 7) % len(LAST)]}"
        kind = n % 100
        payment = "PM" + base32(rng.getrandbits(110), 22)
        if kind < 86:
            row = ("SDD", payment, payment, name, LABELS[n % len(LABELS)], 500 + (n * 7919) % 250_000)
        elif kind < 92:
            row = ("REJ", payment, payment, name, R_REASONS["REJ"][n % 3], -(500 + (n * 7919) % 50_000))
        elif kind < 94:
            row = ("RET", payment, payment, name, R_REASONS["RET"][n % 2], -(500 + (n * 7919) % 50_000))
        elif kind < 95:
            row = ("REF", payment, payment, name, R_REASONS["REF"][0], -(500 + (n * 7919) % 50_000))
        elif kind < 99:
            row = ("FEE", f"FEE-{day:%Y%m}-{n % 1000:03d}", None, None, "Frais de prélèvement SEPA", -35)
        else:
            row = ("PAYOUT", "PO" + base32(rng.getrandbits(110), 22), None, None,
                   "Payout to FR7630006000011234567890189", -(100_000 + n % 900_000))
        code, reference, payment_id, subscriber, label, amount = row
        value_day = day + timedelta(days=n % 3) if code == "SDD" else day
        yield (entry_id, merchant, day.isoformat(), value_day.isoformat(), code, reference, payment_id or "",
               subscriber or "", label, amount, created)


def load(url, merchant, count, first_day, days, seed, chunk=100_000):
    """COPY `count` entries into payments.ledger_entries, `chunk` rows at a time."""
    import psycopg2

    rng = random.Random(seed)
    rows = _entries(merchant, count, first_day, days, rng)
    connection = psycopg2.connect(url, options="-csearch_path=payments")
    try:
        with connection.cursor() as cursor:
            while True:
                buffer = io.StringIO()
                writer = csv.writer(buffer)
                written = 0
                for row in rows:
                    writer.writerow(row)  # an empty field is NULL in CSV COPY
                    written += 1
                    if written == chunk:
                        break
                if not written:
                    break
                buffer.seek(0)
                cursor.copy_expert(f"COPY ledger_entries ({', '.join(_COLUMNS)}) FROM STDIN WITH (FORMAT csv)",
                                   buffer)
        connection.commit()
        with connection.cursor() as cursor:
            connection.autocommit = True
            cursor.execute("ANALYZE ledger_entries")
    finally:
        connection.close()


def prepare(url, count):
    from common.database import make_engine
    from common.migrations import upgrade

    for owner in ("payments", "reporting"):
        upgrade(owner, make_engine(owner, url))
    # Before the period: the opening balance; another merchant: the index must skip it.
    load(url, MERCHANT, max(1, count // 100), PERIOD[0] - timedelta(days=90), 90, seed=1)
    load(url, MERCHANT, count, PERIOD[0], (PERIOD[1] - PERIOD[0]).days + 1, seed=2)
    load(url, OTHER, max(1, count // 10), PERIOD[0], (PERIOD[1] - PERIOD[0]).days + 1, seed=3)


# --- the two contenders ---------------------------------------------------------

def _lines_and_last(path):
    """The number of lines of a file and its last line."""
    count, last = 0, b""
    with open(path, "rb") as file:
        for line in file:
            count, last = count + 1, line
    return count, last.rstrip(b"\r\n")


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time of a process so far (/proc/<pid>/stat); None when it is gone or elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def backends(url):
    """The pids of the PostgreSQL backends connected to the database of `url` (but this one's)."""
    import psycopg2

    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid()")
            return [pid for pid, in cursor.fetchall()]
    finally:
        connection.close()


def _cpu_spent(before, after):
    return sum(after[pid] - before.get(pid, 0) for pid in after if after[pid] is not None)


def run_export(amqp_uri, children, url=None):
    """One statement export through the reporting RPC; its figures, with the CPU time each
    process spent (PostgreSQL: every backend of the database, when the server is local)."""
    from nameko.standalone.rpc import ClusterRpcProxy

    sampler = RssSampler({name: child.pid for name, child in children.items()})
    filters = {"from": PERIOD[0].isoformat(), "to": PERIOD[1].isoformat()}
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=60) as cluster:
        before = {name: _status_mb(child.pid, "VmRSS") for name, child in children.items()}
        cpu_before = {name: cpu_seconds(child.pid) for name, child in children.items()}
        pg_before = {pid: cpu_seconds(pid) for pid in backends(url)} if url else {}
        sampler.start()
        started = time.perf_counter()
        job = cluster.reporting.create_export(MERCHANT, {"section": "statement", "filters": filters})
        while job["status"] in ("pending", "running"):
            time.sleep(SAMPLE_SECONDS)
            job = cluster.reporting.get_export(MERCHANT, job["id"])
        polled = time.perf_counter() - started
        peaks = sampler.stop()
        cpu = {name: cpu_seconds(child.pid) - cpu_before[name] for name, child in children.items()}
        if url:
            cpu["postgresql"] = _cpu_spent(pg_before, {pid: cpu_seconds(pid) for pid in backends(url)})
    if job["status"] != "done":
        raise RuntimeError(f"the export failed: {job['error']}")
    seconds = (datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["created_at"])).total_seconds()
    return {"seconds": seconds, "polled_seconds": polled, "rows_total": job["rows_total"], "job": job["id"],
            "cpu_seconds": cpu, "loadavg": os.getloadavg()[0],
            "rss_before_mb": before, "peak_rss_mb": peaks, "samples": {k: len(v) for k, v in sampler.samples.items()}}


def copy_query(url):
    """The export's SELECT (ledger.statement_query, whole period, no LIMIT) with its literals."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.orm import Session

    from common.database import make_engine
    from payments import ledger

    engine = make_engine("payments", url)
    try:
        with Session(engine) as session:
            opening = ledger.opening_balance(session, MERCHANT, PERIOD[0])
    finally:
        engine.dispose()
    query = ledger.statement_query(MERCHANT, *PERIOD, start=opening)
    return str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def run_copy(url, query, path):
    """`COPY (query) TO STDOUT WITH CSV` into `path`, timed from the connection's first byte."""
    import psycopg2

    connection = psycopg2.connect(url, options="-csearch_path=payments")
    try:
        with connection.cursor() as cursor, open(path, "wb") as file:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
            backend_before, client_before = cpu_seconds(backend), time.process_time()
            started = time.perf_counter()
            cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH CSV", file)
            file.flush()
            os.fsync(file.fileno())
            seconds = time.perf_counter() - started
            cpu = {"client": time.process_time() - client_before}
            if backend_before is not None:
                cpu["postgresql"] = cpu_seconds(backend) - backend_before
    finally:
        connection.close()
    return {"seconds": seconds, "file_bytes": Path(path).stat().st_size, "cpu_seconds": cpu,
            "loadavg": os.getloadavg()[0]}


# --- the benchmark ------------------------------------------------------------------

def run(count=1_000_000, database_url=DEFAULT_URL, repeat=3, output=DEFAULT_OUTPUT,
        amqp_uri=None, rabbit_api_uri=None):
    """The whole comparison; returns the figures (also written to `output` unless None)."""
    amqp_uri = amqp_uri or os.environ.get("AMQP_URI", DEFAULT_AMQP).replace("pyamqp://", "amqp://")
    rabbit_api_uri = rabbit_api_uri or os.environ.get("RABBIT_API_URI", DEFAULT_RABBIT_API)
    exports, copies = [], []
    with tempfile.TemporaryDirectory(prefix="debito-bench-") as tmp, \
            throwaway_database(database_url) as url, throwaway_vhost(amqp_uri, rabbit_api_uri) as vhost:
        workdir = Path(tmp)
        started = time.perf_counter()
        prepare(url, count)
        load_seconds = time.perf_counter() - started
        query = copy_query(url)
        with _services(("payments", "reporting"), vhost, url, workdir) as children:
            for attempt in range(repeat):
                copies.append(run_copy(url, query, workdir / f"copy-{attempt}.csv"))
                exports.append(run_export(vhost, children, url))
            hwm = {name: _status_mb(child.pid, "VmHWM") for name, child in children.items()}
        export_file = next((workdir / "exports" / MERCHANT).glob("*.csv"))
        export_lines, export_last = _lines_and_last(export_file)
        copy_lines, copy_last = _lines_and_last(workdir / "copy-0.csv")
        export_bytes = export_file.stat().st_size
        # The export's closing row and COPY's last running balance: the same cents.
        closing = parse_amount(next(csv.reader([export_last.decode("utf-8")], delimiter=";"))[7])
        balances_agree = closing == int(next(csv.reader([copy_last.decode("utf-8")]))[7])
    export_times = [e["seconds"] for e in exports]
    copy_times = [c["seconds"] for c in copies]
    export_seconds, copy_seconds = min(export_times), min(copy_times)
    ratio = export_seconds / copy_seconds
    peak = {name: max(max(e["peak_rss_mb"][name] for e in exports), hwm[name] or 0) for name in hwm}
    figures = {
        "entries": count, "export_seconds": export_seconds, "copy_seconds": copy_seconds, "ratio": ratio,
        "peak_rss_mb": peak,
        "goal_met": ratio <= GOAL_RATIO and all(value < GOAL_RSS_MB for value in peak.values()),
        "goal": {"ratio": GOAL_RATIO, "rss_mb": GOAL_RSS_MB},
        "export_runs_seconds": export_times, "copy_runs_seconds": copy_times,
        # each export beside the COPY run just before it: the machine's load changes between runs
        "pair_ratios": [e / c for e, c in zip(export_times, copy_times)],
        "median_pair_ratio": statistics.median(e / c for e, c in zip(export_times, copy_times)),
        "export_spread_seconds": max(export_times) - export_seconds,
        "copy_spread_seconds": max(copy_times) - copy_seconds,
        "export_median_seconds": statistics.median(export_times),
        "copy_median_seconds": statistics.median(copy_times),
        # CPU seconds of each process, run by run: on 2 cores the export's wall time is at least
        # its total / 2, and at least its busiest process's
        "export_cpu_seconds": [e["cpu_seconds"] for e in exports], "copy_cpu_seconds": [c["cpu_seconds"] for c in copies],
        "loadavg_runs": [(c["loadavg"], e["loadavg"]) for c, e in zip(copies, exports)],
        "sampled_peak_rss_mb": {name: max(e["peak_rss_mb"][name] for e in exports) for name in hwm},
        "vmhwm_mb": hwm, "rss_before_mb": exports[0]["rss_before_mb"],
        "export_rows": exports[0]["rows_total"], "export_file_lines": export_lines, "export_file_bytes": export_bytes,
        "copy_rows": copy_lines, "copy_file_bytes": copies[0]["file_bytes"],
        "closing_balance_cents": closing, "closing_balance_matches_copy": balances_agree,
        "load_seconds": load_seconds, "period": [d.isoformat() for d in PERIOD],
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg_after": os.getloadavg()},
    }
    if output is not None:
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return figures


def report(figures, output):
    peak, hwm = figures["peak_rss_mb"], figures["vmhwm_mb"]
    runs = lambda values: ", ".join(f"{v:.2f}" for v in values)  # noqa: E731
    lines = [
        f"{'':34}{'best s':>8}{'median s':>10}{'spread s':>10}   runs",
        f"{'export job (payments+reporting)':34}{figures['export_seconds']:>8.2f}"
        f"{figures['export_median_seconds']:>10.2f}{figures['export_spread_seconds']:>10.2f}   "
        f"{runs(figures['export_runs_seconds'])}",
        f"{'COPY (same SELECT) TO STDOUT':34}{figures['copy_seconds']:>8.2f}{figures['copy_median_seconds']:>10.2f}"
        f"{figures['copy_spread_seconds']:>10.2f}   {runs(figures['copy_runs_seconds'])}",
        "",
        f"entries {figures['entries']}: export {figures['export_rows']} rows ({figures['export_file_bytes']} bytes), "
        f"COPY {figures['copy_rows']} rows ({figures['copy_file_bytes']} bytes)",
        f"ratio best export / best COPY: {figures['ratio']:.2f} (goal <= {GOAL_RATIO}); run by run: "
        + ", ".join(f"{r:.2f}" for r in figures["pair_ratios"]) + f" (median {figures['median_pair_ratio']:.2f})",
        "peak RSS: " + ", ".join(f"{name} {peak[name]:.1f} MB (VmHWM {hwm[name]:.1f})" for name in peak)
        + f" (goal < {GOAL_RSS_MB} MB)",
        "CPU s, run by run: " + "; ".join(
            "export " + " ".join(f"{k} {v:.2f}" for k, v in e.items()) + f" (total {sum(e.values()):.2f})"
            + ", COPY " + " ".join(f"{k} {v:.2f}" for k, v in c.items())
            for e, c in zip(figures["export_cpu_seconds"], figures["copy_cpu_seconds"])),
        "goal met" if figures["goal_met"] else "goal NOT met",
        f"figures written to {output}",
    ]
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.statement_export_vs_copy",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    figures = run(args.count, args.database_url, args.repeat, args.output)
    report(figures, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
