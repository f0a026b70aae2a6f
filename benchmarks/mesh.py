"""Mesh: `ansible all -m nodelatency.monitor.nlm_probe` beside `ansible all -m ansible.builtin.ping` on one lab.

ansible.builtin.ping is Ansible's floor: one connection and one module per host.
Labs of 10, 50 and 100 nodes (iptables-nft, encap), with the ICMP echo rules put in
place by nlm_icmp_allow first, so that every node probes every peer's gateway
addresses, IPv4 and IPv6. Both commands run with --forks equal to the node count:
every node probes at once, as every Antrea agent does, which is what the goal's single
probe duration assumes. Each repeat runs both, in alternating order. Goal: nlm_probe's
wall time <= 1.2 x the floor + the probe's own duration (the slowest node's
duration_seconds, median over repeats).

The same two modules also run as a one-task playbook (information, no goal of its own):
ansible-playbook's default callback does not print a task's facts, while `ansible -m`
prints every host's whole result, which for nlm_probe grows with the node count.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from statistics import median

import yaml

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


def playbooks(directory: Path) -> dict[str, Path]:
    """{module: path of a play running it once on every host, without gathering facts}."""
    paths = {}
    for module in (PROBE, FLOOR):
        play = [{"name": "Mesh with %s" % module, "hosts": "all", "gather_facts": False,
                 "tasks": [{"name": "Run %s" % module, module: {}}]}]
        paths[module] = directory / ("%s.yml" % module.replace(".", "_"))
        paths[module].write_text("---\n" + yaml.safe_dump(play, sort_keys=False))
    return paths


def measure_size(size: int, repeats: int, books: dict[str, Path]) -> list[harness.Row]:
    forks = str(size)
    seconds = {PROBE: [], FLOOR: []}
    playbook_seconds = {PROBE: [], FLOOR: []}
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
                run = harness.run_timed(harness.ansible_argv("ansible-playbook", inventory, "--forks", forks,
                                                             str(books[module])),
                                        exit_codes=HOST_FAILURE_EXIT_CODES)
                playbook_seconds[module].append(run.wall_seconds)
                failures += ["%s playbook %s: %s" % (module, host, counts)
                             for host, counts in harness.recap(run.stdout).items()
                             if counts["failed"] or counts["unreachable"]]
    ours, floor, duration = median(seconds[PROBE]), median(seconds[FLOOR]), median(durations)
    book_ours, book_floor = median(playbook_seconds[PROBE]), median(playbook_seconds[FLOOR])
    adhoc = harness.Row(
        benchmark="mesh, %d nodes: ansible all -m" % size, ours=ours, peer=floor, unit="s", peer_name=FLOOR,
        goal="<= %g x floor + probe (%.2f s)" % (FLOOR_FACTOR, duration), met=ours <= FLOOR_FACTOR * floor + duration,
        details={"nodes": size, "forks": size, "probe_seconds": seconds[PROBE], "floor_seconds": seconds[FLOOR],
                 "probe_duration_seconds": durations, "bound_seconds": FLOOR_FACTOR * floor + duration,
                 "max_loss": [max(loss) for loss in losses],
                 "mean_loss": [sum(loss) / len(loss) for loss in losses],
                 "host_failures": failures})
    playbook = harness.Row(
        benchmark="mesh, %d nodes: ansible-playbook, one task" % size, ours=book_ours, peer=book_floor, unit="s",
        peer_name=FLOOR, goal="(information: %g x floor + probe = %.2f s)"
        % (FLOOR_FACTOR, FLOOR_FACTOR * book_floor + duration), met=None,
        details={"nodes": size, "forks": size, "probe_seconds": playbook_seconds[PROBE],
                 "floor_seconds": playbook_seconds[FLOOR]})
    return [adhoc, playbook]


def rows(repeats: int, smoke: bool) -> list[harness.Row]:
    with tempfile.TemporaryDirectory(prefix="nlm-bench-mesh-") as directory:
        books = playbooks(Path(directory))
        return [row for size in (SMOKE_SIZES if smoke else SIZES) for row in measure_size(size, repeats, books)]
