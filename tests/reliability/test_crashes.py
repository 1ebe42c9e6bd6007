"""Crashes (issue 9): payments, plans and reporting are killed with SIGKILL at random moments
of a 10 000-instalment collection and then of the import of the bank's answers, ten times each,
and restarted by `make run`'s supervisor; the call cut by a kill is made again, and once more
at the end. Every instalment becomes exactly one payment, every payment is in exactly one
pain.008 file (no half-written file in the outbox), every inbox file is imported once, each
answered payment is booked once and the ledger balances, and reporting has seen every event
exactly once (the transactional outbox: common.outbox): its figures are those of the payments
and equal a rebuild from scratch."""
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.collection_vs_kombu import AS_OF, CLOCK, DUE, MERCHANT
from debito.supervisor import Child, Supervisor, service_argv
from sandbox_bank import bank as sandbox
from harness.reliability import call, debits_in_files, events_settled, facts, query, wait_for_consumers

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
INSTALMENTS = 10_000
SERVICES = ("payments", "plans", "reporting")
KILLS_COLLECTING = SERVICES * 7  # then 3 each while importing: each service killed 10 times
KILLS_IMPORTING = SERVICES * 3
ANSWER_FILES, ANSWERED_PER_FILE = 10, 200  # each a camt.054 of credits and a pain.002 of rejects
REJECTED_EVERY = 5  # one answered debit in five is rejected
NAMES = ("mandates", "plans", "payments", "reporting")


def attempt(amqp, method, answers, errors, timeout):
    try:
        answers.append(call(amqp, "payments", method, AS_OF.isoformat(), timeout=timeout))
    except Exception as error:  # noqa: BLE001 - a call cut by a kill: asked again
        errors.append(repr(error))


class Chaos:
    """The supervised services and the kills."""

    def __init__(self, supervisor, infrastructure, amqp, rng):
        self.supervisor, self.infrastructure, self.amqp, self.rng = supervisor, infrastructure, amqp, rng
        self.restarts, self.watching = [], threading.Event()
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()

    def _watch(self):
        while not self.watching.is_set():
            self.restarts.extend(self.supervisor.check())
            time.sleep(0.2)

    def stop(self):
        self.watching.set()
        self.watcher.join()

    def wait_up(self):
        wait_for_consumers(self.infrastructure, self.amqp, dict.fromkeys(NAMES, 1))

    def kill_during(self, method, victims):
        """`payments.method(AS_OF)` again and again, a victim killed at a random moment of each."""
        for victim in victims:
            answers, errors = [], []
            caller = threading.Thread(target=attempt, args=(self.amqp, method, answers, errors, 60))
            caller.start()
            time.sleep(self.rng.uniform(0.2, 3.0))
            restarted = len(self.restarts)
            os.kill(self.supervisor.children[victim].process.pid, signal.SIGKILL)
            caller.join()
            deadline = time.monotonic() + 90
            while len(self.restarts) == restarted:  # the supervisor saw it die and started it again
                assert time.monotonic() < deadline, f"{victim} not restarted"
                time.sleep(0.2)
            self.wait_up()

    def finish(self, method):
        """The call once uncut, then again: it finds nothing left to do."""
        answers, errors = [], []
        attempt(self.amqp, method, answers, errors, 600)
        assert errors == [], errors
        again, errors = [], []
        attempt(self.amqp, method, again, errors, 600)
        assert errors == [], errors
        return answers[0], again[0]


def write_answers(outbox, inbox):
    """The bank's answers to the first debits of the files, ANSWER_FILES times a pain.002 and a
    camt.054 (the sandbox bank's own writer); the end-to-end ids credited and rejected."""
    inbox.mkdir(parents=True, exist_ok=True)
    state = sandbox.empty_state()
    debits, _ = sandbox.read_outbox(outbox, state)
    debits = sorted(debits, key=lambda debit: debit.end_to_end_id)[:ANSWER_FILES * ANSWERED_PER_FILE]
    records = sandbox.decide(DUE, debits, [], state)["credited"]
    credited, rejected = [], []
    for start in range(0, len(records), ANSWERED_PER_FILE):
        chunk = records[start:start + ANSWERED_PER_FILE]
        refused = [dict(record, outcome="rejected", code="AM04") for record in chunk[::REJECTED_EVERY]]
        paid = [record for record in chunk if record not in chunk[::REJECTED_EVERY]]
        sandbox.write_answers(DUE, {"rejected": refused, "pending": [], "credited": paid, "returned": [], "refunded": [],
                                    "payouts_paid": []}, inbox, state)
        credited += [record["end_to_end_id"] for record in paid]
        rejected += [record["end_to_end_id"] for record in refused]
    return credited, rejected


@pytest.mark.timeout(1500)
def test_killed_services_lose_and_double_nothing(infrastructure, tmp_path):
    rng = random.Random(9)
    var = tmp_path / "var"
    outbox, inbox = var / "bank" / "outbox", var / "bank" / "inbox"
    with infrastructure.database("debito_crashes") as url, infrastructure.vhost() as amqp:
        subprocess.run([sys.executable, "-c", f"from bench.collection_vs_kombu import prepare; "
                                              f"prepare({url!r}, {INSTALMENTS})"],
                       check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
        env = {**os.environ, "AMQP_URI": amqp, "DATABASE_URL": url, "DEBITO_VAR": str(var),
               "DEBITO_CLOCK": CLOCK, "INBOX_INTERVAL": "3600", "LOG_LEVEL": "WARNING",
               "PYTHONWARNINGS": "ignore::DeprecationWarning"}
        env.pop("DEBITO_CLOCK_FILE", None)
        # killed on purpose, not crash-looping: each restarted after 1 s
        supervisor = Supervisor([Child(name, service_argv(name)) for name in NAMES], env=env,
                                log_dir=str(tmp_path / "logs"), steady_after=0)
        supervisor.start()
        chaos = Chaos(supervisor, infrastructure, amqp, rng)
        try:
            chaos.wait_up()
            chaos.kill_during("collect", KILLS_COLLECTING)
            _, again = chaos.finish("collect")
            assert again.get("scheduled", 0) == 0 and not again.get("submitted"), again

            credited, rejected = write_answers(outbox, inbox)
            answer_files = sorted(p.name for p in inbox.glob("*.xml"))
            assert len(answer_files) == 2 * ANSWER_FILES
            chaos.kill_during("import_inbox", KILLS_IMPORTING)
            _, again = chaos.finish("import_inbox")
            assert again["imported_files"] == 0 and again["failed_files"] == 0, again

            deadline = time.monotonic() + 180  # reporting catches up on what the outboxes published
            while not (events_settled(url, NAMES)
                       and facts(url, MERCHANT, "payment_rejected")[0] >= len(rejected)
                       and facts(url, MERCHANT, "payment_paid")[0] >= len(credited)
                       and facts(url, MERCHANT, "payment_submitted")[0] >= INSTALMENTS):
                assert time.monotonic() < deadline, "reporting did not see every event"
                time.sleep(1)
            time.sleep(2)  # a redelivery, if any, would land now
            overview = call(amqp, "reporting", "overview", MERCHANT, "2030-01-31")
            rebuilt = call(amqp, "reporting", "rebuild", timeout=300)
            assert call(amqp, "reporting", "overview", MERCHANT, "2030-01-31") == overview, rebuilt
            balance = call(amqp, "payments", "get_balance", MERCHANT, "2031-01-01")
            statement = call(amqp, "payments", "get_statement", MERCHANT, {"from": "2029-01-01", "to": "2031-01-01"})
        finally:
            chaos.stop()
            supervisor.stop()
        assert sorted(chaos.restarts) == sorted(KILLS_COLLECTING + KILLS_IMPORTING)  # each kill hit, each restarted

        total, instalments, ids = query(url, "SELECT count(*), count(DISTINCT instalment_key), "
                                             "array_agg(end_to_end_id) FROM payments.payments "
                                             "WHERE merchant_id = %s", MERCHANT)[0]
        statuses = dict(query(url, "SELECT status, count(*) FROM payments.payments WHERE merchant_id = %s "
                                   "GROUP BY status", MERCHANT))
        imported = query(url, "SELECT filename, message_id FROM payments.bank_files WHERE direction = 'in'")
        booked = query(url, "SELECT code, count(*), count(DISTINCT payment_id), sum(amount) "
                            "FROM payments.ledger_entries WHERE merchant_id = %s GROUP BY code", MERCHANT)
        credited_sum = query(url, "SELECT sum(amount) FROM payments.payments WHERE end_to_end_id = ANY(%s)",
                             credited)[0][0]
        r_transactions = query(url, "SELECT count(*), count(DISTINCT payment_id) FROM payments.r_transactions "
                                    "WHERE merchant_id = %s", MERCHANT)[0]
        seen = {name: facts(url, MERCHANT, name) for name in ("payment_scheduled", "payment_submitted", "payment_paid",
                                                     "payment_rejected", "r_transaction_received")}

    # every instalment one payment, every payment in one file, nothing half-written
    assert (total, instalments) == (INSTALMENTS, INSTALMENTS)
    in_files = debits_in_files(outbox)
    assert len(in_files) == INSTALMENTS and set(in_files) == set(ids)
    assert not [p for p in outbox.rglob("*") if p.is_file() and p.suffix != ".xml"]
    # every inbox file imported once, none failed, the answers applied once
    assert sorted(name for name, _ in imported) == answer_files
    assert len({message_id for _, message_id in imported}) == len(answer_files)
    assert sorted(p.name for p in (inbox / "processed").glob("*.xml")) == answer_files
    assert not list(inbox.glob("*.xml")) and not (inbox / "failed").exists()
    assert statuses == {"submitted": INSTALMENTS - len(credited) - len(rejected), "paid": len(credited),
                        "rejected": len(rejected)}
    assert r_transactions == (len(rejected), len(rejected))
    # the ledger: one credit per paid debit, nothing else booked, and it balances
    assert booked == [("SDD", len(credited), len(credited), credited_sum)]
    assert balance["balance"] == credited_sum
    assert statement["opening_balance"] + sum(e["amount"] for e in statement["entries"]) \
        == statement["closing_balance"] == credited_sum
    # reporting saw every event once: its figures are the payments', and a rebuild's
    assert seen == {"payment_scheduled": (INSTALMENTS, INSTALMENTS), "payment_submitted": (INSTALMENTS, INSTALMENTS),
                    "payment_paid": (len(credited),) * 2, "payment_rejected": (len(rejected),) * 2,
                    "r_transaction_received": (len(rejected),) * 2}
    series = overview["series"]
    assert sum(day["collected_count"] for day in series) == len(credited)
    assert sum(day["collected_amount"] for day in series) == credited_sum
    assert sum(day["rejected_count"] for day in series) == len(rejected)
    assert overview["payments_rejected"] == len(rejected)
