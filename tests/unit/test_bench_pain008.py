"""The pain.008 benchmark (bench/pain008_vs_sepaxml.py) at 300 debits, on the real
PostgreSQL (TEST_DATABASE_URL, default the local one): it makes and drops its own
database, produces both files, times both and writes its JSON."""
import json
import os

import pytest
from lxml import etree

pytest.importorskip("sepaxml", reason="sepaxml is not installed: pip install -e '.[bench]'")

from bench import pain008_vs_sepaxml as bench  # noqa: E402
from payments.iso20022 import xsd  # noqa: E402

URL = os.environ.get("TEST_DATABASE_URL", bench.DEFAULT_URL)


def test_benchmark_writes_both_files_times_both_and_its_json(tmp_path):
    output = tmp_path / "bench" / "pain008.json"

    figures = bench.benchmark(300, URL, output, keep_dir=tmp_path / "files")

    project, sepaxml = figures["project"], figures["sepaxml"]
    assert project["count"] == sepaxml["count"] == 300 and figures["project_small"]["count"] == 30
    assert project["seconds"] > 0 and sepaxml["seconds"] > 0 and figures["ratio"] > 0
    tree = etree.parse(project["file"])
    xsd.validate(tree, "pain.008.001.02")
    ns = {"p": xsd.namespace("pain.008.001.02")}
    assert tree.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=ns) == "300"
    assert len(etree.parse(sepaxml["file"]).findall(".//p:DrctDbtTxInf", namespaces=ns)) == 300
    written = json.loads(output.read_text())
    assert written["count"] == 300 and written["ratio"] == figures["ratio"]
    assert written["project"]["peak_growth_kib"] >= 0 and "goal_met" in written
