"""Machines: booted machines reached over SSH beside namespace nodes (information, no goal).

A lab of 10 machines (KIND=machines, image and wheels cached) is brought up and taken
down beside a 10-node namespace lab; then the role's on-run (`ansible-playbook site.yml
-e nlm_enabled=true`, probe included) runs on each: over SSH as the operator with sudo,
against the netns connection as root. The first on-run on a machine also makes the
role's virtual environment from the lab's wheel directory (a namespace node uses the
controller's Python), so it has a row of its own; the repeated on-runs (nothing left to
change) follow, the median over repeats. Every run must end with every node ok and no
failure, or the benchmark stops: the time of a run that did not work means nothing.
"""

from __future__ import annotations

import json
import time
from statistics import median

from benchmarks import harness

SIZE = 10
SMOKE_SIZE = 1
PEER = "netns lab"


def _site(inventory, size: int) -> float:
    run = harness.run_timed(harness.ansible_argv(
        "ansible-playbook", inventory, str(harness.REPO / "site.yml"), "--forks", str(size),
        "-e", json.dumps({"nlm_enabled": True, "nlm_report_table": False, "nlm_probe_count": 1})))
    hosts = harness.recap(run.stdout)
    if len(hosts) < size or any(counts["failed"] or counts["unreachable"] for counts in hosts.values()):
        raise RuntimeError("site.yml did not succeed on every node:\n%s" % run.stdout[-3000:])
    return run.wall_seconds


def _measure(kind: str, size: int, repeats: int, role: bool) -> dict:
    runs = "the role's on-run %d + 1 times" % repeats if role else "no role run"
    harness.progress("%s: %d nodes up, %s, down" % (kind, size, runs))
    started = time.monotonic()
    with harness.lab("bk" if kind == "machines" else "bn", nodes=size, kind=kind) as lab:
        figures = {"up": lab.up_seconds}
        if role:
            figures["first"] = _site(lab.inventory_path, size)
            figures["again"] = median(_site(lab.inventory_path, size) for _repeat in range(repeats))
    figures["down"] = lab.down_seconds
    figures["total"] = time.monotonic() - started
    return figures


def rows(repeats: int, smoke: bool) -> list[harness.Row]:
    size = SMOKE_SIZE if smoke else SIZE
    # the smoke run leaves the role's runs out: the Molecule scenarios and the agent's
    # tests run the role on machines in every make test, and they are most of its minute
    netns = _measure("netns", size, repeats, role=not smoke)
    machines = _measure("machines", size, repeats, role=not smoke)
    details = {"nodes": size, "repeats": repeats, "netns": netns, "machines": machines}
    found = [
        harness.Row("machines: %d up (image cached)" % size, machines["up"], netns["up"], "s", PEER, "information",
                    None, details),
        harness.Row("machines: %d down" % size, machines["down"], netns["down"], "s", PEER, "information", None,
                    details),
    ]
    if smoke:
        return found
    return found + [
        harness.Row("machines: role on-run, %d nodes, first (venv from wheels)" % size, machines["first"],
                    netns["first"], "s", PEER, "information", None, details),
        harness.Row("machines: role on-run, %d nodes, again" % size, machines["again"], netns["again"], "s", PEER,
                    "information", None, details),
    ]
