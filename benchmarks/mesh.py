"""Mesh: `ansible all -m nodelatency.monitor.nlm_probe` beside `ansible all -m ansible.builtin.ping` on one lab.

ansible.builtin.ping is Ansible's floor: one connection and one module per host.
Labs of 10, 50, 100 and 240 nodes (iptables-nft, encap), with the ICMP echo rules put
in place by nlm_icmp_allow first, so that every node probes every peer's gateway
addresses, IPv4 and IPv6, without arguments: nlm_probe's default, compact result (the
statistics of each target, no RTT per request, no time stamps). Both commands run with
--forks equal to the node count: every node probes at once, as every Antrea agent does,
which is what the goal's single probe duration assumes. Each repeat runs both, in
alternating order. Goal: nlm_probe's wall time <= 1.2 x the floor + the probe's own
duration (the slowest node's duration_seconds, median over repeats); at 240 nodes the
rows inform, beside ping, with no goal. NLM_BENCH_MESH_SIZES (for example ``240`` or
``10,50``) measures only those sizes: the whole suite takes over an hour.

A third module, benchmarks/modules/nlm_bench_echo_facts.py, returns an nlm_probe result
of this lab (read from a file) and does nothing else: the floor for a module whose
result has that size. Every host returns the statistics of each of every peer's
addresses, so the result grows with the node count, and Ansible's controller handles
each value in its one main process (result queue, callbacks, fact cache, and every
later read of the peer's variables).
Its row shows what carrying the result costs beside ansible.builtin.ping; the second
goal row holds nlm_probe to the issue's allowance over that floor: nlm_probe <= the echo
+ 0.2 x ping + the probe's own duration, so that what is nlm_probe's own (peer
resolution, its imports, the probing) gets the same margin the issue grants over ping.

The probe and ping also run as a one-task playbook (information, no goal of its own):
ansible-playbook's default callback does not print a task's facts, while `ansible -m`
prints every host's whole result, which for nlm_probe grows with the node count.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from statistics import median

import yaml

from benchmarks import harness

SIZES = (10, 50, 100, 240)
# Sizes whose rows inform, beside ping, without a goal.
INFORMATION_SIZES = (240,)
SMOKE_SIZES = (3,)
FLOOR_FACTOR = 1.2
PROBE = "nodelatency.monitor.nlm_probe"
FLOOR = "ansible.builtin.ping"
ECHO = "nlm_bench_echo_facts"
ECHO_MODULE_PATH = Path(__file__).resolve().parent / "modules"
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


def rotated(items: tuple, repeat: int) -> tuple:
    """items, started at a different one each repeat, so that no module always runs on a machine the last one warmed."""
    shift = repeat % len(items)
    return items[shift:] + items[:shift]


def measure_size(size: int, repeats: int, books: dict[str, Path], directory: Path) -> list[harness.Row]:
    forks = str(size)
    echo_facts = directory / ("nlm_latency-%d.json" % size)
    adhoc_argv = {PROBE: ["-m", PROBE], FLOOR: ["-m", FLOOR],
                  ECHO: ["-M", str(ECHO_MODULE_PATH), "-m", ECHO, "-a", json.dumps({"path": str(echo_facts)})]}
    seconds = {PROBE: [], FLOOR: [], ECHO: []}
    playbook_seconds = {PROBE: [], FLOOR: []}
    durations, losses, failures, result_bytes = [], [], [], []
    harness.progress("mesh: %d nodes, %d repeats" % (size, repeats))
    with harness.lab("bm", nodes=size, firewall="iptables-nft", mode="encap") as mesh_lab:
        inventory = mesh_lab.inventory_path
        harness.run_timed(harness.ansible_argv("ansible", inventory, "all", "--forks", forks, "-m",
                                               "nodelatency.monitor.nlm_icmp_allow",
                                               "-a", json.dumps({"interfaces": ["antrea-gw0"]})))
        for repeat in range(repeats):
            # The probe runs first in the first repeat: its result is what the echo returns.
            for module in rotated((PROBE, ECHO, FLOOR), repeat):
                run = harness.run_timed(harness.ansible_argv("ansible", inventory, "all", "--forks", forks,
                                                             *adhoc_argv[module]),
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
                    # what the hosts' results weigh as JSON, in all: what the controller carries
                    result_bytes.append(sum(len(json.dumps(host)) for host in facts))
                    losses.append([target["loss"] for host in facts for peer in host["peers"]
                                   for target in peer["targets"]])
                    if not echo_facts.exists():
                        echo_facts.write_text(json.dumps({"nlm_latency": max(facts, key=lambda host: len(host["peers"]))}))
                if module == ECHO:
                    continue
                run = harness.run_timed(harness.ansible_argv("ansible-playbook", inventory, "--forks", forks,
                                                             str(books[module])),
                                        exit_codes=HOST_FAILURE_EXIT_CODES)
                playbook_seconds[module].append(run.wall_seconds)
                failures += ["%s playbook %s: %s" % (module, host, counts)
                             for host, counts in harness.recap(run.stdout).items()
                             if counts["failed"] or counts["unreachable"]]
    ours, floor, echo, duration = median(seconds[PROBE]), median(seconds[FLOOR]), median(seconds[ECHO]), median(durations)
    book_ours, book_floor = median(playbook_seconds[PROBE]), median(playbook_seconds[FLOOR])
    bound = FLOOR_FACTOR * floor + duration
    echo_bound = echo + (FLOOR_FACTOR - 1) * floor + duration
    information = size in INFORMATION_SIZES
    adhoc = harness.Row(
        benchmark="mesh, %d nodes: ansible all -m" % size, ours=ours, peer=floor, unit="s", peer_name=FLOOR,
        goal=("(information: %g x floor + probe = %.2f s)" % (FLOOR_FACTOR, bound) if information
              else "<= %g x floor + probe (%.2f s)" % (FLOOR_FACTOR, duration)),
        met=None if information else ours <= bound,
        details={"nodes": size, "forks": size, "probe_seconds": seconds[PROBE], "floor_seconds": seconds[FLOOR],
                 "probe_duration_seconds": durations, "bound_seconds": bound,
                 "probe_result_bytes": result_bytes,
                 "max_loss": [max(loss) for loss in losses],
                 "mean_loss": [sum(loss) / len(loss) for loss in losses],
                 "host_failures": failures})
    carried = harness.Row(
        benchmark="mesh, %d nodes: same facts, no probing" % size, ours=echo, peer=floor, unit="s", peer_name=FLOOR,
        goal="(information: %s)" % ECHO, met=None,
        details={"nodes": size, "forks": size, "echo_seconds": seconds[ECHO], "floor_seconds": seconds[FLOOR],
                 "echo_result_bytes": echo_facts.stat().st_size})
    beside_echo = harness.Row(
        benchmark="mesh, %d nodes: ansible all -m, beside the echo" % size, ours=ours, peer=echo, unit="s",
        peer_name="same facts, no probing", met=None if information else ours <= echo_bound,
        goal=("(information: echo + %g x floor + probe = %.2f s)" if information
              else "<= echo + %g x floor + probe (%.2f s)") % (FLOOR_FACTOR - 1, echo_bound),
        details={"nodes": size, "probe_seconds": seconds[PROBE], "echo_seconds": seconds[ECHO],
                 "floor_seconds": seconds[FLOOR], "probe_duration_seconds": durations, "bound_seconds": echo_bound})
    playbook = harness.Row(
        benchmark="mesh, %d nodes: ansible-playbook, one task" % size, ours=book_ours, peer=book_floor, unit="s",
        peer_name=FLOOR, goal="(information: %g x floor + probe = %.2f s)"
        % (FLOOR_FACTOR, FLOOR_FACTOR * book_floor + duration), met=None,
        details={"nodes": size, "forks": size, "probe_seconds": playbook_seconds[PROBE],
                 "floor_seconds": playbook_seconds[FLOOR]})
    return [adhoc, carried, beside_echo, playbook]


def rows(repeats: int, smoke: bool):
    """The rows of every size, each size's as soon as it is measured: the whole suite takes
    over an hour, and an interrupted run keeps the sizes it finished."""
    with tempfile.TemporaryDirectory(prefix="nlm-bench-mesh-") as directory:
        books = playbooks(Path(directory))
        chosen = tuple(int(size) for size in os.environ.get("NLM_BENCH_MESH_SIZES", "").split(",") if size.strip())
        for size in SMOKE_SIZES if smoke else chosen or SIZES:
            yield from measure_size(size, repeats, books, Path(directory))
