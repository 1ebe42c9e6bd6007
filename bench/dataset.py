"""The bench merchant at full size, bulk-loaded: `load(url, scale=1.0) -> dict`.

Into the database `url` (migrated here with every owner's migrations, as `debito migrate`
does: one PostgreSQL schema per service and the gateway) it loads:

- merchant A, made by `gateway.accounts.create_merchant` (dashboard user, API key) and
  registered as a creditor in payments, with `int(200_000*scale)` subscribers and as many
  mandates (90 % active, 7 % revoked, 3 % expired; paper, phone, web), unique customer
  references `C-0000001`…, accented names, valid IBANs; a plan for nine subscribers in ten
  (monthly, quarterly, annual, weekly, bimonthly, semiannual, a few one-off), active,
  paused, completed or cancelled;
- `int(1_000_000*scale)` payments (one instalment each, with its row in plans.instalments)
  due over 12 months up to a month after today: paid, rejected, cancelled, submitted for
  the last days, scheduled in the future; `int(50_000*scale)` R-transactions on them
  (pain.002 rejects, camt.054 returns and MD06 refunds, with their reason codes);
- the ledger the collected and returned payments imply (an SDD credit per collected
  payment, a RET/REF debit per return): about one entry per payment;
- reporting's counters and daily figures computed from those rows;
- merchant B, small (1 % of A's size, the same customer references): its rows must never
  show in A's answers.

Every row is a pure function of its index (ids are time-ordered like `common.ids.new_id`,
their random part a bijection of the index), streamed into `COPY … FROM STDIN` through a
file-like reader: nothing is held in memory. The tables are VACUUM ANALYZEd at the end, as
autovacuum would have left a year of rows (statistics, and the visibility map index-only
scans need).
"""
import argparse
import functools
import time
from datetime import date, datetime, timedelta, timezone

from common import clock
from contracts.payments import reason

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
FIRST = ("Zoë", "Jürgen", "Émilie", "François", "Łukasz", "Søren", "Inés", "Björn", "Chloé", "Ана",
         "Mañuel", "Hélène", "Noël", "Ægir", "Giulia", "Dvořák", "Aurélie", "Thérèse", "José", "Anaïs")
LAST = ("Müller-Lefèvre", "Østergaard", "Nuñez", "Dupont & Fils", "Großmann", "Çelik", "Ødegård",
        "D'Artagnan", "Łęcki", "Schäfer", "Martin", "Żółkiewski", "O'Brien", "Pérez", "Kovač",
        "Lemaître", "Benoît", "Faßbender", "Håkansson", "Ibáñez", "Mérieux", "Novák", "Rødsten")
# (IBAN, BIC or None): valid IBANs (bench/pain008_vs_sepaxml.py), some IBAN-only.
ACCOUNTS = (("DE89370400440532013000", "COBADEFFXXX"), ("FR7630006000011234567890189", "AGRIFRPP"),
            ("FR7630004000011234567890173", "BNPAFRPP"), ("DE89370400440532013000", None),
            ("FR7630006000011234567890189", None))
LABELS = ("Abonnement yoga", "Mitgliedsbeitrag", "Cotisation été/automne", "Cours de piano n°3",
          "Fitnessstudio Köln", "Crèche — participation", "Assurance habitation")
# plan frequency per plan index % 20
FREQUENCIES = (["monthly"] * 12 + ["quarterly"] * 3 + ["annual"] * 2 + ["weekly", "bimonthly", "semiannual"])
# (type, code) per R-transaction index % 20: 12 rejects, 7 returns, 1 refund
R_KINDS = ([("reject", c) for c in ("AM04",) * 6 + ("MS03", "MS03", "AC04", "MD01", "AC01", "AG01")]
           + [("return", c) for c in ("AM04", "AM04", "MS02", "MS02", "AC06", "MD01", "MD07")]
           + [("refund", "MD06")])
PASSWORD = "bench password 2026"
CREATED_AT = datetime(2025, 1, 1, tzinfo=timezone.utc)


_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]


def _base32(number, length):
    """`number` in `length` Crockford base32 characters (as common.ids writes them), two at a time."""
    chars = []
    for _ in range(length // 2):
        number, pair = divmod(number, 1024)
        chars.append(_PAIRS[pair])
    if length % 2:
        chars.append(ALPHABET[number % 32])
    return "".join(reversed(chars))


def _scramble(index, salt):
    """A bijection of [0, 2**60): distinct indexes, distinct random parts."""
    return (index * 0x9E3779B97F4A7C15 + salt * 0xD1B54A32D192ED03) % (1 << 60)


_TRIPLES = [a + b + c for a in ALPHABET for b in ALPHABET for c in ALPHABET]  # 15 bits each
_SHIFTS = (90, 75, 60, 45, 30, 15, 0)


def make_id(prefix, moment, index, salt):
    """`prefix` + 10 characters of milliseconds + 12 of a scrambled index: common.ids' shape
    (110 bits: one character, then seven of three characters looked up)."""
    millis = int(moment.timestamp() * 1000) if isinstance(moment, datetime) else moment
    body = millis << 60 | _scramble(index, salt)
    return prefix + ALPHABET[body >> 105] + "".join([_TRIPLES[(body >> shift) & 0x7FFF] for shift in _SHIFTS])


def _at(day, seconds=0):
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(seconds=seconds)


def _business(day):
    """Saturday and Sunday move to Monday (TARGET2 is closed)."""
    return day + timedelta(days=(7 - day.weekday()) % 7) if day.weekday() >= 5 else day


@functools.lru_cache(maxsize=4096)
def _searchable(text):
    from mandates.subscribers import searchable

    return searchable(text)


@functools.lru_cache(maxsize=None)
def _local_part(first, last):
    return "".join(c for c in _searchable(f"{first}.{last}") if c.isalnum() or c == ".")


@functools.lru_cache(maxsize=None)
def _bic_from_iban(iban):
    from common.sepa import bic_from_iban

    return bic_from_iban(iban)


def _text(value):
    kind = type(value)
    if kind is str:
        if "\\" in value or "\t" in value or "\n" in value:
            return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        return value
    if value is None:
        return "\\N"
    if kind is bool:
        return "t" if value else "f"
    if kind is int:
        return str(value)
    if kind is datetime or kind is date:
        return value.isoformat()
    return str(value)


class RowReader:
    """A file-like object over a generator of rows: COPY text format, read by psycopg2."""

    def __init__(self, rows):
        self.rows, self.buffer, self.count = iter(rows), "", 0

    def read(self, size=65536):
        parts, length = [self.buffer], len(self.buffer)
        while length < size:
            row = next(self.rows, None)
            if row is None:
                break
            line = "\t".join(map(_text, row)) + "\n"
            parts.append(line)
            length += len(line)
            self.count += 1
        data = "".join(parts)
        self.buffer = data[size:]
        return data[:size]

    readline = read


class Shape:
    """One merchant's data: counts and the pure functions that give each row."""

    def __init__(self, merchant_id, subscribers, payments, r_transactions, today, salt):
        self.args = (merchant_id, subscribers, payments, r_transactions, today, salt)
        self.merchant_id, self.salt, self.today = merchant_id, salt, today
        self.subscribers = max(10, subscribers)
        self.plans = self.subscribers - self.subscribers // 10  # subscriber i % 10 == 9 has none
        self.payments = max(self.plans, payments)
        self.first_day = today - timedelta(days=335)  # 12 months of due dates, a month ahead
        self.epoch = _at(today - timedelta(days=400))
        self.span = 330 * 86400  # subscribers created over 330 days from epoch
        past = self._due_offset_inverse((today - timedelta(days=7) - self.first_day).days)
        self.r_step = max(2, past // max(1, r_transactions))
        self.r_transactions = min(r_transactions, past // self.r_step)

    # --- subscribers and mandates ---
    def sub_created(self, i):
        return self.epoch + timedelta(seconds=i * self.span // self.subscribers)

    def sub_name(self, i):
        return f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST) + i * 7) % len(LAST)]}"

    def sub_email(self, i):
        if not i % 5:
            return None
        return f"{_local_part(FIRST[i % len(FIRST)], LAST[(i // len(FIRST) + i * 7) % len(LAST)])}.{i}@example.org"

    def customer_reference(self, i):
        return f"C-{i + 1:07d}"

    def subscriber_id(self, i):
        return make_id("SB", self.sub_created(i), i, self.salt)

    def mandate_id(self, i):
        return make_id("MD", self.sub_created(i) + timedelta(milliseconds=1), i, self.salt + 1)

    def mandate_status(self, i):
        kind = (i * 37) % 100
        return "revoked" if kind < 7 else "expired" if kind < 10 else "active"

    def mandate_reference(self, i):
        return f"DBT-{self.sub_created(i):%Y%m%d}-{_base32(_scramble(i, self.salt) >> 10, 10)}"

    def mandate_account(self, i):
        """(IBAN, BIC): a BIC not given is the one the IBAN implies (as `bic_from_iban` gives it)."""
        iban, bic = ACCOUNTS[i % len(ACCOUNTS)]
        return iban, bic or _bic_from_iban(iban)

    def subscriber_row(self, i):
        name, email, reference = self.sub_name(i), self.sub_email(i), self.customer_reference(i)
        return (self.subscriber_id(i), self.merchant_id, reference, name, email,
                f"+3361234{i % 10000:04d}" if i % 3 == 0 else None,
                f"{i % 200 + 1} rue de la Paix, 75002 Paris" if i % 2 == 0 else None,
                " ".join(_searchable(v) for v in (name, email, reference)), self.sub_created(i))

    def mandate_row(self, i):
        signed = self.sub_created(i)
        status = self.mandate_status(i)
        last = _business(self.first_day + timedelta(days=(i * 7) % 300)) if i % 10 != 9 else None
        dormant = (last or signed.date()) + timedelta(days=3 * 365)
        iban, bic = self.mandate_account(i)
        return (self.mandate_id(i), self.merchant_id, self.subscriber_id(i), self.mandate_reference(i), iban, bic,
                ("paper", "phone", "web")[i % 3], signed, "Paris" if i % 3 == 0 else None, "recurrent", status,
                last, dormant,
                signed + timedelta(days=200) if status == "revoked" else None,
                "customer left" if status == "revoked" else None,
                signed + timedelta(days=250) if status == "expired" else None, signed)

    # --- plans ---
    def plan_subscriber(self, j):
        return j + j // 9

    def plan_frequency(self, j):
        return "once" if j % 97 == 0 else FREQUENCIES[j % len(FREQUENCIES)]

    def plan_amount(self, j):
        return 500 + (j * 7919) % 25_000

    def plan_label(self, j):
        return LABELS[j % len(LABELS)]

    def plan_id(self, j):
        return make_id("PL", self.sub_created(self.plan_subscriber(j)) + timedelta(milliseconds=2), j,
                       self.salt + 2)

    def plan_status(self, j):
        i = self.plan_subscriber(j)
        if self.mandate_status(i) != "active":
            return "cancelled"
        if self.plan_frequency(j) == "once":
            return "completed"
        return "paused" if j % 50 == 0 else "active"

    def plan_issued(self, j):
        return self.payments // self.plans + (1 if j < self.payments % self.plans else 0)

    def plan_row(self, j):
        i, status = self.plan_subscriber(j), self.plan_status(j)
        frequency = self.plan_frequency(j)
        start = self.due_date(j)
        created = self.sub_created(i) + timedelta(seconds=5)
        if status in ("active", "paused"):
            next_due = _business(self.today + timedelta(days=1 + j % 60))
            issue_on = next_due - timedelta(days=14)
        else:
            next_due = issue_on = None
        day = start.day if frequency not in ("once", "weekly") else None
        return (self.plan_id(j), self.merchant_id, self.mandate_id(i), self.subscriber_id(i), self.plan_label(j),
                self.plan_amount(j), "EUR", frequency, start, 1 if frequency == "once" else None, None, day,
                status, 14, self.plan_issued(j), 0, start, 0, next_due, issue_on, created, created,
                created + timedelta(days=200) if status == "cancelled" else None)

    # --- payments ---
    def _due_offset_inverse(self, days):
        """How many payment indexes fall before `days` days after first_day."""
        return -(-days * self.payments // 365)

    def due_date(self, n):
        return _business(self.first_day + timedelta(days=n * 365 // self.payments))

    def payment_created(self, n):
        return _at(self.due_date(n) - timedelta(days=14), n % 86400)

    def payment_id(self, n):
        return make_id("PM", self.payment_created(n), n, self.salt + 3)

    def r_index(self, n):
        """The R-transaction index of payment n, or None."""
        k, rest = divmod(n, self.r_step)
        return k if rest == self.r_step // 2 and k < self.r_transactions else None

    def payment_status(self, n):
        due = self.due_date(n)
        if self.r_index(n) is not None:
            return "rejected"
        if due > self.today:
            return "cancelled" if self.plan_status(n % self.plans) == "cancelled" else "scheduled"
        if due > self.today - timedelta(days=3):
            return "submitted"
        return "cancelled" if n % 151 == 0 else "paid"

    def payment_row(self, n):
        j = n % self.plans
        i, seq = self.plan_subscriber(j), n // self.plans + 1
        due, status, created = self.due_date(n), self.payment_status(n), self.payment_created(n)
        iban, bic = self.mandate_account(i)
        pid = self.payment_id(n)
        submitted = _at(due - timedelta(days=1), 3600) if status in ("submitted", "paid", "rejected") else None
        plan_id = self.plan_id(j)
        return (pid, self.merchant_id, plan_id, f"{plan_id}:{seq}", seq, self.mandate_id(i),
                self.subscriber_id(i), self.mandate_reference(i), self.sub_created(i).date(), self.sub_name(i),
                self.sub_email(i), iban, bic, self.plan_amount(j), "EUR", self.plan_label(j), due,
                "FRST" if seq == 1 else "RCUR", pid, status, 1, False, created, submitted,
                _at(due + timedelta(days=1), 7200) if status == "paid" else None,
                _at(self.r_received(n), 7200) if status == "rejected" else None,
                _at(due, 0) if status == "cancelled" else None)

    def instalment_row(self, n):
        j = n % self.plans
        seq = n // self.plans + 1
        status = {"scheduled": "issued", "submitted": "issued", "paid": "collected", "rejected": "failed",
                  "cancelled": "cancelled"}[self.payment_status(n)]
        created = self.payment_created(n)
        return (make_id("IN", created, n, self.salt + 4), self.merchant_id, self.plan_id(j), seq,
                self.due_date(n), self.plan_amount(j), status, created, created)

    # --- R-transactions and the ledger ---
    def r_kind(self, k):
        return R_KINDS[k % len(R_KINDS)]

    def r_received(self, n):
        kind, _ = self.r_kind(self.r_index(n))
        due = self.due_date(n)
        return due - timedelta(days=1) if kind == "reject" else _business(due + timedelta(days=3 + n % 5))

    def r_row(self, k):
        n = k * self.r_step + self.r_step // 2
        kind, code = self.r_kind(k)
        received = self.r_received(n)
        return (make_id("RT", _at(received, 7200), k, self.salt + 5), self.merchant_id, self.payment_id(n),
                kind, code, reason(code).en, self.plan_amount(n % self.plans), received, reason(code).retryable,
                "closed" if k % 10 < 3 else "open", None, None, _at(received, 7200))

    def ledger_rows(self, n):
        status = self.payment_status(n)
        if status not in ("paid", "rejected"):
            return
        kind = self.r_kind(self.r_index(n))[0] if status == "rejected" else None
        if kind == "reject":
            return  # rejected before settlement: never credited
        j, i = n % self.plans, self.plan_subscriber(n % self.plans)
        due, pid, amount = self.due_date(n), self.payment_id(n), self.plan_amount(j)
        booked = _business(due + timedelta(days=1))
        yield (make_id("LE", _at(booked, 7200), n, self.salt + 6), self.merchant_id, booked, due, "SDD", pid, pid,
               self.sub_name(i), self.plan_label(j), amount, _at(booked, 7200))
        if kind is not None:
            received = self.r_received(n)
            yield (make_id("LE", _at(received, 7300), n, self.salt + 7), self.merchant_id, received, received,
                   "REF" if kind == "refund" else "RET", pid, pid, self.sub_name(i), self.plan_label(j), -amount,
                   _at(received, 7300))

    def all_ledger_rows(self):
        for n in range(self.payments):
            yield from self.ledger_rows(n)


COLUMNS = {
    ("mandates", "subscribers"): "id, merchant_id, customer_reference, name, email, phone, address, "
                                 "search_text, created_at",
    ("mandates", "mandates"): "id, merchant_id, subscriber_id, reference, iban, bic, signature_method, signed_at, "
                              "signed_place, sequence, status, last_collected_on, dormant_on, revoked_at, "
                              "revocation_reason, expired_at, created_at",
    ("plans", "plans"): "id, merchant_id, mandate_id, subscriber_id, label, amount, currency, frequency, "
                        "start_date, count, end_date, day_of_month, status, prenotification_days, next_sequence, "
                        "collected_count, anchor_date, anchor_sequence, next_due_date, issue_on, created_at, "
                        "updated_at, cancelled_at",
    ("plans", "instalments"): "id, merchant_id, plan_id, sequence_no, due_date, amount, status, issued_at, "
                              "acknowledged_at",
    ("payments", "payments"): "id, merchant_id, plan_id, instalment_key, sequence_no, mandate_id, subscriber_id, "
                              "mandate_reference, mandate_signed_on, debtor_name, debtor_email, iban, bic, amount, "
                              "currency, label, due_date, sequence_type, end_to_end_id, status, attempt, "
                              "automatic, created_at, submitted_at, paid_at, rejected_at, cancelled_at",
    ("payments", "r_transactions"): "id, merchant_id, payment_id, type, reason_code, reason, amount, received_on, "
                                    "retryable, status, replayed_by, bank_file_id, created_at",
    ("payments", "ledger_entries"): "id, merchant_id, date, value_date, code, reference, payment_id, "
                                    "subscriber_name, label, amount, created_at",
}


def _rows(shape, table, start, stop):
    """Rows `start`…`stop` (indexes) of `table`."""
    row = {"subscribers": shape.subscriber_row, "mandates": shape.mandate_row, "plans": shape.plan_row,
           "instalments": shape.instalment_row, "payments": shape.payment_row, "r_transactions": shape.r_row}
    if table == "ledger_entries":
        return (entry for n in range(start, stop) for entry in shape.ledger_rows(n))
    return (row[table](index) for index in range(start, stop))


def _sizes(shape):
    return {"subscribers": shape.subscribers, "mandates": shape.subscribers, "plans": shape.plans,
            "instalments": shape.payments, "payments": shape.payments, "r_transactions": shape.r_transactions,
            "ledger_entries": shape.payments}


# mandates.mandates and plans.instalments have foreign keys to the first wave's tables
WAVES = ((("mandates", "subscribers"), ("plans", "plans"), ("payments", "payments"),
          ("payments", "r_transactions"), ("payments", "ledger_entries")),
         (("mandates", "mandates"), ("plans", "instalments")))
CHUNK = 250_000


def _copy_job(url, shape_args, schema, table, start, stop):
    """COPY rows start…stop of one table on a connection of its own (a worker process)."""
    import psycopg2

    shape = Shape(*shape_args)
    begun = time.monotonic()
    connection = psycopg2.connect(url)
    try:
        reader = RowReader(_rows(shape, table, start, stop))
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY {schema}.{table} ({COLUMNS[schema, table]}) FROM STDIN", reader,
                               size=1 << 16)
        connection.commit()
    finally:
        connection.close()
    return shape.merchant_id, f"{schema}.{table}", reader.count, time.monotonic() - begun


def _copy_all(url, shapes, progress, workers):
    """Every table of every shape, in chunks of CHUNK indexes spread over `workers` processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    counts = {shape.merchant_id: {} for shape in shapes}
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for wave in WAVES:
            jobs = []
            for shape in shapes:
                sizes = _sizes(shape)
                for schema, table in wave:
                    counts[shape.merchant_id].setdefault(f"{schema}.{table}", 0)
                    for start in range(0, sizes[table], CHUNK):
                        jobs.append(pool.submit(_copy_job, url, shape.args, schema, table, start,
                                                min(start + CHUNK, sizes[table])))
            for job in jobs:
                merchant_id, name, count, seconds = job.result()
                counts[merchant_id][name] += count
                progress(f"  {name}: {count} rows in {seconds:.1f} s")
    return counts


def _owner_env(url):
    import os

    environment = dict(os.environ, DATABASE_URL=url, PYTHONWARNINGS="ignore::DeprecationWarning")
    environment.pop("PYTHONPATH", None)  # the repository root on it would shadow the gateway package
    return environment


def migrate(url):
    """`debito migrate`: every service's and the gateway's migrations, into `url`."""
    import subprocess

    from bench.common import DEBITO

    subprocess.run([DEBITO, "migrate"], env=_owner_env(url), check=True, capture_output=True, cwd="/")


_MERCHANT_SCRIPT = """
import json, sys
from gateway.accounts import create_merchant
from gateway.db import standalone_session
with standalone_session() as session:
    merchant, api_key = create_merchant(session, name=sys.argv[1], creditor_id="FR72ZZZ123456",
                                        iban="FR7630006000011234567890189", email=sys.argv[2],
                                        password=sys.argv[3])
    session.commit()
    print(json.dumps([merchant.id, api_key]))
"""


def create_merchant(url, name, email):
    """A merchant as `debito merchant create` makes it (its user, its API key): (merchant_id,
    api_key, name). Run apart, from `/`: the repository's `gateway/` folder would shadow the
    gateway package here. The creditor is registered in payments by _register_creditor."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _MERCHANT_SCRIPT, name, email, PASSWORD], env=_owner_env(url),
                          check=True, capture_output=True, text=True, cwd="/")
    merchant_id, api_key = json.loads(done.stdout)
    return merchant_id, api_key, name


def _drop_indexes(cursor):
    """The loaded tables' indexes that back no constraint, dropped for the load: a bulk load then
    one build of each is much faster than updating them row by row. Returns their definitions
    (the migrations' own, read from pg_indexes) for _build_indexes."""
    definitions = []
    for schema, table in COLUMNS:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s "
                       "AND indexname NOT IN (SELECT conname FROM pg_constraint)", (schema, table))
        for name, definition in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{schema}"."{name}"')
            definitions.append(definition)
    return definitions


def _build_one(url, definition):
    import psycopg2

    connection = psycopg2.connect(url)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '256MB'")
            cursor.execute(definition)
    finally:
        connection.close()


def _build_indexes(url, definitions, workers):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(_build_one, url, definition) for definition in definitions]:
            future.result()


def _register_creditor(cursor, merchant_id, name):
    cursor.execute(
        "INSERT INTO payments.creditors (merchant_id, name, creditor_id, iban, bic, automatic_retry, "
        "first_debit_as_rcur, prenotification_days, availability_delay_days, updated_at) "
        "VALUES (%s, %s, 'FR72ZZZ123456', 'FR7630006000011234567890189', 'AGRIFRPP', false, false, 14, 5, now())",
        (merchant_id, name))


def _read_models(cursor, merchant_id):
    """What plans' counters and reporting's read models would hold after these events."""
    cursor.execute("""
        UPDATE plans.plans p SET collected_count = c.n
        FROM (SELECT plan_id, count(*) AS n FROM plans.instalments
              WHERE merchant_id = %(m)s AND status = 'collected' GROUP BY plan_id) c
        WHERE p.id = c.plan_id AND p.merchant_id = %(m)s""", {"m": merchant_id})
    cursor.execute("""
        INSERT INTO reporting.daily_figures (merchant_id, day, collected_count, collected_amount,
                                             rejected_count, rejected_amount, mandates_signed, paid_out_amount)
        SELECT %(m)s, day, sum(cc), sum(ca), sum(rc), sum(ra), sum(ms), 0 FROM (
            SELECT date AS day, count(*) AS cc, sum(amount) AS ca, 0 AS rc, 0 AS ra, 0 AS ms
              FROM payments.ledger_entries WHERE merchant_id = %(m)s AND code = 'SDD' GROUP BY date
            UNION ALL
            SELECT received_on, 0, 0, count(*), sum(amount), 0
              FROM payments.r_transactions WHERE merchant_id = %(m)s GROUP BY received_on
            UNION ALL
            SELECT signed_at::date, 0, 0, 0, 0, count(*)
              FROM mandates.mandates WHERE merchant_id = %(m)s GROUP BY signed_at::date) f
        GROUP BY day""", {"m": merchant_id})
    cursor.execute("""
        INSERT INTO reporting.counters (merchant_id, mandates_signed, payments_rejected, plans_active, updated_at)
        VALUES (%(m)s,
                (SELECT count(*) FROM mandates.mandates WHERE merchant_id = %(m)s AND status = 'active'),
                (SELECT count(*) FROM payments.r_transactions WHERE merchant_id = %(m)s),
                (SELECT count(*) FROM plans.plans WHERE merchant_id = %(m)s AND status = 'active'), now())""",
                   {"m": merchant_id})


def load(url, scale=1.0, progress=print, migrated=False, workers=2, today=None):
    """Migrate `url` and load merchant A at `scale` and the small merchant B, their data dated
    around `today` (default the clock's day).

    Returns {"merchant_id", "api_key", "other_merchant_id", "other_api_key", "counts": {table: rows},
    "other_counts", "seconds", "scale", "today"}."""
    import psycopg2

    started = time.monotonic()
    if not migrated:
        migrate(url)
    today = today or clock.today()
    tag = format(int(time.time() * 1000), "x")
    merchant_id, api_key, name = create_merchant(url, "Société des Sports d'Île-de-France",
                                                 f"bench-a-{tag}@example.org")
    other_id, other_key, other_name = create_merchant(url, "Other Merchant SARL", f"bench-b-{tag}@example.org")
    shapes = {merchant_id: Shape(merchant_id, int(200_000 * scale), int(1_000_000 * scale),
                                 int(50_000 * scale), today, salt=1000),
              other_id: Shape(other_id, int(2_000 * scale), int(10_000 * scale), int(500 * scale), today,
                              salt=2000)}
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            _register_creditor(cursor, merchant_id, name)
            _register_creditor(cursor, other_id, other_name)
            indexes = _drop_indexes(cursor)
        connection.commit()
    finally:
        connection.close()
    counts = _copy_all(url, list(shapes.values()), progress, workers)
    progress(f"  copied in {time.monotonic() - started:.1f} s; {len(indexes)} indexes built again")
    _build_indexes(url, indexes, workers)
    progress(f"  indexed in {time.monotonic() - started:.1f} s; read models and VACUUM ANALYZE")
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            for owner_merchant in shapes:
                _read_models(cursor, owner_merchant)
        connection.commit()
        connection.autocommit = True
        with connection.cursor() as cursor:
            for schema, table in list(COLUMNS) + [("reporting", "daily_figures")]:
                cursor.execute(f"VACUUM ANALYZE {schema}.{table}")
    finally:
        connection.close()
    seconds = time.monotonic() - started
    progress(f"loaded in {seconds:.1f} s")
    return {"merchant_id": merchant_id, "api_key": api_key, "other_merchant_id": other_id,
            "other_api_key": other_key, "counts": counts[merchant_id], "other_counts": counts[other_id],
            "seconds": seconds, "scale": scale, "today": today.isoformat(),
            "shape": shapes[merchant_id].args, "other_shape": shapes[other_id].args,
            "sample": {"customer_reference": shapes[merchant_id].customer_reference(7),
                       "subscriber_id": shapes[merchant_id].subscriber_id(7)}}


def main():
    import json
    from contextlib import nullcontext

    from bench.common import database_url, throwaway_database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--database-url", default=database_url(),
                        help="the server: the data goes to a throwaway database on it, dropped at the end")
    parser.add_argument("--into", help="load into this (empty) database instead, and keep it")
    parser.add_argument("--output", help="write what load() returns here, as JSON (API keys included)")
    args = parser.parse_args()
    with (nullcontext(args.into) if args.into else throwaway_database(args.database_url)) as url:
        result = load(url, args.scale)
    if args.output:
        with open(args.output, "w") as file:
            json.dump(result, file, default=str)
    print({k: v for k, v in result.items() if "key" not in k})


if __name__ == "__main__":
    main()
