"""`make bench`'s orchestrator (bench/__main__.py) at a tiny scale, in a subprocess as
`make bench` runs it: each figure's value, goal and verdict, the peak RSS, the table."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_orchestrator_runs_the_figures_and_writes_the_results(tmp_path):
    output = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "-m", "bench", "--scale", "0.002", "--only",
                           "pain008_vs_sepaxml,statement_csv_vs_copy", "--output", str(output)],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(output.read_text())
    assert results["scale"] == 0.002 and results["failed"] == {}
    figures = results["figures"]
    assert set(figures) == {"pain008_vs_sepaxml", "statement_csv_vs_copy", "peak_rss_mb"}
    for name in ("pain008_vs_sepaxml", "statement_csv_vs_copy"):
        assert figures[name]["value"] > 0 and figures[name]["goal"].startswith("<= ")
        assert figures[name]["seconds"] > 0 and isinstance(figures[name]["goal_met"], bool)
    peak = figures["peak_rss_mb"]
    assert peak["during"] == "statement_csv_vs_copy" and set(peak["by_service"]) == {"payments", "reporting"}
    assert 30 < peak["value"] == max(peak["by_service"].values()) and peak["goal"] == "<= 300"
    assert "| `statement_csv_vs_copy` |" in done.stdout and "peak RSS:" in done.stdout


def test_an_unknown_figure_is_refused_before_anything_runs(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench", "--only", "nope"], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown figure nope" in done.stderr
    assert not (tmp_path / "var").exists()
