"""Mesh: `ansible all -m nodelatency.monitor.nlm_probe` beside `ansible all -m ansible.builtin.ping` on one lab.

ansible.builtin.ping is Ansible's floor: one connection and one module per host.
Labs of 10, 50 and 100 nodes (iptables-nft, encap), with the ICMP echo rules put in
place by nlm_icmp_allow first, so that every node probes every peer's gateway
addresses, IPv4 and IPv6, and gets answers. Both commands run with --forks equal to
the node count: every node probes at once, as every Antrea agent does, which is what
the goal's single probe duration assumes. Each repeat runs both, in alternating order.
Goal: nlm_probe's wall time <= 1.2 x the floor + the probe's own duration (the slowest
node's duration_seconds, median over repeats).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from statistics import median

from benchmarks import harness

SIZES = (10, 50, 100)
SMOKE_SIZES = (3,)
FLOOR_FACTOR = 1.2
PROBE = "nodelatency.monitor.nlm_probe"
FLOOR = "ansible.builtin.ping"


def probe_facts(tree: Path) -> list[dict]:
    """Every host's nlm_latency from an `ansible --tree` directory."""
    return [json.loads(path.read_text())["ansible_facts"]["nlm_latency"] for path in sorted(tree.iterdir())]


def measure_size(size: int, repeats: int) -> harness.Row:
    forks = str(size)
    seconds = {PROBE: [], FLOOR: []}
    durations, losses = [], []
    harness.progress("mesh: %d nodes, %d repeats" % (size, repeats))
    with harness.lab("bm", nodes=size, firewall="iptables-nft", mode="encap") as mesh_lab, \
            tempfile.TemporaryDirectory(prefix="nlm-bench-mesh-") as directory:
        inventory = mesh_lab.inventory_path
        harness.run_timed(harness.ansible_argv("ansible", inventory, "all", "--forks", forks, "-m",
                                               "nodelatency.monitor.nlm_icmp_allow",
                                               "-a", json.dumps({"interfaces": ["antrea-gw0"]})))
        for repeat in range(repeats):
            for module in ((PROBE, FLOOR) if repeat % 2 == 0 else (FLOOR, PROBE)):
                # --tree for both, so that both pay for writing their results.
                tree = Path(directory) / ("%s-%d" % (module, repeat))
                run = harness.run_timed(harness.ansible_argv("ansible", inventory, "all", "--forks", forks,
                                                             "-m", module, "--tree", str(tree)))
                seconds[module].append(run.wall_seconds)
                if module == PROBE:
                    facts = probe_facts(tree)
                    if len(facts) != size:
                        raise RuntimeError("nlm_probe reported for %d of %d nodes" % (len(facts), size))
                    durations.append(max(host["duration_seconds"] for host in facts))
                    losses.append([target["loss"] for host in facts for peer in host["peers"]
                                   for target in peer["targets"]])
    ours, floor, duration = median(seconds[PROBE]), median(seconds[FLOOR]), median(durations)
    return harness.Row(
        benchmark="mesh, %d nodes: ansible all -m" % size, ours=ours, peer=floor, unit="s", peer_name=FLOOR,
        goal="<= %g x floor + probe (%.2f s)" % (FLOOR_FACTOR, duration), met=ours <= FLOOR_FACTOR * floor + duration,
        details={"nodes": size, "forks": size, "probe_seconds": seconds[PROBE], "floor_seconds": seconds[FLOOR],
                 "probe_duration_seconds": durations, "bound_seconds": FLOOR_FACTOR * floor + duration,
                 "max_loss": [max(loss) for loss in losses],
                 "mean_loss": [sum(loss) / len(loss) for loss in losses]})


def rows(repeats: int, smoke: bool) -> list[harness.Row]:
    return [measure_size(size, repeats) for size in (SMOKE_SIZES if smoke else SIZES)]
