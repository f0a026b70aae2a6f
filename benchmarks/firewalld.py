"""firewalld: nlm_icmp_allow beside ansible.posix.firewalld on firewalld machines.

A lab of firewalld machines (FIREWALL=firewalld, KIND=machines, hardened to drop ICMP
echo both ways) is brought up; on it, one play at a time over SSH as the operator with
sudo:

- ours: one task, ``nodelatency.monitor.nlm_icmp_allow`` for ``antrea-gw0`` (both
  families, both roles: echo in and out), permanent and runtime;
- the peer: what ``ansible.posix.firewalld`` can express of the same, its nearest: it
  has no policies, so it cannot open echo on the way out at all; it opens it on the way
  in with rich rules in the interface's zone, restricted to the gateway's addresses, at
  the priority that puts them before the zone's drops (one rule per message and family,
  four, permanent and immediate, in one looped task).

Each is timed as its task (the JSON callback's start and end, the slowest host), on its
first run (everything to add) and on a rerun (nothing left to change), the median over
the repeats; after each repeat the same module takes its rules out again. Every run
must end with every host ok, the first run changed and the rerun not, or the benchmark
stops. ansible.posix comes from the ``ansible`` package on PyPI (Galaxy is not reachable
here), unpacked once into .cache/bench/collections.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from statistics import median

from benchmarks import harness

SIZE = 3
SMOKE_SIZE = 1
PEER = "ansible.posix.firewalld"
ANSIBLE_PACKAGE = "ansible>=12,<13"
COLLECTIONS = harness.REPO / ".cache" / "bench" / "collections"
POSIX = COLLECTIONS / "ansible_collections" / "ansible" / "posix"
PRIORITY = -32768


def posix_collection() -> Path:
    """The ansible.posix collection, unpacked from the ansible package's wheel once."""
    if (POSIX / "MANIFEST.json").exists():
        return COLLECTIONS
    with tempfile.TemporaryDirectory() as download:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                        "--only-binary", ":all:", ANSIBLE_PACKAGE, "-d", download], check=True)
        wheel = next(Path(download).glob("ansible-*.whl"))
        prefix = "ansible_collections/ansible/posix/"
        staging = COLLECTIONS.parent / ("collections.%d" % os.getpid())
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(staging, [name for name in archive.namelist() if name.startswith(prefix)])
        if not (POSIX / "MANIFEST.json").exists():
            COLLECTIONS.mkdir(parents=True, exist_ok=True)
            (COLLECTIONS / "ansible_collections").mkdir(exist_ok=True)
            (COLLECTIONS / "ansible_collections" / "ansible").mkdir(exist_ok=True)
            os.replace(staging / prefix, POSIX)
        subprocess.run(["rm", "-rf", str(staging)], check=True)
    return COLLECTIONS


def _peer_rules(node) -> list[str]:
    return ['rule priority="%d" family="%s" destination address="%s" icmp-type name="%s" accept'
            % (PRIORITY, family, address, message)
            for family, address in (("ipv4", node.gateway_ipv4), ("ipv6", node.gateway_ipv6))
            for message in ("echo-request", "echo-reply")]


def _playbook(directory: Path, name: str, task: dict, variables=None) -> Path:
    path = directory / ("%s.yml" % name)
    path.write_text(json.dumps([{"name": name, "hosts": "all", "become": True, "gather_facts": False,
                                 "vars": variables or {}, "tasks": [dict(task, name=name)]}]))
    return path


def _task(inventory, playbook: Path, size: int, changed: bool) -> float:
    """Seconds the play's one task took on its slowest host; its outcome checked."""
    # ansible.posix's json callback: ansible-core has none
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_COLLECTIONS_PATH="%s:%s" % (harness.REPO / ".collections", COLLECTIONS))
    run = subprocess.run(harness.ansible_argv("ansible-playbook", inventory, str(playbook), "--forks", str(size)),
                         env=env, capture_output=True, text=True, timeout=harness.ANSIBLE_TIMEOUT, check=False)
    if run.returncode != 0:
        raise RuntimeError("%s failed:\n%s\n%s" % (playbook.name, run.stdout[-3000:], run.stderr[-2000:]))
    task = json.loads(run.stdout)["plays"][0]["tasks"][0]
    outcomes = {host: bool(result.get("changed")) for host, result in task["hosts"].items()}
    if len(outcomes) != size or set(outcomes.values()) != {changed}:
        raise RuntimeError("%s: expected every host %s, got %s" % (playbook.name, "changed" if changed else "unchanged",
                                                                   outcomes))
    # from the task's start to its last host's result
    start, end = (datetime.datetime.fromisoformat(task["task"]["duration"][key].rstrip("Z")) for key in ("start", "end"))
    return (end - start).total_seconds()


def _measure(size: int, repeats: int) -> dict:
    posix_collection()
    harness.progress("firewalld: %d machines up, nlm_icmp_allow and %s %d times each, down" % (size, PEER, repeats))
    figures = {"ours": {"first": [], "again": []}, "peer": {"first": [], "again": []}}
    with harness.lab("bf", nodes=size, kind="machines", firewall="firewalld") as lab, \
            tempfile.TemporaryDirectory() as directory:
        directory = Path(directory)
        rules = {node.name: _peer_rules(node) for node in lab.nodes}
        plays = {
            "ours": _playbook(directory, "ours", {"nodelatency.monitor.nlm_icmp_allow": {"interfaces": ["antrea-gw0"]}}),
            "ours_undo": _playbook(directory, "ours_undo", {"nodelatency.monitor.nlm_icmp_allow": {
                "interfaces": ["antrea-gw0"], "state": "absent"}}),
        }
        for name, state in (("peer", "enabled"), ("peer_undo", "disabled")):
            plays[name] = _playbook(directory, name, {
                "ansible.posix.firewalld": {"zone": "public", "rich_rule": "{{ item }}", "permanent": True,
                                            "immediate": True, "state": state},
                "loop": "{{ peer_rules[inventory_hostname] }}"}, {"peer_rules": rules})
        for _repeat in range(repeats):
            for side in ("ours", "peer"):
                figures[side]["first"].append(_task(lab.inventory_path, plays[side], size, changed=True))
                figures[side]["again"].append(_task(lab.inventory_path, plays[side], size, changed=False))
                _task(lab.inventory_path, plays[side + "_undo"], size, changed=True)
    return {side: {run: median(values) for run, values in runs.items()} for side, runs in figures.items()}


def rows(repeats: int, smoke: bool) -> list[harness.Row]:
    size = SMOKE_SIZE if smoke else SIZE
    figures = _measure(size, repeats)
    details = {"machines": size, "repeats": repeats, "figures": figures,
               "peer_opens": "echo in only (rich rules in zone public); it has no policies for echo out"}
    found = []
    for run, label in (("first", "first run (all to add)"), ("again", "rerun (nothing to change)")):
        ours, peer = figures["ours"][run], figures["peer"][run]
        found.append(harness.Row("firewalld: %s, %d machines" % (label, size), ours, peer, "s", PEER, "<= 0.5x",
                                 ours <= 0.5 * peer, details))
    return found
