"""Rulesets on lab nodes: load them in every flavour, save them whole, and run the
rules modules inside a node directly (without Ansible, for the tests that run them
hundreds of times).

A ruleset is a mapping of flavour file names to text:

- ``iptables-legacy.v4``, ``iptables-legacy.v6``, ``iptables-nft.v4``, ``iptables-nft.v6``:
  iptables-restore input for that flavour and family;
- ``nftables.nft``: ``nft -f`` input (native tables).

``load_dir`` reads such files from a directory (tests/rulesets/<case>/).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COLLECTIONS = REPO / ".collections"
MODULES = REPO / "plugins" / "modules"
FILES = {
    "iptables-legacy.v4": ["iptables-legacy-restore", "--noflush"],
    "iptables-legacy.v6": ["ip6tables-legacy-restore", "--noflush"],
    "iptables-nft.v4": ["iptables-nft-restore", "--noflush"],
    "iptables-nft.v6": ["ip6tables-nft-restore", "--noflush"],
    "nftables.nft": ["nft", "-f", "-"],
}
SAVES = (
    ["iptables-legacy-save"], ["ip6tables-legacy-save"], ["iptables-nft-save"], ["ip6tables-nft-save"],
    ["nft", "list", "ruleset"],
)
_COUNTERS = re.compile(r"\[\d+:\d+\]")
_NFT_COUNTERS = re.compile(r"counter packets \d+ bytes \d+")


def load_dir(directory: Path) -> dict[str, str]:
    """The ruleset files of a case directory."""
    return {name: (directory / name).read_text() for name in FILES if (directory / name).exists()}


def load(lab, node, ruleset: dict[str, str]) -> None:
    """Load ``ruleset`` into ``node``, flavour by flavour, in the order of FILES."""
    unknown = sorted(set(ruleset) - set(FILES))
    if unknown:
        raise ValueError(f"unknown ruleset files {unknown}; use {sorted(FILES)}")
    for name, argv in FILES.items():
        if name in ruleset:
            lab.run(node, argv, input=ruleset[name])


def snapshot(lab, node) -> str:
    """Every flavour's whole ruleset in ``node``, without comments and counters:
    two snapshots are equal when nothing in any flavour moved."""
    parts = []
    for argv in SAVES:
        output = lab.run(node, argv).stdout
        lines = [line for line in output.splitlines() if not line.startswith("#")]
        text = "\n".join(_NFT_COUNTERS.sub("counter", _COUNTERS.sub("[0:0]", line)) for line in lines)
        parts.append("## %s\n%s\n" % (" ".join(argv), text))
    return "".join(parts)


def run_module(lab, node, module: str, args: dict, check: bool = False, timeout: float = 120) -> dict:
    """Run a module of this collection inside ``node`` as Ansible would run it there,
    with ``args``; returns its result (``failed`` set when it failed)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check)}, handle)
        path = handle.name
    try:
        completed = lab.run(node, ["env", "PYTHONPATH=%s" % COLLECTIONS, sys.executable,
                                   str(MODULES / (module + ".py")), path], check=False, timeout=timeout)
    finally:
        os.unlink(path)
    try:
        result = json.loads(completed.stdout)
    except ValueError:
        raise RuntimeError("%s in %s printed no result (rc=%d): %s %s" % (
            module, node, completed.returncode, completed.stdout[-2000:], completed.stderr[-2000:])) from None
    result.setdefault("failed", completed.returncode != 0)
    return result


def pings(lab, node, peer, gateway: bool = True) -> dict[str, bool]:
    """Real pings between ``node`` and ``peer`` over their gateway (or transport)
    addresses: {"ipv4 from": peer pings node, "ipv4 to": node pings peer, ipv6 alike}."""
    node, peer = lab.node(node) if isinstance(node, str) else node, lab.node(peer) if isinstance(peer, str) else peer
    addresses = {
        "ipv4": (node.gateway_ipv4, peer.gateway_ipv4) if gateway else (node.transport_ipv4, peer.transport_ipv4),
        "ipv6": (node.gateway_ipv6, peer.gateway_ipv6) if gateway else (node.transport_ipv6, peer.transport_ipv6),
    }
    probes = {}
    for family, (own, other) in addresses.items():
        probes["%s from" % family] = (peer, own)
        probes["%s to" % family] = (node, other)
    processes = {}
    for key, (source, address) in probes.items():
        processes[key] = subprocess.Popen(
            ["ip", "netns", "exec", source.netns, "ping", "-n", "-q", "-c", "2", "-i", "0.2", "-W", "1", address],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {key: process.wait(timeout=30) == 0 for key, process in processes.items()}


# Which rule verdicts a ping needs, seen from the node with the ruleset: a ping from
# the peer needs the node to take the request in and send the reply out; a ping to
# the peer needs it to send the request out and take the reply in.
PING_NEEDS = {
    "from": (("in", "echo-request"), ("out", "echo-reply")),
    "to": (("out", "echo-request"), ("in", "echo-reply")),
}


def predicted(info: dict, interface: str = "antrea-gw0") -> dict[str, str]:
    """What nlm_icmp_allow_info's verdicts say each ping of ``pings`` finds:
    {key: 'pass' | 'blocked' | 'unknown'}."""
    outcome = {}
    for family in ("ipv4", "ipv6"):
        verdicts = {(rule["direction"], rule["message"]): rule["verdict"]
                    for rule in info["icmp_allow"][family]["rules"] if rule["interface"] == interface}
        for way, needs in PING_NEEDS.items():
            found = [verdicts[need] for need in needs]
            if "drop" in found:
                outcome["%s %s" % (family, way)] = "blocked"
            elif all(verdict == "accept" for verdict in found):
                outcome["%s %s" % (family, way)] = "pass"
            else:
                outcome["%s %s" % (family, way)] = "unknown"
    return outcome


def disagreements(info: dict, found: dict[str, bool], interface: str = "antrea-gw0") -> list[str]:
    """The pings whose outcome nlm_icmp_allow_info's verdicts did not foretell."""
    expected = predicted(info, interface)
    wrong = []
    for key, passed in sorted(found.items()):
        if expected[key] != ("pass" if passed else "blocked"):
            wrong.append("%s: ping %s, info says %s" % (key, "passed" if passed else "blocked", expected[key]))
    return wrong


# --- one case, run inside its node -------------------------------------------------------------

class Here:
    """Runs commands in the network namespace of this process (the node a case runs in)."""

    @staticmethod
    def run(node, argv, check=True, input=None, timeout=None):
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, argv, result.stdout, result.stderr)
        return result


def reset_here() -> None:
    """Empty every flavour of this namespace: native and iptables-nft tables go, legacy
    tables (which cannot be removed) are left empty with accept policies."""
    Here.run(None, ["nft", "flush", "ruleset"])
    for family, names, restore in (("ipv4", "/proc/net/ip_tables_names", "iptables-legacy-restore"),
                                   ("ipv6", "/proc/net/ip6_tables_names", "ip6tables-legacy-restore")):
        try:
            with open(names) as handle:
                tables = [line.strip() for line in handle if line.strip()]
        except OSError:
            continue
        text = "".join("*%s\n%sCOMMIT\n" % (table, "".join(":%s ACCEPT [0:0]\n" % chain for chain in _LEGACY_CHAINS[table]))
                       for table in tables)
        if text:
            Here.run(None, [restore], input=text)


_LEGACY_CHAINS = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"), "security": ("INPUT", "FORWARD", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"), "raw": ("PREROUTING", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
}


def pings_here(peer_netns: str, own: dict[str, str], other: dict[str, str]) -> dict[str, bool]:
    """pings() seen from inside the node: ``own`` and ``other`` map each family to the
    node's and the peer's address."""
    processes = {}
    for family in ("ipv4", "ipv6"):
        base = ["ping", "-n", "-q", "-c", "2", "-i", "0.2", "-W", "1"]
        processes["%s from" % family] = subprocess.Popen(
            ["ip", "netns", "exec", peer_netns, *base, own[family]], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        processes["%s to" % family] = subprocess.Popen([*base, other[family]], stdout=subprocess.DEVNULL,
                                                       stderr=subprocess.DEVNULL)
    return {key: process.wait(timeout=30) == 0 for key, process in processes.items()}


def case_here(case: dict) -> dict:
    """One differential case inside this node: the ruleset loaded on an empty firewall,
    pings and nlm_icmp_allow_info's logic before, nlm_icmp_allow present, pings and
    info after, absent, and the whole ruleset before and after."""
    sys.path.insert(0, str(COLLECTIONS))
    from ansible_collections.nodelatency.monitor.plugins.module_utils import _icmp_allow
    from ansible_collections.nodelatency.monitor.plugins.module_utils._agent_rules import StandaloneModule

    def module(kind, **params):
        spec = _icmp_allow.ALLOW_ARGUMENT_SPEC if kind is _icmp_allow.IcmpAllow else _icmp_allow.COMMON_ARGUMENT_SPEC
        fake = StandaloneModule(spec, dict(params, interfaces=["antrea-gw0"]))
        try:
            return kind(fake).run()
        except _icmp_allow.NlmError as error:
            return {"failed": True, "msg": error.message, "stderr": error.stderr}

    reset_here()
    load(Here, None, case["ruleset"])
    seen = {"snapshot before": snapshot(Here, None)}
    seen["pings before"] = pings_here(case["peer_netns"], case["own"], case["other"])
    seen["info before"] = module(_icmp_allow.IcmpAllowInfo)
    seen["present"] = module(_icmp_allow.IcmpAllow, persist=False)
    seen["pings present"] = pings_here(case["peer_netns"], case["own"], case["other"])
    seen["info present"] = module(_icmp_allow.IcmpAllowInfo)
    seen["absent"] = module(_icmp_allow.IcmpAllow, state="absent", persist=False)
    seen["snapshot absent"] = snapshot(Here, None)
    return seen


if __name__ == "__main__":
    if sys.argv[1:] != ["case"]:
        sys.exit("usage: nlmrules.py case < case.json (inside a lab node)")
    json.dump(case_here(json.load(sys.stdin)), sys.stdout)
