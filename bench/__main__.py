"""`make bench`: every figure of issue 8, each measured beside its anchor in the same run.

    python -m bench [--scale 1.0] [--only NAME,NAME] [--output var/bench/results.json]
    make bench [BENCH_SCALE=0.1]

One figure after the other (never two at once: they share the machine's CPUs), each in its own
throwaway PostgreSQL database and RabbitMQ vhost, loaded in bulk at `scale` (1.0 = the sizes
of issue 8: 200 000 subscribers and mandates, 1 000 000 payments and 50 000 R-transactions for
the API, 100 000 due debits for pain.008, 1 000 000 ledger entries for the statement, 100 000
instalments for the collection cycle, 10 000 returns in a camt.054 among 1 000 000 payments;
the API's list mix while that collection and that import run, against the mix on the idle cluster).
Each module writes its own `var/bench/<name>.json` with every timing; this one prints the
table and writes `var/bench/results.json`: each figure's value, goal and verdict, and
`peak_rss_mb`, the largest resident memory of any service process during the run.
Exit status 0 when it measured, whatever the verdicts (the table says them); 1 when a
figure could not be measured.
"""
import argparse
import json
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from bench.common import database_url, machine, run_figure_module

DEFAULT_OUTPUT = Path("var/bench/results.json")
PEAK_RSS_GOAL_MB = 300


def _pain008(scale):
    from bench import pain008_vs_sepaxml as bench

    figures = bench.benchmark(count=max(1000, int(100_000 * scale)), database_url=database_url())
    # submit_due runs inside the benchmark's process, not as a service: its memory is the
    # peak growth of that block, recorded beside the figure, not a service's RSS.
    return dict(figures, figure="pain008_vs_sepaxml", value=figures["ratio"], goal=f"<= {bench.GOAL}",
                peak_rss_mb={})


def _statement(scale):
    from bench import statement_export_vs_copy as bench

    figures = bench.run(count=max(2000, int(1_000_000 * scale)), database_url=database_url())
    return dict(figures, figure="statement_csv_vs_copy", value=figures["ratio"], goal=f"<= {bench.GOAL_RATIO}")


def _module(name):
    def run(scale):
        module = __import__(f"bench.{name}", fromlist=["run"])
        return module.run(scale=scale, database_url=database_url())
    return run


def _own_process(name):
    """The figure run in a process of its own: the camt.054 import's memory is that process's,
    and what the figures run before it left in this one (sepaxml's tree, the API's dataset)
    must not count as the import's."""
    def run(scale):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # not a Pool: its workers are daemons, and the figure forks processes of its own
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(run_figure_module, name, scale).result()
    return run


FIGURES = {
    "pain008_vs_sepaxml": _pain008,
    "statement_csv_vs_copy": _statement,
    "api_p95_vs_ping": _module("api_p95_vs_ping"),
    "collection_vs_kombu": _module("collection_vs_kombu"),
    "camt054_import_vs_floor": _own_process("camt054_import_vs_floor"),
    "api_p95_during_cycle": _module("api_p95_during_cycle"),
}


def run(scale=1.0, only=None, output=DEFAULT_OUTPUT, log=print):
    """Every figure (or those of `only`) at `scale`; the results (also written to `output`)."""
    names = list(only or FIGURES)
    unknown = sorted(set(names) - set(FIGURES))
    if unknown:
        raise ValueError(f"unknown figure {', '.join(unknown)} (known: {', '.join(FIGURES)})")
    started = time.perf_counter()
    figures, failed, peaks = {}, {}, {}
    for name in names:
        log(f"--- {name} (scale {scale})", flush=True)
        begun = time.perf_counter()
        try:
            measured = FIGURES[name](scale)
        except Exception as error:  # noqa: BLE001 - the others still run; the run then exits 1
            failed[name] = f"{type(error).__name__}: {error}"
            log(traceback.format_exc(), flush=True)
            continue
        figures[name] = {"value": measured["value"], "goal": measured["goal"], "goal_met": bool(measured["goal_met"]),
                         "seconds": time.perf_counter() - begun}
        for service, mb in (measured.get("peak_rss_mb") or {}).items():
            if mb is not None and mb > peaks.get(service, (0, ""))[0]:
                peaks[service] = (mb, name)
        log(f"    {name} = {measured['value']:.3f} (goal {measured['goal']})", flush=True)
    if peaks:
        service, (peak, during) = max(peaks.items(), key=lambda item: item[1][0])
        figures["peak_rss_mb"] = {"value": peak, "goal": f"<= {PEAK_RSS_GOAL_MB}", "goal_met": peak <= PEAK_RSS_GOAL_MB,
                                  "service": service, "during": during,
                                  "by_service": {name: mb for name, (mb, _) in sorted(peaks.items())}}
    results = {"scale": scale, "figures": figures, "failed": failed, "seconds": time.perf_counter() - started,
               "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
               "command": "make bench" + (f" BENCH_SCALE={scale}" if scale != 1.0 else "")}
    if output is not None:
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


def table(results):
    """The results as the table of docs/performance.md (Markdown)."""
    lines = ["| figure | value | goal | met |", "|---|---:|---|---|"]
    for name, figure in results["figures"].items():
        met = "yes" if figure["goal_met"] else "NO"
        lines.append(f"| `{name}` | {figure['value']:.2f} | {figure['goal']} | {met} |")
    for name, reason in results["failed"].items():
        lines.append(f"| `{name}` | — | — | not measured: {reason} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE") or 1.0))
    parser.add_argument("--only", type=lambda text: [name.strip() for name in text.split(",") if name.strip()])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1.0:
        parser.error("--scale: a number in (0, 1]")
    try:
        results = run(args.scale, args.only, args.output)
    except ValueError as error:
        parser.error(str(error))
    print()
    print(table(results))
    peak = results["figures"].get("peak_rss_mb")
    if peak:
        print(f"\npeak RSS: {peak['service']} {peak['value']:.0f} MB during {peak['during']}")
    print(f"\nscale {results['scale']}, {results['seconds']:.0f} s; figures written to {args.output}")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
