"""make bench cannot rot: `python -m benchmarks --smoke` runs every benchmark and fills every row with numbers.

No goal is asserted: times measured on a shared machine are not test material.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest

from nlmlab import REPO

pytestmark = pytest.mark.lab

SUITES = {"rules", "accuracy", "scale", "mesh", "machines", "agent"}
# The labs the benchmarks name themselves (benchmarks/rules.py: br, bs; benchmarks/mesh.py: bm;
# benchmarks/machines.py: bk, bn), and the prober/responder pairs (benchmarks/probe_scale.py, agent.py).
BENCH_NAMESPACE = re.compile(r"^(b[rsmkn][0-9a-f]{6}-|nlmbench-)")


def bench_namespaces() -> set[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in listing.splitlines() if BENCH_NAMESPACE.match(line)}


def test_smoke_run_fills_every_row_and_leaves_no_namespace(tmp_path):
    before = bench_namespaces()
    process = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--output", str(tmp_path)], cwd=REPO,
                             capture_output=True, text=True, timeout=600, check=False)
    assert process.returncode == 0, process.stdout[-5000:] + process.stderr[-5000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["errors"] == {}
    assert len(list(tmp_path.glob("results-*.json"))) == 1
    assert {row["suite"] for row in results["rows"]} == SUITES
    for row in results["rows"]:
        for key in ("ours", "peer"):
            assert isinstance(row[key], float) and math.isfinite(row[key]) and row[key] >= 0, row
        # A ratio to an exact zero (an error of 0.000 ms) has no value.
        assert row["ratio"] is None if row["peer"] == 0 else math.isfinite(row["ratio"]), row
        assert row["goal"] and row["peer_name"], row
        assert row["met"] in (True, False, None), row
        assert row["benchmark"] in process.stdout
    assert bench_namespaces() <= before
