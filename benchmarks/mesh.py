"""Mesh: `ansible all -m nodelatency.monitor.nlm_probe` beside `ansible all -m ansible.builtin.ping` on one lab.

ansible.builtin.ping is Ansible's floor: one connection and one module per host.
Labs of 10, 50 and 100 nodes (iptables-nft, encap), with the ICMP echo rules put in
place by nlm_icmp_allow first, so that every node probes every peer's gateway
addresses, IPv4 and IPv6. Both commands run with --forks equal to the node count:
every node probes at once, as every Antrea agent does, which is what the goal's single
probe duration assumes. Each repeat runs both, in alternating order. Goal: nlm_probe's
wall time <= 1.2 x the floor + the probe's own duration (the slowest node's
duration_seconds, median over repeats).
"""

from __future__ import annotations

import json
import re
from statistics import median

from benchmarks import harness

SIZES = (10, 50, 100)
SMOKE_SIZES = (3,)
FLOOR_FACTOR = 1.2
PROBE = "nodelatency.monitor.nlm_probe"
FLOOR = "ansible.builtin.ping"
RESULT_HEADER = re.compile(r"^(\S+) \| ([A-Z]+)!? => ", re.MULTILINE)
# ansible exits 2 when some hosts failed and 4 when some were unreachable: the run's
# time still counts, and the failures are reported with it.
HOST_FAILURE_EXIT_CODES = (0, 2, 4)


def host_results(stdout: str) -> dict[str, tuple[str, dict]]:
    """{host: (status, result)} from the output of `ansible all -m ...` in the json result format."""
    decoder = json.JSONDecoder()
    return dict((header.group(1), (header.group(2), decoder.raw_decode(stdout, header.end())[0]))
                for header in RESULT_HEADER.finditer(stdout))


def measure_size(size: int, repeats: int) -> harness.Row:
    forks = str(size)
    seconds = {PROBE: [], FLOOR: []}
    durations, losses, failures = [], [], []
    harness.progress("mesh: %d nodes, %d repeats" % (size, repeats))
    with harness.lab("bm", nodes=size, firewall="iptables-nft", mode="encap") as mesh_lab:
        inventory = mesh_lab.inventory_path
        harness.run_timed(harness.ansible_argv("ansible", inventory, "all", "--forks", forks, "-m",
                                               "nodelatency.monitor.nlm_icmp_allow",
                                               "-a", json.dumps({"interfaces": ["antrea-gw0"]})))
        for repeat in range(repeats):
            for module in ((PROBE, FLOOR) if repeat % 2 == 0 else (FLOOR, PROBE)):
                run = harness.run_timed(harness.ansible_argv("ansible", inventory, "all", "--forks", forks, "-m", module),
                                        exit_codes=HOST_FAILURE_EXIT_CODES)
                seconds[module].append(run.wall_seconds)
                results = host_results(run.stdout)
                failed = dict((node.name, results.get(node.name, ("MISSING", {}))) for node in mesh_lab.nodes
                              if results.get(node.name, ("MISSING",))[0] != "SUCCESS")
                failures += ["%s %s: %s %s" % (module, host, status, str(result.get("msg", ""))[:300])
                             for host, (status, result) in failed.items()]
                if len(failed) == size:
                    raise RuntimeError("%s failed on every node: %s" % (module, failures[-1]))
                if module == PROBE:
                    facts = [result["ansible_facts"]["nlm_latency"] for status, result in results.values()
                             if status == "SUCCESS"]
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
                 "mean_loss": [sum(loss) / len(loss) for loss in losses],
                 "host_failures": failures})


def rows(repeats: int, smoke: bool) -> list[harness.Row]:
    return [measure_size(size, repeats) for size in (SMOKE_SIZES if smoke else SIZES)]
