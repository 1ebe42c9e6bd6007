"""The dashboard's list and search calls through the gateway against an authenticated ping
(issue 8, figure `api_p95_vs_ping`).

    python -m bench.api_p95_vs_ping [--scale 1.0] [--requests 200] [--clients 10]

1. `bench.dataset.load` fills a throwaway database at `scale` (1.0: 200 000 subscribers and
   mandates, 1 000 000 payments, 50 000 R-transactions, their ledger, a second merchant);
   untimed.
2. The cluster runs as in production: the five services (`debito service NAME`) on a
   throwaway RabbitMQ vhost and the gateway (`python -m debito.gateway_server`, eventlet WSGI).
3. `clients` threads, each with its own `requests.Session` and the merchant's API key, send
   `requests` calls each, as fast as answers come back. Timed per request, client side, from
   the request to the whole body read:
   - **list mix**, in turn: mandates by customer reference (a whole reference, or a prefix
     matching ten), rejected payments (all, in a month, or R-transactions by reason code),
     plans by frequency (and status), a subscriber's page (the subscriber, its plans, its
     payments); one list call in four asks for the next page of the client's previous answer
     (keyset cursor);
   - **ping**: `GET /api/v1/ping`, authenticated like the lists, which reaches the mandates
     service over RPC (`ping(check_database=False)`) and touches no service database.
   Both sides pay the same API-key check: one indexed query on the gateway's database.
   The two loads alternate (list, ping, list, ping) so the machine's other work weighs
   on both alike; the percentiles are over both rounds of each.
4. The figure is p95(list mix) / p95(ping); goal <= 2.0. The peak RSS (VmRSS every 0.1 s) of
   every service and the gateway during the load is `peak_rss_mb`.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from contextlib import contextmanager, nullcontext
import threading
import time
from pathlib import Path

import requests

from bench import common, dataset

GOAL = 2.0
DEFAULT_OUTPUT = Path("var/bench/api_p95_vs_ping.json")
SERVICES = ("mandates", "plans", "payments", "signing", "reporting")
ROOT = Path(__file__).resolve().parents[1]
KINDS = ("mandates_by_customer_reference", "rejected_payments", "plans_by_frequency", "subscriber_page")
FREQUENCIES = ("monthly", "quarterly", "annual", "weekly", "bimonthly", "semiannual", "once")
REASON_CODES = ("AM04", "MS03", "AC04", "MD01", "MS02", "AC06", "MD06")


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def summary(values):
    return {"count": len(values), "p50_ms": percentile(values, 0.5) * 1000, "p95_ms": percentile(values, 0.95) * 1000,
            "p99_ms": percentile(values, 0.99) * 1000, "mean_ms": statistics.fmean(values) * 1000}


# --- the cluster ---------------------------------------------------------------

def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gateway(amqp, url, workdir):
    port = free_port()
    env = dict(os.environ, AMQP_URI=amqp, DATABASE_URL=url, GATEWAY_HOST="127.0.0.1", GATEWAY_PORT=str(port),
               SECRET_KEY="bench-secret-key", DEBITO_VAR=str(Path(workdir) / "var"), LOG_LEVEL="WARNING",
               PYTHONWARNINGS="ignore::DeprecationWarning")
    env.pop("DEBITO_CLOCK_FILE", None)
    env.pop("PYTHONPATH", None)
    log = open(Path(workdir) / "gateway.log", "wb")
    child = subprocess.Popen([sys.executable, "-m", "debito.gateway_server"], env=env, cwd="/", stdout=log,
                             stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if child.poll() is not None:
            raise RuntimeError("gateway exited: " + (Path(workdir) / "gateway.log").read_text()[-2000:])
        try:
            if requests.get(base + "/healthz", timeout=5).status_code == 200:
                return child, base
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            child.kill()
            raise RuntimeError("gateway not healthy: " + (Path(workdir) / "gateway.log").read_text()[-2000:])
        time.sleep(0.3)


def stop(child):
    child.terminate()
    try:
        child.wait(timeout=15)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def cpu_seconds(pid):
    """User + system CPU time of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def others_cpu_seconds():
    """CPU time so far of the rest of the machine's work in a round: every PostgreSQL process
    and every RabbitMQ (Erlang VM) process on this machine, and this benchmark's own clients;
    0 for what cannot be read."""
    totals = {"postgresql": 0.0, "rabbitmq": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
            if name in ("postgres", "beam.smp"):
                totals["postgresql" if name == "postgres" else "rabbitmq"] += cpu_seconds(entry.name)
        except (OSError, ValueError, IndexError):
            continue
    used = os.times()
    totals["bench clients"] = used.user + used.system
    return totals


# --- the load --------------------------------------------------------------------

class Client(threading.Thread):
    """One dashboard user: `count` calls of `kind_of(n)` (with `count` None: until the event
    `until` is set), each one timed; `spans` holds (kind, start, end) of each (perf_counter)."""

    def __init__(self, base, api_key, shape, count, anchor, seed, barrier, until=None):
        super().__init__(daemon=True)
        self.base, self.shape, self.count, self.anchor = base + "/api/v1", shape, count, anchor
        self.rng, self.barrier, self.until, self.spans = random.Random(seed), barrier, until, []
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.timings = {kind: [] for kind in KINDS + ("ping",)}
        self.cursors, self.errors, self.rows = {}, [], 0

    def request(self, kind):
        """(path, params) of one call of `kind`, sometimes the next page of the last one."""
        shape, rng = self.shape, self.rng
        if kind == "ping":
            return "/ping", {}
        if kind == "subscriber_page":
            return f"/subscribers/{shape.subscriber_id(rng.randrange(shape.subscribers))}", {}
        follow = self.cursors.get(kind)
        if follow and rng.random() < 0.25:
            path, params = follow
            return path, params
        if kind == "mandates_by_customer_reference":
            reference = shape.customer_reference(rng.randrange(shape.subscribers))
            return "/mandates", {"customer_reference": reference if rng.random() < 0.7 else reference[:-1]}
        if kind == "rejected_payments":
            choice = rng.random()
            if choice < 0.4:
                return "/payments", {"status": "rejected"}
            if choice < 0.7:
                month = shape.first_day.replace(day=1).replace(month=rng.randrange(1, 13))
                return "/payments", {"status": "rejected", "from": month.isoformat(),
                                     "to": (month.replace(day=28)).isoformat()}
            return "/r-transactions", {"reason_code": rng.choice(REASON_CODES)}
        frequency = rng.choice(FREQUENCIES)
        return "/plans", ({"frequency": frequency} if rng.random() < 0.5 else
                          {"frequency": frequency, "status": "active"})

    def run(self):
        self.barrier.wait()
        n = -1
        while self.count is None or n + 1 < self.count:
            n += 1
            if self.until is not None and self.until.is_set():
                break
            kind = "ping" if self.anchor else KINDS[n % len(KINDS)]
            path, params = self.request(kind)
            begun = time.perf_counter()
            try:
                response = self.session.get(self.base + path, params=params, timeout=60)
                body = response.content
            except requests.RequestException as error:
                self.errors.append(f"{kind}: {error}")
                continue
            ended = time.perf_counter()
            self.timings[kind].append(ended - begun)
            self.spans.append((kind, begun, ended))
            if response.status_code != 200:
                self.errors.append(f"{kind} {path} {params}: {response.status_code} {body[:200]!r}")
                continue
            if kind != "ping" and kind != "subscriber_page":
                answer = json.loads(body)
                self.rows += len(answer["items"])
                cursor = answer.get("next_cursor")
                self.cursors[kind] = (path, dict(params, cursor=cursor)) if cursor else None
            elif kind == "subscriber_page":
                answer = json.loads(body)
                self.rows += 1 + len(answer["plans"]) + len(answer["payments"])


def start_clients(base, api_key, shape, clients, count, anchor, seed, until=None):
    """`clients` Client threads started, all waiting on the barrier returned with them (the
    caller's wait() releases them)."""
    barrier = threading.Barrier(clients + 1)
    threads = [Client(base, api_key, shape, count, anchor, seed * 1000 + n, barrier, until) for n in range(clients)]
    for thread in threads:
        thread.start()
    return threads, barrier


def load_round(base, api_key, shape, clients, count, anchor, seed):
    threads, barrier = start_clients(base, api_key, shape, clients, count, anchor, seed)
    barrier.wait()
    begun = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - begun
    timings = {kind: [t for thread in threads for t in thread.timings[kind]] for kind in KINDS + ("ping",)}
    errors = [error for thread in threads for error in thread.errors]
    return timings, errors, sum(t.rows for t in threads), seconds


def check_tenancy(base, other_key, shape):
    """The other merchant's key sees none of merchant A's subscribers, mandates or pages."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {other_key}"
    page = session.get(f"{base}/api/v1/subscribers/{shape.subscriber_id(7)}", timeout=30)
    mandates = session.get(f"{base}/api/v1/mandates", params={"customer_reference": "C-00000"}, timeout=30).json()
    return page.status_code == 404 and all(m["subscriber_id"] != shape.subscriber_id(7) for m in mandates["items"])


# --- the run -------------------------------------------------------------------------

def shape_of(data):
    """The dataset.Shape of merchant A from what dataset.load returned (or its JSON)."""
    merchant, subscribers, payments, r_transactions, today, salt = data["shape"]
    return dataset.Shape(merchant, subscribers, payments, r_transactions, date.fromisoformat(str(today)), salt)


@contextmanager
def cluster(vhost, url, workdir, env=None):
    """The cluster as in production on `vhost` and `url`: the five services and the gateway;
    yields (the services' {name: Popen}, the gateway's base URL, {name: pid} of all six)."""
    with common.services(SERVICES, vhost, url, workdir, env=env) as children:
        gateway, base = start_gateway(vhost, url, workdir)
        try:
            pids = {name: child.pid for name, child in children.items()}
            pids["gateway"] = gateway.pid
            yield children, base, pids
        finally:
            stop(gateway)


def warm_up(base, api_key, shape, clients):
    """Connections, the RPC pool, the plans' caches, PostgreSQL's buffers: a few calls untimed."""
    load_round(base, api_key, shape, clients, 8, False, seed=1)
    load_round(base, api_key, shape, clients, 8, True, seed=2)


def run(scale=1.0, database_url=None, output=DEFAULT_OUTPUT, clients=10, requests_per_client=None,
        amqp=None, rabbit_api=None, progress=print, loaded=None):
    """The figure (see the module's docstring). `loaded` = (database url, what dataset.load returned)
    measures a database loaded before (development) instead of a throwaway one."""
    database_url = database_url or common.database_url()
    count = requests_per_client or max(20, int(200 * min(1.0, scale * 4)))
    timings = {kind: [] for kind in KINDS + ("ping",)}
    errors, rows, rounds = [], 0, []
    with tempfile.TemporaryDirectory(prefix="debito-bench-api-") as workdir, \
            (nullcontext(loaded[0]) if loaded else common.throwaway_database(database_url)) as url, \
            common.throwaway_vhost(amqp or common.amqp_uri(), rabbit_api or common.rabbit_api_uri()) as vhost:
        if loaded:
            data = loaded[1]
        else:
            progress(f"loading the dataset at scale {scale}")
            data = dataset.load(url, scale, progress=progress)
        shape = shape_of(data)
        with cluster(vhost, url, workdir) as (children, base, pids):
            tenancy = check_tenancy(base, data["other_api_key"], shape)
            warm_up(base, data["api_key"], shape, clients)
            sampler = common.RssSampler(pids)
            sampler.start()
            try:
                for number, anchor in enumerate((False, True, False, True)):
                    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                    before.update(others_cpu_seconds())
                    got, failed, listed, seconds = load_round(base, data["api_key"], shape, clients, count,
                                                              anchor, seed=10 + number)
                    cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
                    cpu.update({name: used - before[name] for name, used in others_cpu_seconds().items()})
                    for kind, values in got.items():
                        timings[kind].extend(values)
                    errors.extend(failed)
                    rows += listed
                    done = sum(len(v) for v in got.values())
                    rounds.append({"anchor": anchor, "requests": done, "seconds": seconds,
                                   "requests_per_second": done / seconds,
                                   "cpu_ms_per_request": {name: 1000 * used / done for name, used in cpu.items()}})
                    progress(f"  round {number + 1} ({'ping' if anchor else 'list mix'}): {done} requests "
                             f"in {seconds:.1f} s; CPU ms per request: " + ", ".join(
                                 f"{name} {1000 * used / done:.1f}" for name, used in cpu.items()))
            finally:
                peaks = sampler.stop()
    mix = [t for kind in KINDS for t in timings[kind]]
    mix_p95, ping_p95 = percentile(mix, 0.95), percentile(timings["ping"], 0.95)
    ratio = mix_p95 / ping_p95
    figures = {
        "figure": "api_p95_vs_ping", "value": ratio, "goal": f"<= {GOAL}", "goal_met": ratio <= GOAL and not errors,
        "ratio": ratio, "list_mix": summary(mix), "ping": summary(timings["ping"]),
        "calls": {kind: summary(timings[kind]) for kind in KINDS},
        "clients": clients, "requests_per_client_per_round": count, "rounds": rounds,
        "rows_listed": rows, "errors": errors[:20], "error_count": len(errors), "tenancy_ok": tenancy,
        "peak_rss_mb": peaks, "scale": scale, "dataset": {k: v for k, v in data.items() if "key" not in k},
        "load_seconds": data["seconds"], "machine": common.machine(),
    }
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(figures, indent=2, default=str))
    return figures


def report(figures):
    print(f"\napi_p95_vs_ping at scale {figures['scale']} ({figures['clients']} clients, "
          f"{figures['requests_per_client_per_round']} requests each per round; dataset loaded in "
          f"{figures['load_seconds']:.0f} s)")
    print(f"{'call':34}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    rows = [(kind, figures["calls"][kind]) for kind in KINDS]
    rows += [("list mix", figures["list_mix"]), ("ping (anchor)", figures["ping"])]
    for name, s in rows:
        print(f"{name:34}{s['count']:>7}{s['p50_ms']:>9.1f}{s['p95_ms']:>9.1f}{s['p99_ms']:>9.1f}")
    print(f"ratio p95(list mix) / p95(ping) = {figures['ratio']:.2f} (goal {figures['goal']}): "
          f"{'goal met' if figures['goal_met'] else 'goal NOT met'}; errors {figures['error_count']}, "
          f"tenancy {'ok' if figures['tenancy_ok'] else 'BROKEN'}")
    print("peak RSS MB: " + ", ".join(f"{k} {v:.0f}" for k, v in figures["peak_rss_mb"].items() if v))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--requests", type=int, default=None, help="per client and round (default 200 at scale 1)")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--database-url", default=common.database_url())
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT))
    parser.add_argument("--loaded", nargs=2, metavar=("URL", "JSON"),
                        help="measure a database `python -m bench.dataset --into URL --output JSON` loaded")
    args = parser.parse_args()
    loaded = (args.loaded[0], json.loads(Path(args.loaded[1]).read_text())) if args.loaded else None
    report(run(args.scale, args.database_url, args.output, args.clients, args.requests, loaded=loaded))


if __name__ == "__main__":
    main()
