"""`python -m sandbox_bank`: the sandbox bank of `make run`.

Every SANDBOX_BANK_INTERVAL seconds (default 30) it answers what is due by
today's date (the one clock). SANDBOX_BANK_INTERVAL=0 keeps it idle, so that
only `debito bank run --as-of` answers (tests that walk through time).
SIGTERM stops it between two runs.
"""
import logging
import signal
import time

from common import clock, redact
from common.config import env
from sandbox_bank import inbox_dir, outbox_dir, state_file
from sandbox_bank.bank import run

log = logging.getLogger("sandbox_bank")


class _Stop:
    requested = False

    def __call__(self, _signum, _frame):
        self.requested = True


def main():
    logging.basicConfig(level=env("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    redact.install()  # the debtors' IBANs of the files it answers
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    interval = float(env("SANDBOX_BANK_INTERVAL", "30"))
    outbox, inbox, state = outbox_dir(), inbox_dir(), state_file()
    log.info("sandbox bank: reading %s, answering into %s, every %ss", outbox, inbox,
             interval or "— (idle)")
    next_run = time.monotonic()
    while not stop.requested:
        if interval and time.monotonic() >= next_run:
            next_run = time.monotonic() + interval
            answer_today(outbox, inbox, state)
        time.sleep(0.2)
    log.info("sandbox bank stopped")


def answer_today(outbox, inbox, state):
    today = clock.today()
    try:
        counts = run(today, outbox, inbox, state)
    except Exception:  # one bad day must not stop the bank: logged, tried again next time
        log.exception("sandbox bank failed to answer for %s", today)
        return
    if counts["files"]:
        log.info("answered for %s: %s rejected, %s credited, %s returned, %s refunded, "
                 "%s payouts paid, in %s", today, counts["rejected"], counts["credited"],
                 counts["returned"], counts["refunded"], counts["payouts_paid"],
                 ", ".join(counts["files"]))


if __name__ == "__main__":
    main()
