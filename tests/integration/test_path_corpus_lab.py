"""The path model against the kernel, on a corpus of rulesets shaped like real nodes.

Each directory of tests/rulesets is loaded into a node of one lab (firewall none,
encap), in whatever flavours it holds: iptables-legacy, iptables-nft, native nftables.
n1 stays clean and is every case's peer. For each case, real pings between the case
node and n1 over antrea-gw0, IPv4 and IPv6, both ways, are checked against what
nlm_icmp_allow_info's verdicts foretell, before nlm_icmp_allow present, after it and
after absent; present must open every ping and leave every foreign rule as it was, a
second present must change nothing, and absent must restore every flavour's ruleset
byte for byte. The cases run side by side, one node each.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import nlmrules

pytestmark = pytest.mark.lab

CASES_DIR = Path(__file__).resolve().parent.parent / "rulesets"
CASES = sorted(path.name for path in CASES_DIR.iterdir() if path.is_dir())
TAG = "nodelatency.monitor"
INFO = {"interfaces": ["antrea-gw0"]}
ARGS = dict(INFO, persist=False)
PEER = "n1"


def without_owned(snapshot):
    """A snapshot without the owned rules and chains (lines with the tag or an owned
    chain's name, and the blocks of owned chains as nft prints iptables-nft's tables)
    and without blank lines, which nft prints between chains."""
    kept, closing = [], None
    for line in snapshot.splitlines():
        if closing is not None:
            if line == closing:
                closing = None
            continue
        block = re.match(r"^(\s*)chain NLM-\S+ \{$", line)
        if block:
            closing = block.group(1) + "}"
            continue
        if TAG in line or "NLM-" in line or not line.strip():
            continue
        kept.append(line)
    return "\n".join(kept)


def run_case(lab, node, ruleset):
    """Everything one case does, in its own node; returns what it saw."""
    seen = {}
    nlmrules.load(lab, node, ruleset)
    seen["snapshot before"] = nlmrules.snapshot(lab, node)
    seen["pings before"] = nlmrules.pings(lab, node, PEER)
    seen["info before"] = nlmrules.run_module(lab, node, "nlm_icmp_allow_info", INFO)
    seen["present"] = nlmrules.run_module(lab, node, "nlm_icmp_allow", ARGS)
    seen["snapshot present"] = nlmrules.snapshot(lab, node)
    seen["pings present"] = nlmrules.pings(lab, node, PEER)
    seen["info present"] = nlmrules.run_module(lab, node, "nlm_icmp_allow_info", INFO)
    seen["present again"] = nlmrules.run_module(lab, node, "nlm_icmp_allow", ARGS)
    seen["absent"] = nlmrules.run_module(lab, node, "nlm_icmp_allow", dict(ARGS, state="absent"))
    seen["snapshot absent"] = nlmrules.snapshot(lab, node)
    seen["pings absent"] = nlmrules.pings(lab, node, PEER)
    seen["info absent"] = nlmrules.run_module(lab, node, "nlm_icmp_allow_info", INFO)
    return seen


@pytest.fixture(scope="module")
def outcomes(module_lab_factory):
    lab = module_lab_factory(nodes=len(CASES) + 1, firewall="none", mode="encap")
    nodes = {case: "n%d" % (index + 2) for index, case in enumerate(CASES)}
    with ThreadPoolExecutor(max_workers=len(CASES)) as pool:
        futures = {case: pool.submit(run_case, lab, nodes[case], nlmrules.load_dir(CASES_DIR / case))
                   for case in CASES}
        return {case: future.result() for case, future in futures.items()}


def test_the_corpus_has_the_shapes_the_path_model_must_handle():
    assert len(CASES) >= 12
    flavours = {name for case in CASES for name in nlmrules.load_dir(CASES_DIR / case)}
    assert flavours == set(nlmrules.FILES)


@pytest.mark.parametrize("case", CASES)
def test_case(outcomes, case):
    seen = outcomes[case]
    failed = {step: result.get("msg") for step, result in seen.items()
              if isinstance(result, dict) and result.get("failed")}
    assert not failed, failed
    assert not all(seen["pings before"].values()), "the case must block some echo before present"
    for step in ("before", "present", "absent"):
        info = seen["info %s" % step]
        assert nlmrules.disagreements(info, seen["pings %s" % step]) == [], (step, info["icmp_allow"])
    assert all(seen["pings present"].values()), seen["pings present"]
    assert seen["info present"]["icmp_allow"]["all_effective"]
    assert seen["info present"]["icmp_allow"]["all_present"]
    assert seen["present"]["changed"]
    assert without_owned(seen["snapshot present"]) == without_owned(seen["snapshot before"])
    assert not seen["present again"]["changed"], seen["present again"]["rules"]
    assert seen["absent"]["changed"]
    assert seen["snapshot absent"] == seen["snapshot before"]
    assert seen["pings absent"] == seen["pings before"]
    assert not seen["info absent"]["icmp_allow"]["all_effective"]


def test_a_ruleset_that_filters_only_ipv4_gets_no_ipv6_table(outcomes):
    seen = outcomes["ipv4-only"]
    for step in ("snapshot before", "snapshot present"):
        sections = dict(re.findall(r"## (\S+(?: \S+)?)\n(.*?)(?=\n## |\Z)", seen[step], re.S))
        assert not sections["ip6tables-nft-save"].strip(), sections["ip6tables-nft-save"]
        assert "table ip6" not in seen[step]
    assert "ipv6" in seen["present"]["rules"]
    assert seen["present"]["rules"]["ipv6"]["added"] == []


def test_the_drop_is_named_by_flavour_table_chain_and_rule(outcomes):
    info = outcomes["raw-mangle-security"]["info before"]["icmp_allow"]
    request_in = next(rule for rule in info["ipv4"]["rules"]
                      if (rule["direction"], rule["message"]) == ("in", "echo-request"))
    assert request_in["verdict"] == "drop"
    assert request_in["dropped_by"] == {
        "flavour": "iptables-legacy", "table": "ip raw", "chain": "PREROUTING", "hook": "prerouting",
        "priority": -300, "position": 1, "handle": None,
        "rule": "-A PREROUTING -i antrea-gw0 -p icmp -m icmp --icmp-type 8 -j DROP"}
    native = outcomes["native-tables-priorities"]["info before"]["icmp_allow"]
    reply_in = next(rule for rule in native["ipv6"]["rules"]
                    if (rule["direction"], rule["message"]) == ("in", "echo-reply"))
    assert reply_in["dropped_by"]["table"] == "ip6 early"
    assert reply_in["dropped_by"]["rule"] == 'iifname "antrea-gw0" icmpv6 type echo-reply drop'
