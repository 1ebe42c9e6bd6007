"""The collection cycle end to end against raw kombu consuming on the same broker (issue 8,
figure `collection_vs_kombu`).

    python -m bench.collection_vs_kombu [--scale 1.0]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres] [--output var/bench/collection_vs_kombu.json]

1. A throwaway PostgreSQL database `debito_bench_<hex>` (dropped at the end, even on failure)
   gets the mandates, plans, payments and reporting schemas (the project's migrations) and, by
   COPY (untimed), one merchant (its creditor profile in payments) with `count` =
   max(200, int(100 000 x scale)) subscribers (no email address: see below), as many active signed
   recurrent mandates, and one active monthly plan on each whose first instalment is due on
   DUE (Tuesday 8 January 2030), pre-notification 14 days: on the bench's day AS_OF (Monday
   7 January 2030) every instalment is past its pre-notification day and leaves today (D-1).
2. The real mandates, plans, payments and reporting services run as child processes
   (`debito service NAME`) on a throwaway RabbitMQ vhost, their clock on AS_OF (DEBITO_CLOCK).
3. Timed: `payments.collect(AS_OF)` through the RPC (the call `debito collect --as-of` makes:
   plans issues the due instalments, payments schedules and pre-notifies one payment each,
   submits them in a pain.008 file, and tells what it did in events), until reporting has
   stored every payment's `payment_scheduled` and `payment_submitted` fact (its `facts`
   table, polled every 50 ms). instalments/s = count / seconds. Every service's RSS is
   sampled meanwhile (and VmHWM read at the end).
4. Anchor, same broker, same run: `count` small persistent messages published (untimed) to a
   durable queue of the same vhost, then a plain `kombu.Consumer` (prefetch PREFETCH, one ack
   per message) drains them, timed: messages/s.
5. Figure = instalments/s / kombu messages/s; goal >= 0.25. Checked too: one payment per
   instalment, all `submitted`, in pain.008 files holding `count` debits.

Not timed: pre-notification mails. The subscribers have no email address, so the cycle
writes none; each mail costs several milliseconds (the email package, one .eml file each),
which at 100 000 debits would outweigh the rest of the cycle: mails belong in a queue of
their own.
   Exit status 0: this measures, it does not judge.
"""
import argparse
import io
import json
import os
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from bench.common import RssSampler, amqp_uri, machine, rabbit_api_uri, services, status_mb, throwaway_database
from bench.common import database_url as default_database_url
from bench.common import throwaway_vhost

FIGURE = "collection_vs_kombu"
GOAL = 0.25
DEFAULT_OUTPUT = Path("var/bench/collection_vs_kombu.json")
MERCHANT = "MEBENCHCOLLECT0000000001"
AS_OF = date(2030, 1, 7)  # a Monday
DUE = date(2030, 1, 8)  # the next TARGET2 business day: submitted on AS_OF (D-1)
CLOCK = "2030-01-07T06:00:00+00:00"
PREFETCH = 100
SERVICES = ("mandates", "plans", "payments", "reporting")
IBANS = (("FR7630006000011234567890189", "AGRIFRPP"), ("DE89370400440532013000", "COBADEFFXXX"),
         ("FR1420041010050500013M02606", "PSSTFRPPXXX"), ("BE68539007547034", "JVBABE22"))
NAMES = ("Zoë Müller", "Jürgen Dupont", "Émilie Østergaard", "François Nuñez", "Łukasz Großmann",
         "Søren Çelik", "Inés D'Artagnan", "Chloé Martin")


def count_for(scale):
    return max(200, int(100_000 * scale))


# --- the data (untimed) ---------------------------------------------------------

def _copy(cursor, table, columns, rows):
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if value is None else str(value) for value in row) + "\n")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


def prepare(url, count):
    """Schemas by the migrations, then the merchant's subscribers, mandates and plans by COPY."""
    import psycopg2

    from common.database import make_engine
    from common.migrations import upgrade

    for owner in SERVICES:
        engine = make_engine(owner, url)
        try:
            upgrade(owner, engine)
        finally:
            engine.dispose()
    created = "2029-06-01T10:00:00+00:00"
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO payments.creditors (merchant_id, name, creditor_id, iban, bic, automatic_retry, "
                "first_debit_as_rcur, prenotification_days, availability_delay_days, updated_at) VALUES "
                "(%s, 'Club Sportif Élan', 'FR72ZZZ123456', 'FR7630006000011234567890189', 'AGRIFRPP', false, "
                "false, 14, 5, %s)", (MERCHANT, created))
            _copy(cursor, "mandates.subscribers",
                  ("id", "merchant_id", "customer_reference", "name", "email", "search_text", "created_at"),
                  ((f"SBBENCH{n:012d}", MERCHANT, f"C-{n:07d}", NAMES[n % len(NAMES)],
                    None, f"{NAMES[n % len(NAMES)].lower()} c-{n:07d}",
                    created) for n in range(count)))
            _copy(cursor, "mandates.mandates",
                  ("id", "merchant_id", "subscriber_id", "reference", "iban", "bic", "signature_method",
                   "signed_at", "signed_place", "sequence", "status", "dormant_on", "created_at"),
                  ((f"MDBENCH{n:012d}", MERCHANT, f"SBBENCH{n:012d}", f"DBT-BENCH-{n:08d}",
                    IBANS[n % len(IBANS)][0], IBANS[n % len(IBANS)][1], "paper", created, "Lyon", "recurrent",
                    "active", "2032-06-01", created) for n in range(count)))
            issue_on = (DUE - timedelta(days=14)).isoformat()
            _copy(cursor, "plans.plans",
                  ("id", "merchant_id", "mandate_id", "subscriber_id", "label", "amount", "currency", "frequency",
                   "start_date", "status", "prenotification_days", "next_sequence", "collected_count",
                   "anchor_date", "anchor_sequence", "next_due_date", "issue_on", "created_at", "updated_at"),
                  ((f"PLBENCH{n:012d}", MERCHANT, f"MDBENCH{n:012d}", f"SBBENCH{n:012d}", "Cotisation mensuelle",
                    1500 + n % 7000, "EUR", "monthly", DUE.isoformat(), "active", 14, 0, 0, DUE.isoformat(), 0,
                    DUE.isoformat(), issue_on, created, created) for n in range(count)))
        connection.commit()
        connection.autocommit = True
        with connection.cursor() as cursor:
            for table in ("mandates.subscribers", "mandates.mandates", "plans.plans", "payments.creditors"):
                cursor.execute(f"ANALYZE {table}")
    finally:
        connection.close()


# --- the cycle (timed) ------------------------------------------------------------

def _reporting_facts(cursor):
    cursor.execute("SELECT name, count(*) FROM reporting.facts WHERE merchant_id = %s GROUP BY name", (MERCHANT,))
    return dict(cursor.fetchall())


def run_cycle(url, vhost, children, count, poll_seconds=0.05, timeout=3600):
    """payments.collect(AS_OF) through the RPC, until reporting has stored both facts of every payment."""
    import psycopg2
    from nameko.standalone.rpc import ClusterRpcProxy

    sampler = RssSampler({name: child.pid for name, child in children.items()})
    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        with ClusterRpcProxy({"AMQP_URI": vhost}, timeout=timeout) as cluster, connection.cursor() as cursor:
            before = {name: status_mb(child.pid, "VmRSS") for name, child in children.items()}
            sampler.start()
            started = time.perf_counter()
            report = cluster.payments.collect(AS_OF.isoformat())
            collect_seconds = time.perf_counter() - started
            deadline = started + timeout
            while True:
                facts = _reporting_facts(cursor)
                if facts.get("payment_scheduled", 0) >= count and facts.get("payment_submitted", 0) >= count:
                    break
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"reporting saw {facts} of {count} payments' events")
                time.sleep(poll_seconds)
            seconds = time.perf_counter() - started
            peaks = sampler.stop()
            hwm = {name: status_mb(child.pid, "VmHWM") for name, child in children.items()}
            cursor.execute("SELECT status, count(*) FROM payments.payments WHERE merchant_id = %s GROUP BY status",
                           (MERCHANT,))
            statuses = dict(cursor.fetchall())
            cursor.execute("SELECT count(*) FROM plans.instalments WHERE merchant_id = %s "
                           "AND acknowledged_at IS NOT NULL", (MERCHANT,))
            acknowledged = cursor.fetchone()[0]
    finally:
        if sampler.is_alive():
            sampler.stop()
        connection.close()
    return {"seconds": seconds, "collect_rpc_seconds": collect_seconds, "report": report, "facts": facts,
            "payment_statuses": statuses, "instalments_acknowledged": acknowledged, "rss_before_mb": before,
            "sampled_peak_rss_mb": peaks, "vmhwm_mb": hwm,
            "samples": {name: len(values) for name, values in sampler.samples.items()}}


# --- the anchor: raw kombu ------------------------------------------------------------

def run_kombu(vhost, count, prefetch=PREFETCH):
    """Publish `count` small persistent messages to a durable queue (untimed), then time a plain
    kombu Consumer draining them with one ack each."""
    from kombu import Connection, Consumer, Exchange, Producer, Queue

    exchange = Exchange("bench.kombu", type="direct", durable=True)
    queue = Queue("bench.kombu", exchange, routing_key="bench", durable=True)
    with Connection(vhost) as connection:
        channel = connection.channel()
        queue.bind(channel).declare()
        producer = Producer(channel, exchange=exchange, routing_key="bench", serializer="json")
        for n in range(count):
            producer.publish({"n": n, "merchant_id": MERCHANT, "amount": 1500 + n % 7000}, delivery_mode=2)
        deadline = time.monotonic() + 120
        while queue.bind(channel).queue_declare(passive=True).message_count < count:
            if time.monotonic() > deadline:
                raise RuntimeError("the published messages did not all reach the queue")
            time.sleep(0.05)
        received = []

        def on_message(body, message):
            received.append(body["n"])
            message.ack()

        consumer = Consumer(channel, queues=[queue], callbacks=[on_message], prefetch_count=prefetch,
                            accept=["json"])
        started = time.perf_counter()
        with consumer:
            while len(received) < count:
                connection.drain_events(timeout=30)
        seconds = time.perf_counter() - started
        queue.bind(channel).delete()
        channel.close()
    return {"seconds": seconds, "messages": len(received), "prefetch": prefetch,
            "all_distinct": len(set(received)) == count}


# --- the benchmark ----------------------------------------------------------------------

def _pain008_debits(outbox):
    ns = b"<DrctDbtTxInf>"
    return sum(path.read_bytes().count(ns) for path in Path(outbox).glob(f"pain008-{MERCHANT}-*.xml"))


def run(scale=1.0, database_url=None, output=DEFAULT_OUTPUT):
    """The whole comparison; returns the figures (also written to `output` unless None)."""
    count = count_for(scale)
    database_url = database_url or default_database_url()
    with tempfile.TemporaryDirectory(prefix="debito-bench-") as tmp, \
            throwaway_database(database_url) as url, throwaway_vhost(amqp_uri(), rabbit_api_uri()) as vhost:
        workdir = Path(tmp)
        started = time.perf_counter()
        prepare(url, count)
        load_seconds = time.perf_counter() - started
        env = {"DEBITO_CLOCK": CLOCK, "BANK_OUTBOX": str(workdir / "bank" / "outbox"),
               "BANK_INBOX": str(workdir / "bank" / "inbox"), "SMTP_URL": ""}
        (workdir / "bank" / "inbox").mkdir(parents=True)
        with services(SERVICES, vhost, url, workdir, env=env) as children:
            cycle = run_cycle(url, vhost, children, count)
        kombu = run_kombu(vhost, count)
        debits_in_files = _pain008_debits(workdir / "bank" / "outbox")
        mails = sum(1 for _ in (workdir / "var" / "outbox-mail").glob("*.eml")) \
            if (workdir / "var" / "outbox-mail").is_dir() else 0
    instalments_per_second = count / cycle["seconds"]
    kombu_per_second = count / kombu["seconds"]
    ratio = instalments_per_second / kombu_per_second
    peak = {name: max(cycle["sampled_peak_rss_mb"][name] or 0, cycle["vmhwm_mb"][name] or 0) for name in SERVICES}
    consistent = (cycle["payment_statuses"] == {"submitted": count} and debits_in_files == count
                  and kombu["all_distinct"])
    figures = {
        "figure": FIGURE, "value": ratio, "goal": f">= {GOAL}", "goal_met": ratio >= GOAL and consistent,
        "scale": scale, "instalments": count,
        "cycle_seconds": cycle["seconds"], "collect_rpc_seconds": cycle["collect_rpc_seconds"],
        "instalments_per_second": instalments_per_second,
        "kombu_seconds": kombu["seconds"], "kombu_messages": kombu["messages"], "kombu_prefetch": kombu["prefetch"],
        "kombu_messages_per_second": kombu_per_second,
        "collect_report": cycle["report"], "reporting_facts": cycle["facts"],
        "payment_statuses": cycle["payment_statuses"], "instalments_acknowledged": cycle["instalments_acknowledged"],
        "pain008_debits": debits_in_files, "prenotification_mails": mails, "consistent": consistent,
        "peak_rss_mb": peak, "sampled_peak_rss_mb": cycle["sampled_peak_rss_mb"], "vmhwm_mb": cycle["vmhwm_mb"],
        "rss_before_mb": cycle["rss_before_mb"], "load_seconds": load_seconds,
        "as_of": AS_OF.isoformat(), "due_date": DUE.isoformat(),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
    }
    if output is not None:
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return figures


def report(figures, output):
    peak = figures["peak_rss_mb"]
    lines = [
        f"{'':46}{'seconds':>10}{'per second':>12}",
        f"{'collection cycle (due -> reporting), instalments':46}{figures['cycle_seconds']:>10.2f}"
        f"{figures['instalments_per_second']:>12.0f}",
        f"{'  of which the collect RPC':46}{figures['collect_rpc_seconds']:>10.2f}",
        f"{'kombu Consumer (prefetch %d), messages' % figures['kombu_prefetch']:46}{figures['kombu_seconds']:>10.2f}"
        f"{figures['kombu_messages_per_second']:>12.0f}",
        "",
        f"instalments {figures['instalments']}: payments {figures['payment_statuses']}, "
        f"{figures['pain008_debits']} debits in pain.008, {figures['prenotification_mails']} pre-notifications, "
        f"reporting facts {figures['reporting_facts']}",
        f"ratio instalments/s / kombu messages/s: {figures['value']:.3f} (goal {figures['goal']})",
        "peak RSS: " + ", ".join(f"{name} {value:.1f} MB" for name, value in peak.items()),
        "goal met" if figures["goal_met"] else "goal NOT met",
        f"figures written to {output}",
    ]
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.collection_vs_kombu", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE", "1.0")))
    parser.add_argument("--database-url", default=default_database_url())
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    figures = run(args.scale, args.database_url, args.output)
    report(figures, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
