"""Verdicts: the role's whole on-run with verdicts against the same run without them.

A 50-node namespace lab (iptables-nft, encap) gets the rules from a first on-run (not
timed). Then `ansible-playbook site.yml` runs with `nlm_verdicts` true and false in
turn, each `repeats` times, the median of each compared:

- on the healthy lab, where every pair works and no firewall is read (what verdicts
  cost there is finding that out);
- after n1 drops every IPv4 echo request in (an iptables-nft DROP ahead of the rules'
  jump, which the role's reruns leave where it is): every node then has a pair without
  reply, so the role reads every node's firewall, n1's for the other 49 addresses.

Every run must end with no node failed, and with verdicts on the faulty run must name
n1's rule, or the benchmark stops: the time of a run that did not do its work means
nothing.
"""

from __future__ import annotations

import json
from statistics import median

from benchmarks import harness

SIZE = 50
SMOKE_SIZE = 2
GOAL = 1.5
DROP = ["iptables-nft", "-I", "INPUT", "1", "-p", "icmp", "--icmp-type", "echo-request", "-j", "DROP"]


def _site(inventory, size: int, verdicts: bool, expect: str | None = None) -> float:
    run = harness.run_timed(harness.ansible_argv(
        "ansible-playbook", inventory, str(harness.REPO / "site.yml"), "--forks", str(size),
        "-e", json.dumps({"nlm_enabled": True, "nlm_verdicts": verdicts})))
    hosts = harness.recap(run.stdout)
    if len(hosts) < size or any(counts["failed"] or counts["unreachable"] for counts in hosts.values()):
        raise RuntimeError("site.yml did not succeed on every node:\n%s" % run.stdout[-3000:])
    if expect is not None and expect not in run.stdout:
        raise RuntimeError("site.yml with verdicts did not say %r:\n%s" % (expect, run.stdout[-3000:]))
    return run.wall_seconds


def _compare(inventory, size: int, repeats: int, expect: str | None) -> dict:
    on, off = [], []
    # alternated, so that a machine that slows down during the run slows both
    for _repeat in range(repeats):
        on.append(_site(inventory, size, True, expect))
        off.append(_site(inventory, size, False))
    return {"on": median(on), "off": median(off), "runs_on": on, "runs_off": off}


def rows(repeats: int, smoke: bool) -> list[harness.Row]:
    size = SMOKE_SIZE if smoke else SIZE
    with harness.lab("bv", nodes=size, firewall="iptables-nft", mode="encap") as lab:
        harness.progress("verdicts: %d nodes, first on-run" % size)
        _site(lab.inventory_path, size, False)
        # the smoke run checks that the runs work, which the faulty lab's show: the healthy
        # comparison would only add four runs to every make test
        healthy = None if smoke else _healthy(lab, size, repeats)
        lab.run("n1", DROP)
        harness.progress("verdicts: n1 drops IPv4 echo requests in, verdicts on and off, %d times each" % repeats)
        faulty = _compare(lab.inventory_path, size, repeats, "blocked there")
    details = {"nodes": size, "repeats": repeats, "healthy": healthy, "faulty": faulty}
    goal = "<= %.1fx" % GOAL
    found = [harness.Row("verdicts: role on-run, %d nodes, every node reads its firewall" % size, faulty["on"],
                         faulty["off"], "s", "same run, verdicts off", goal, faulty["on"] <= GOAL * faulty["off"],
                         details)]
    if healthy is not None:
        found.insert(0, harness.Row("verdicts: role on-run, %d nodes, every pair ok" % size, healthy["on"],
                                    healthy["off"], "s", "same run, verdicts off", goal,
                                    healthy["on"] <= GOAL * healthy["off"], details))
    return found


def _healthy(lab, size: int, repeats: int) -> dict:
    harness.progress("verdicts: healthy lab, verdicts on and off, %d times each" % repeats)
    return _compare(lab.inventory_path, size, repeats, None)
