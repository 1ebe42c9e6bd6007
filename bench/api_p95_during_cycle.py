"""The dashboard's list mix while the daily cycle runs, against the same mix on an idle
cluster (issue 17, figure `api_p95_during_cycle`).

    python -m bench.api_p95_during_cycle [--scale 1.0] [--requests 200] [--clients 10]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--output var/bench/api_p95_during_cycle.json]

1. One throwaway database holds, by the other figures' loaders (untimed): the API's dataset
   (`bench.dataset.load`, dated around DATASET_TODAY, a fortnight after the cycle's day, so
   that none of its plans or payments is due on it), the collection's merchant
   (`bench.collection_vs_kombu.prepare`, 100 000 x scale instalments due on its DUE) and the
   camt.054 import's payments (`bench.camt054_import_vs_floor.load`, 1 000 000 x scale payments,
   10 000 x scale of them returned by its file, written by its `write_file`). The camt.054
   merchants' debits still `scheduled` (due in February 2027) are set `cancelled`: on the
   cycle's day they would be overdue and swept into the collection, which is the collection
   merchant's alone.
2. The cluster as in production (`bench.api_p95_vs_ping.cluster`: the five services and the
   gateway) on a throwaway vhost, the services' clock on the cycle's day.
3. `clients` dashboard users (`bench.api_p95_vs_ping.Client`) send the list mix as fast as
   answers come: `requests` calls each on the idle cluster; then, still sending, the
   collection (`payments.collect`, until reporting holds every payment's facts:
   `collection_vs_kombu.run_cycle`) and the import (the file dropped in the bank inbox,
   `payments.import_inbox` over RPC) start together, and the users stop when both are done;
   then `requests` calls each on the idle cluster again.
4. Figure = p95(list mix sent while the collection or the import ran) / p95(list mix, idle,
   both idle rounds); goal <= 2.0. Recorded beside it: each phase's time window, how many
   loaded requests overlapped the collection and the import, per call kind p95, the CPU time
   of each service, the gateway and PostgreSQL in each phase, and every process's peak RSS.
   Exit status 0: this measures, it does not judge.
"""
import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench import api_p95_vs_ping as api
from bench import camt054_import_vs_floor as camt
from bench import collection_vs_kombu as cycle
from bench import common, dataset

FIGURE = "api_p95_during_cycle"
GOAL = 2.0
DEFAULT_OUTPUT = Path(f"var/bench/{FIGURE}.json")
DATASET_TODAY = cycle.DUE + timedelta(days=14)  # its plans issue from DATASET_TODAY - 13 days on


# --- the data (untimed) -------------------------------------------------------------

def prepare(url, scale, path, progress=print):
    """The three datasets in `url` and the camt.054 at `path`; what the run needs of them."""
    import psycopg2

    data = dataset.load(url, scale, progress=progress, today=DATASET_TODAY)
    instalments = cycle.count_for(scale)
    cycle.prepare(url, instalments)
    total, returns = camt.counts(scale)
    camt.prepare(url).dispose()
    with multiprocessing.get_context("fork").Pool(1) as pool:  # a million rows made in Python: not here
        details = pool.apply(camt.load, (url, total, returns))
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE payments.payments SET status = 'cancelled', cancelled_at = now() "
                           "WHERE merchant_id = ANY(%s) AND status = 'scheduled'",
                           ([creditor["merchant_id"] for creditor in camt.CREDITORS],))
            cancelled = cursor.rowcount
        connection.commit()
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE payments.payments")
    finally:
        connection.close()
    written = camt.write_file(path, details)
    return {"data": data, "instalments": instalments, "payments": total, "returns": returns,
            "camt054_scheduled_cancelled": cancelled, "file": written,
            "returned_paid": sum(d["status"] == "paid" for d in details)}


# --- the phases ------------------------------------------------------------------------

def _cpu(pids):
    used = {name: api.cpu_seconds(pid) for name, pid in pids.items()}
    used.update(api.others_cpu_seconds())
    return used


def _since(before, pids):
    after = _cpu(pids)
    return {name: round(after[name] - before[name], 3) for name in before}


def idle_round(base, api_key, shape, clients, count, seed, pids):
    """`count` calls of the list mix per client on the idle cluster (see _drive)."""
    threads, barrier = api.start_clients(base, api_key, shape, clients, count, False, seed)
    return _drive(threads, barrier, lambda: None, pids)


def _drive(threads, barrier, during, pids):
    """Release the clients, run `during()`, wait for the clients: their spans and errors, the CPU
    seconds of `pids`, PostgreSQL, RabbitMQ and this process meanwhile, the window, the outcome."""
    before = _cpu(pids)
    barrier.wait()
    begun = time.perf_counter()
    outcome = during()
    for thread in threads:
        thread.join()
    window = (begun, time.perf_counter())
    spans = [span for thread in threads for span in thread.spans]
    errors = [error for thread in threads for error in thread.errors]
    return {"spans": spans, "errors": errors, "cpu": _since(before, pids), "window": window, "outcome": outcome}


def loaded_phase(base, api_key, shape, clients, url, vhost, children, instalments, camt_file, inbox, seed, pids):
    """The clients send the mix while the collection and the import run together; they stop
    when both are done. Each task's (start, end) and result."""
    from nameko.standalone.rpc import ClusterRpcProxy

    windows, results, failures = {}, {}, {}
    done = threading.Event()
    start = threading.Barrier(2)
    cycle_children = {name: children[name] for name in cycle.SERVICES}

    def task(name, work):
        try:
            start.wait()
            begun = time.perf_counter()
            results[name] = work()
            windows[name] = (begun, time.perf_counter())
        except Exception as error:  # noqa: BLE001 - reported by the run
            failures[name] = f"{type(error).__name__}: {error}"

    def collection():
        return cycle.run_cycle(url, vhost, cycle_children, instalments)

    def camt054_import():
        with ClusterRpcProxy({"AMQP_URI": vhost}, timeout=3600) as cluster:
            return cluster.payments.import_inbox(camt.AS_OF.isoformat())

    def during():
        shutil.copyfile(camt_file, inbox / ".incoming.tmp")  # the bank's drop: written, then renamed
        os.replace(inbox / ".incoming.tmp", inbox / Path(camt_file).name)
        tasks = [threading.Thread(target=task, args=("collection", collection), daemon=True),
                 threading.Thread(target=task, args=("import", camt054_import), daemon=True)]
        for thread in tasks:
            thread.start()
        for thread in tasks:
            thread.join()
        done.set()

    threads, barrier = api.start_clients(base, api_key, shape, clients, None, False, seed, until=done)
    phase = _drive(threads, barrier, during, pids)
    if failures:
        raise RuntimeError(f"the cycle failed during the load: {failures}")
    return phase, windows, results


def _overlapping(spans, window):
    return sum(1 for _, begun, ended in spans if begun < window[1] and ended > window[0])


def _summary(spans):
    values = [ended - begun for _, begun, ended in spans]
    out = api.summary(values) if values else {"count": 0}
    out["by_kind"] = {kind: api.summary([e - b for k, b, e in spans if k == kind])
                      for kind in api.KINDS if any(k == kind for k, _, _ in spans)}
    return out


# --- the run -----------------------------------------------------------------------------

def run(scale=1.0, database_url=None, output=DEFAULT_OUTPUT, clients=10, requests_per_client=None,
        progress=print):
    """The figure (see the module's docstring); the figures, also written to `output` unless None."""
    database_url = database_url or common.database_url()
    count = requests_per_client or max(20, int(200 * min(1.0, scale * 4)))
    with tempfile.TemporaryDirectory(prefix="debito-bench-cycle-") as tmp, \
            common.throwaway_database(database_url) as url, \
            common.throwaway_vhost(common.amqp_uri(), common.rabbit_api_uri()) as vhost:
        workdir = Path(tmp)
        camt_file = workdir / f"camt054-{camt.AS_OF:%Y%m%d}.xml"
        progress(f"loading the API dataset, the collection and the camt.054 payments at scale {scale}")
        started = time.perf_counter()
        loaded = prepare(url, scale, camt_file, progress)
        load_seconds = time.perf_counter() - started
        data, shape = loaded["data"], api.shape_of(loaded["data"])
        inbox = workdir / "bank" / "inbox"
        inbox.mkdir(parents=True)
        env = {"DEBITO_CLOCK": cycle.CLOCK, "BANK_OUTBOX": str(workdir / "bank" / "outbox"),
               "BANK_INBOX": str(inbox), "SMTP_URL": ""}
        with api.cluster(vhost, url, workdir, env=env) as (children, base, pids):
            api.warm_up(base, data["api_key"], shape, clients)
            sampler = common.RssSampler(pids)
            sampler.start()
            try:
                progress(f"  idle: {clients} clients x {count} calls of the list mix")
                before = idle_round(base, data["api_key"], shape, clients, count, 30, pids)
                progress(f"  loaded: the mix while {loaded['instalments']} instalments are collected and "
                         f"{loaded['returns']} returns imported")
                t0 = time.perf_counter()
                phase, windows, results = loaded_phase(base, data["api_key"], shape, clients, url, vhost, children,
                                                       loaded["instalments"], camt_file, inbox, 31, pids)
                progress(f"  idle again: {clients} clients x {count} calls")
                after = idle_round(base, data["api_key"], shape, clients, count, 32, pids)
            finally:
                peaks = sampler.stop()
            hwm = {name: common.status_mb(pid, "VmHWM") for name, pid in pids.items()}
        processed = sorted(p.name for p in (inbox / "processed").glob("*")) if (inbox / "processed").is_dir() else []
        failed = sorted(p.name for p in (inbox / "failed").glob("*")) if (inbox / "failed").is_dir() else []
    load_window = (min(w[0] for w in windows.values()), max(w[1] for w in windows.values()))
    loaded_spans = [span for span in phase["spans"] if load_window[0] <= span[1] < load_window[1]]
    idle_spans = before["spans"] + after["spans"]
    if not loaded_spans or not idle_spans:
        raise RuntimeError(f"{len(loaded_spans)} list calls sent while the cycle ran, {len(idle_spans)} idle: "
                           "nothing to compare")
    idle, busy = _summary(idle_spans), _summary(loaded_spans)
    ratio = busy["p95_ms"] / idle["p95_ms"]
    collected, imported = results["collection"], results["import"]
    consistent = (collected["payment_statuses"] == {"submitted": loaded["instalments"]}
                  and collected["report"]["imported_files"] == 0 and collected["report"]["failed_files"] == 0
                  and imported["imported_files"] == 1 and imported["failed_files"] == 0
                  and imported["rejected"] == loaded["returns"] and imported["unmatched"] == 0
                  and processed == [camt_file.name] and not failed)
    errors = before["errors"] + phase["errors"] + after["errors"]
    relative = lambda window: [round(window[0] - t0, 3), round(window[1] - t0, 3)]  # noqa: E731
    figures = {
        "figure": FIGURE, "value": ratio, "goal": f"<= {GOAL}",
        "goal_met": ratio <= GOAL and consistent and not errors,
        "ratio": ratio, "scale": scale, "clients": clients, "requests_per_client_idle": count,
        "idle": idle, "loaded": busy,
        "windows_seconds": {"idle_before": relative(before["window"]), "loaded_clients": relative(phase["window"]),
                            "collection": relative(windows["collection"]), "import": relative(windows["import"]),
                            "load": relative(load_window), "idle_after": relative(after["window"])},
        "loaded_requests_during": {"collection": _overlapping(loaded_spans, windows["collection"]),
                                   "import": _overlapping(loaded_spans, windows["import"])},
        "cpu_seconds": {"idle_before": before["cpu"], "loaded": phase["cpu"], "idle_after": after["cpu"]},
        "collection": {"instalments": loaded["instalments"], "seconds": collected["seconds"],
                       "collect_rpc_seconds": collected["collect_rpc_seconds"], "report": collected["report"],
                       "payment_statuses": collected["payment_statuses"], "reporting_facts": collected["facts"]},
        "import": {"returns": loaded["returns"], "payments": loaded["payments"],
                   "seconds": windows["import"][1] - windows["import"][0], "report": imported,
                   "file": loaded["file"], "processed": processed, "failed": failed},
        "camt054_scheduled_cancelled": loaded["camt054_scheduled_cancelled"],
        "consistent": consistent, "errors": errors[:20], "error_count": len(errors),
        "peak_rss_mb": {name: max(peaks[name] or 0, hwm[name] or 0) for name in pids},
        "load_seconds": load_seconds, "dataset": {k: v for k, v in data.items() if "key" not in k},
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": common.machine(),
    }
    return common.save_figures(figures, output)


def report(figures, output):
    print(f"\n{FIGURE} at scale {figures['scale']} ({figures['clients']} clients; data loaded in "
          f"{figures['load_seconds']:.0f} s)")
    print(f"{'list mix':34}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for name in ("idle", "loaded"):
        s = figures[name]
        print(f"{name:34}{s['count']:>7}{s['p50_ms']:>9.1f}{s['p95_ms']:>9.1f}{s['p99_ms']:>9.1f}")
        for kind, k in s["by_kind"].items():
            print(f"{'  ' + kind:34}{k['count']:>7}{k['p50_ms']:>9.1f}{k['p95_ms']:>9.1f}{k['p99_ms']:>9.1f}")
    windows = figures["windows_seconds"]
    print("windows (s from the loaded phase's start): " + ", ".join(
        f"{name} {start:.1f}-{end:.1f}" for name, (start, end) in windows.items()))
    print(f"loaded requests overlapping the collection {figures['loaded_requests_during']['collection']}, "
          f"the import {figures['loaded_requests_during']['import']}")
    print(f"collection: {figures['collection']['instalments']} instalments in {figures['collection']['seconds']:.1f} s;"
          f" import: {figures['import']['returns']} returns in {figures['import']['seconds']:.1f} s; "
          f"consistent {figures['consistent']}, errors {figures['error_count']}")
    for phase, used in figures["cpu_seconds"].items():
        print(f"CPU s {phase}: " + ", ".join(f"{name} {value:.1f}" for name, value in used.items()))
    print("peak RSS MB: " + ", ".join(f"{k} {v:.0f}" for k, v in figures["peak_rss_mb"].items()))
    print(f"ratio p95(loaded) / p95(idle) = {figures['ratio']:.2f} (goal {figures['goal']}): "
          f"{'goal met' if figures['goal_met'] else 'goal NOT met'}")
    print(f"figures written to {output}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog=f"python -m bench.{FIGURE}", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE") or 1.0))
    parser.add_argument("--requests", type=int, default=None, help="per client and idle round (default 200 at "
                                                                    "scale >= 0.25)")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--database-url", default=common.database_url())
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    figures = run(args.scale, args.database_url, args.output, args.clients, args.requests)
    report(figures, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
