"""What every benchmark of `bench/` shares: a throwaway PostgreSQL database and RabbitMQ
vhost, the real services as child processes (`debito service NAME`), and their memory.

Each benchmark module has `run(...) -> dict` (its figures) and `main()` (`python -m
bench.NAME`); `bench/__main__.py` (`make bench`) runs them one after the other.
"""
import json
import os
import platform
import secrets
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_RABBIT_API = "http://guest:guest@127.0.0.1:15672"
DEBITO = str(Path(sys.executable).parent / "debito")
SAMPLE_SECONDS = 0.1


def database_url():
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_URL)


def amqp_uri():
    return os.environ.get("AMQP_URI", DEFAULT_AMQP).replace("pyamqp://", "amqp://")


def rabbit_api_uri():
    return os.environ.get("RABBIT_API_URI", DEFAULT_RABBIT_API)


# --- the throwaway database ---------------------------------------------------

def _with_database(url, name):
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin(url, statement):
    import psycopg2
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    connection = psycopg2.connect(host=parsed.host, port=parsed.port, user=parsed.username,
                                  password=parsed.password, dbname=parsed.database or "postgres")
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@contextmanager
def throwaway_database(url):
    """A new database on the server of `url`, dropped at the end whatever happens."""
    name = f"debito_bench_{secrets.token_hex(6)}"
    _admin(url, f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(url, name)
    finally:
        _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the broker and the services ------------------------------------------------

@contextmanager
def throwaway_vhost(amqp, api_uri):
    """A RabbitMQ vhost `debito_bench_<hex>`, deleted at the end; yields its AMQP URI."""
    from nameko.testing.rabbit import Client

    manager = Client(api_uri)
    name = f"debito_bench_{secrets.token_hex(6)}"
    manager.create_vhost(name)
    manager.set_vhost_permissions(name, urlparse(amqp).username or "guest", ".*", ".*", ".*")
    try:
        yield urlunparse(urlparse(amqp)._replace(path="/" + name))
    finally:
        manager.delete_vhost(name)


@contextmanager
def services(names, amqp, url, workdir, env=None):
    """The services `names` (`debito service NAME`, which execs `nameko run`) on `amqp` and
    the database `url`, each answering its ping; yields {name: Popen}. Logs in workdir/NAME.log."""
    from nameko.standalone.rpc import ClusterRpcProxy

    workdir = Path(workdir)
    environment = dict(os.environ, AMQP_URI=amqp, DATABASE_URL=url, DEBITO_VAR=str(workdir / "var"),
                       EXPORT_DIR=str(workdir / "exports"), INBOX_INTERVAL="3600", LOG_LEVEL="WARNING",
                       PYTHONWARNINGS="ignore::DeprecationWarning", **(env or {}))
    if "DEBITO_CLOCK_FILE" not in (env or {}):
        environment.pop("DEBITO_CLOCK_FILE", None)
    children = {}
    try:
        for name in names:
            log = open(workdir / f"{name}.log", "wb")
            children[name] = subprocess.Popen([DEBITO, "service", name], env=environment, stdout=log,
                                              stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        with ClusterRpcProxy({"AMQP_URI": amqp}, timeout=5) as cluster:
            for name in children:
                while True:
                    if children[name].poll() is not None:
                        raise RuntimeError(f"{name} exited: {(workdir / f'{name}.log').read_text()[-2000:]}")
                    try:
                        getattr(cluster, name).ping(check_database=True)
                        break
                    except Exception:  # noqa: BLE001 - not up yet
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)
        yield children
    finally:
        for child in children.values():
            child.terminate()
        for child in children.values():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


# --- memory ------------------------------------------------------------------------

def status_mb(pid, field):
    """A field of /proc/<pid>/status (VmRSS, VmHWM) in MB; None when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak():
    """Linux >= 4.0: writing 5 to /proc/self/clear_refs resets this process's VmHWM to its RSS;
    False where that cannot be done."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class RssSampler(threading.Thread):
    """VmRSS of each pid every SAMPLE_SECONDS, until stopped; stop() gives each one's peak."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.samples, self._done = pids, {name: [] for name in pids}, threading.Event()

    def run(self):
        while not self._done.is_set():
            for name, pid in self.pids.items():
                rss = status_mb(pid, "VmRSS")
                if rss is not None:
                    self.samples[name].append(rss)
            self._done.wait(SAMPLE_SECONDS)

    def stop(self):
        self._done.set()
        self.join()
        return {name: max(values) if values else None for name, values in self.samples.items()}


def machine():
    """What the figures were measured on."""
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "loadavg": os.getloadavg()}


def run_figure_module(name, scale):
    """`bench.<name>.run` at `scale` on the bench's database (importable: a spawned process runs it)."""
    import importlib

    return importlib.import_module(f"bench.{name}").run(scale=scale, database_url=database_url())


def save_figures(figures, output):
    """`figures`, also written as JSON to `output` when one is given."""
    if output is not None:
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
    return figures
