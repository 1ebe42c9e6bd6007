"""The scheduler: a nameko service whose timer runs the daily cycle for
today's date (from the one clock). `debito collect --as-of` runs the same
cycle for a chosen day."""
import logging

from nameko.rpc import RpcProxy, rpc
from nameko.timer import timer

from common import clock
from common.config import env
from debito.cycle import run_cycle

log = logging.getLogger(__name__)
INTERVAL = float(env("SCHEDULER_INTERVAL", "300"))


class Scheduler:
    name = "scheduler"

    mandates = RpcProxy("mandates")
    plans = RpcProxy("plans")
    payments = RpcProxy("payments")

    @timer(interval=INTERVAL)
    def tick(self):
        report = run_cycle(self, clock.today())
        log.info("cycle for %s: %s", clock.today(), report)

    @rpc
    def ping(self, check_database=False):
        return {"service": self.name, "status": "ok"}
