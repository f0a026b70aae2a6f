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

# the machines suite boots a machine
pytestmark = [pytest.mark.lab, pytest.mark.machines]

SUITES = {"rules", "accuracy", "scale", "mesh", "machines", "agent", "firewalld", "verdicts"}
# The labs the benchmarks name themselves (benchmarks/rules.py: br, bs; benchmarks/mesh.py: bm;
# benchmarks/machines.py: bk, bn; benchmarks/firewalld.py: bf; benchmarks/verdicts.py: bv), and the prober/responder pairs
# (benchmarks/probe_scale.py, agent.py).
BENCH_NAMESPACE = re.compile(r"^(b[rsmknfv][0-9a-f]{6}-|nlmbench-)")


def bench_namespaces() -> set[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in listing.splitlines() if BENCH_NAMESPACE.match(line)}


# two runs side by side, each suite in one of them: a smoke run measures nothing worth
# keeping, and the suites' labs have names of their own. The halves take about as long
# (2026-12-02: rules 33 s, firewalld 31 s, agent 13 s and the rest 4 s; verdicts 50 s,
# mesh 27 s, accuracy 6 s).
HALVES = (("rules", "scale", "machines", "firewalld", "agent"), ("mesh", "accuracy", "verdicts"))


def test_smoke_run_fills_every_row_and_leaves_no_namespace(tmp_path):
    assert {suite for half in HALVES for suite in half} == SUITES
    before = bench_namespaces()
    runs = []
    for index, half in enumerate(HALVES):
        output = tmp_path / str(index)
        argv = [sys.executable, "-m", "benchmarks", "--smoke", "--output", str(output)]
        argv += [argument for suite in half for argument in ("--only", suite)]
        runs.append((output, subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                              text=True)))
    rows = []
    try:
        for output, process in runs:
            stdout, stderr = process.communicate(timeout=600)
            assert process.returncode == 0, stdout[-5000:] + stderr[-5000:]
            results = json.loads((output / "results.json").read_text())
            assert results["errors"] == {}
            assert len(list(output.glob("results-*.json"))) == 1
            rows += [(row, stdout) for row in results["rows"]]
    finally:
        # SIGTERM: a run takes its labs down on the way out
        for _output, process in runs:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=120)
    assert {row["suite"] for row, _stdout in rows} == SUITES
    for row, stdout in rows:
        for key in ("ours", "peer"):
            assert isinstance(row[key], float) and math.isfinite(row[key]) and row[key] >= 0, row
        # A ratio to an exact zero (an error of 0.000 ms) has no value.
        assert row["ratio"] is None if row["peer"] == 0 else math.isfinite(row["ratio"]), row
        assert row["goal"] and row["peer_name"], row
        assert row["met"] in (True, False, None), row
        assert row["benchmark"] in stdout
    assert bench_namespaces() <= before
