"""nlm_icmp_allow and nlm_icmp_allow_info on native nftables: real nft, real ICMP.

One 3-node FIREWALL=nftables lab (every node a native ``inet filter`` table with
drop policies). n1 and n2 are native only; n3 also gets an iptables-nft filter table
that drops ICMP echo, so an accept in one of them alone is not enough; n2 later gets
an ICMP reject closing its chains, which placement append must go in front of. Pings go
between the nodes' antrea-gw0 addresses, IPv4 and IPv6, both ways. The firewalld
refusal is shown with a process named firewalld in one node's network namespace,
which is what the modules look for.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

import nlmlab
# fixtures, used by name
from test_nlm_icmp_allow_lab import ansible, json_results, playbook  # pylint: disable=unused-import
from test_nlm_icmp_allow_lab import both_ways, hosts_changed, pings

pytestmark = pytest.mark.lab

TAG = "nodelatency.monitor"
ALLOW = {"interfaces": ["antrea-gw0"]}
INFO = {"interfaces": ["antrea-gw0"]}


@pytest.fixture(scope="module")
def lab(module_lab_factory):
    return module_lab_factory(nodes=3, firewall="nftables")


@pytest.fixture(scope="module")
def inventory(lab, tmp_path_factory):
    """The lab's inventory (the shared ansible/playbook fixtures ask for one by this name)."""
    path = tmp_path_factory.mktemp("inventory") / "inventory.yml"
    path.write_text(yaml.safe_dump(yaml.safe_load(lab.inventory_path.read_text()), sort_keys=False))
    return path


def ruleset(lab, node):
    """``nft list ruleset`` of a node: every table, native and iptables-nft's, without
    counter values (``-s``), which iptables-nft rules carry."""
    return lab.run(node, ["nft", "-s", "list", "ruleset"]).stdout


def without_owned(text):
    return "".join(line + "\n" for line in text.splitlines() if 'comment "%s"' % TAG not in line)


def owned(text):
    return [line.strip() for line in text.splitlines() if 'comment "%s"' % TAG in line]


def test_present_and_absent_on_native_nftables(lab, ansible, playbook):
    nodes = ["n1", "n2"]
    pair = [("n1", "n2")]
    original = {node: ruleset(lab, node) for node in nodes}
    assert not any(pings(lab, both_ways(pair)).values())

    info, check = playbook("n1:n2", [
        ("nlm_icmp_allow_info", INFO),
        ("nlm_icmp_allow", ALLOW, {"check_mode": True, "diff": True}),
    ])
    for node in nodes:
        report = info[node]["icmp_allow"]
        assert report["backend"] == "nftables"
        assert report["all_present"] is False and report["all_effective"] is False
        assert {(rule["dropped_by"]["flavour"], rule["dropped_by"]["table"], rule["dropped_by"]["chain"],
                 rule["dropped_by"]["rule"]) for family in ("ipv4", "ipv6") for rule in report[family]["rules"]} == {
            ("nftables", "inet filter", "input", "policy drop"), ("nftables", "inet filter", "output", "policy drop")}
        assert {rule["shadowed_by"] for family in ("ipv4", "ipv6") for rule in report[family]["rules"]} == {
            "nftables inet filter input: policy drop", "nftables inet filter output: policy drop"}
    assert hosts_changed(check, nodes) == dict.fromkeys(nodes, True)
    assert {node: ruleset(lab, node) for node in nodes} == original

    applied = ansible("n1:n2", "nlm_icmp_allow", ALLOW)
    assert hosts_changed(applied, nodes) == dict.fromkeys(nodes, True)
    assert applied["n1"]["backend"] == "nftables"
    assert all(pings(lab, both_ways(pair)).values())
    for node in nodes:
        now = ruleset(lab, node)
        # everything else byte for byte as before; our eight rules, once each
        assert without_owned(now) == original[node]
        assert len(owned(now)) == 8 and len(set(owned(now))) == 8
        for family in ("ipv4", "ipv6"):
            assert applied[node]["rules"][family]["present"] == check[node]["rules"][family]["present"]

    again, check_again, info = playbook("n1:n2", [
        ("nlm_icmp_allow", ALLOW),
        ("nlm_icmp_allow", ALLOW, {"check_mode": True}),
        ("nlm_icmp_allow_info", INFO),
    ])
    assert hosts_changed(again, nodes) == dict.fromkeys(nodes, False)
    assert hosts_changed(check_again, nodes) == dict.fromkeys(nodes, False)
    for node in nodes:
        report = info[node]["icmp_allow"]
        assert report["all_present"] is True and report["all_effective"] is True
        assert [rule["chain"] for rule in report["ipv4"]["rules"]] == ["inet filter input"] * 2 + [
            "inet filter output"] * 2

    removed, removed_again = playbook("n1:n2", [
        ("nlm_icmp_allow", dict(ALLOW, state="absent")),
        ("nlm_icmp_allow", dict(ALLOW, state="absent")),
    ])
    assert hosts_changed(removed, nodes) == dict.fromkeys(nodes, True)
    assert hosts_changed(removed_again, nodes) == dict.fromkeys(nodes, False)
    assert not any(pings(lab, both_ways(pair)).values())
    assert {node: ruleset(lab, node) for node in nodes} == original


def test_a_tag_of_128_characters_the_most_nft_keeps(lab, playbook):
    tag = "nlm-" + "x" * 124
    nodes = ["n1", "n2"]
    pair = [("n1", "n2")]
    original = {node: ruleset(lab, node) for node in nodes}
    (applied,) = playbook("n1:n2", [("nlm_icmp_allow", dict(ALLOW, comment=tag))])
    assert hosts_changed(applied, nodes) == dict.fromkeys(nodes, True)
    assert all(pings(lab, both_ways(pair)).values())
    for node in nodes:
        assert sum('comment "%s"' % tag in line for line in ruleset(lab, node).splitlines()) == 8
    (removed,) = playbook("n1:n2", [("nlm_icmp_allow", dict(ALLOW, comment=tag, state="absent"))])
    assert hosts_changed(removed, nodes) == dict.fromkeys(nodes, True)
    assert {node: ruleset(lab, node) for node in nodes} == original


def iptables_dropping_echo(family):
    """An iptables-nft filter table like the lab's FIREWALL=iptables-nft one: drop policies."""
    return nlmlab.render_iptables("iptables-nft", 4 if family == "ipv4" else 6)


def test_native_table_and_iptables_nft_both_dropping(lab, ansible, playbook):
    for family, command in (("ipv4", "iptables-nft-restore"), ("ipv6", "ip6tables-nft-restore")):
        lab.run("n3", [command], input=iptables_dropping_echo(family))
    try:
        original = ruleset(lab, "n3")
        pair = [("n1", "n3")]
        assert not any(pings(lab, both_ways(pair)).values())

        # the native table alone: iptables-nft's drop policy still drops echo on n3
        only_native = ansible("n1:n3", "nlm_icmp_allow", dict(ALLOW, backend="nftables"))
        assert hosts_changed(only_native, ["n1", "n3"]) == {"n1": True, "n3": True}
        reached = pings(lab, both_ways(pair))
        assert not any(reached.values()), reached

        (present,) = playbook("n1:n3", [("nlm_icmp_allow", ALLOW)])
        assert present["n3"]["backend"] == "iptables-nft+nftables" and present["n3"]["changed"] is True
        assert present["n1"]["backend"] == "nftables" and present["n1"]["changed"] is False
        assert all(pings(lab, both_ways(pair)).values())

        (info,) = playbook("n3", [("nlm_icmp_allow_info", INFO)])
        report = info["n3"]["icmp_allow"]
        assert report["backend"] == "iptables-nft+nftables"
        assert report["all_present"] is True and report["all_effective"] is True
        for family in ("ipv4", "ipv6"):
            for rule in report[family]["rules"]:
                holding = [(entry["flavour"], entry["rule_chain"]) for entry in rule["filters"] if entry["needs_rule"]]
                assert all(entry["present"] for entry in rule["filters"] if entry["needs_rule"]), rule
                side = "INPUT" if rule["direction"] == "in" else "OUTPUT"
                assert holding == [("iptables-nft", "NLM-" + side),
                                   ("nftables", "inet filter " + side.lower())], rule

        (absent,) = playbook("n1:n3", [("nlm_icmp_allow", dict(ALLOW, state="absent"))])
        assert hosts_changed(absent, ["n1", "n3"]) == {"n1": True, "n3": True}
        assert not any(pings(lab, both_ways(pair)).values())
        assert ruleset(lab, "n3") == original
    finally:
        for command in ("iptables-nft", "ip6tables-nft"):
            for argv in (["-F"], ["-X"], ["-P", "INPUT", "ACCEPT"], ["-P", "FORWARD", "ACCEPT"],
                         ["-P", "OUTPUT", "ACCEPT"]):
                lab.run("n3", [command, *argv])


def test_firewalld_in_the_namespace_is_refused_and_nothing_changes(lab, run_ansible, inventory, tmp_path):
    """A process named firewalld in n2's namespace (a copy of sleep) is what a running
    firewalld looks like to the modules; n1 beside it is not affected. The raw backends
    are refused there, and backend auto, which talks to firewalld, says that it does not
    answer (the firewalld machine lab shows the backend at work)."""
    fake = tmp_path / "firewalld"
    shutil.copy(shutil.which("sleep"), fake)
    before = ruleset(lab, "n2")
    firewalld = subprocess.Popen(["ip", "netns", "exec", lab.node("n2").netns, str(fake), "600"])
    try:
        completed = run_ansible(["n1:n2", "-m", "nodelatency.monitor.nlm_icmp_allow", "-a",
                                 '{"interfaces": ["antrea-gw0"]}', "--check"], inventory)
        raw = run_ansible(["n2", "-m", "nodelatency.monitor.nlm_icmp_allow", "-a",
                           '{"interfaces": ["antrea-gw0"], "backend": "nftables"}'], inventory)
        facts = run_ansible(["n2", "-m", "nodelatency.monitor.nlm_facts"], inventory)
    finally:
        firewalld.kill()
        firewalld.wait()
    assert "n1 | CHANGED" in completed.stdout, completed.stdout
    assert "n2 | FAILED" in completed.stdout, completed.stdout
    assert ("firewalld runs in this network namespace but does not answer on the system D-Bus"
            in completed.stdout), completed.stdout
    assert "n2 | FAILED" in raw.stdout, raw.stdout
    assert ("firewalld is running in this network namespace, and backend nftables would change its tables behind "
            "its back" in raw.stdout), raw.stdout
    assert "use backend auto or firewalld" in raw.stdout
    assert '"firewalld_running": true' in facts.stdout, facts.stdout
    assert ruleset(lab, "n2") == before


def test_append_lands_in_front_of_a_reject_tail(lab, playbook):
    """n2's base chains end with an ICMP reject (as reject-tail ends with -j REJECT): with
    placement append the rules go just before it, not after it, and ping works."""
    tail = "meta l4proto { icmp, ipv6-icmp } reject"
    original = ruleset(lab, "n2")
    for chain in ("input", "output"):
        lab.run("n2", ["nft", "add", "rule", "inet", "filter", chain, *tail.split()])
    try:
        with_tail = ruleset(lab, "n2")
        pair = [("n1", "n2")]
        present, info = playbook("n1:n2", [("nlm_icmp_allow", dict(ALLOW, placement="append")),
                                           ("nlm_icmp_allow_info", INFO)])
        assert hosts_changed(present, ["n1", "n2"]) == {"n1": True, "n2": True}
        assert all(pings(lab, both_ways(pair)).values())
        assert info["n2"]["icmp_allow"]["all_effective"] is True
        for chain in ruleset(lab, "n2").split("chain ")[1:]:
            lines = [line.strip() for line in chain.splitlines()]
            if tail in lines:
                assert [line for line in lines if TAG in line or line == tail][-1] == tail, chain
        (absent,) = playbook("n1:n2", [("nlm_icmp_allow", dict(ALLOW, state="absent"))])
        assert absent["n2"]["changed"] is True
        assert ruleset(lab, "n2") == with_tail
    finally:
        # the tail is the only reject in the lab's chains
        for chain in ("input", "output"):
            listing = lab.run("n2", ["nft", "-j", "list", "chain", "inet", "filter", chain]).stdout
            handles = [item["rule"]["handle"] for item in json.loads(listing)["nftables"]
                       if "rule" in item and "reject" in item["rule"]["expr"][-1]]
            for handle in handles:
                lab.run("n2", ["nft", "delete", "rule", "inet", "filter", chain, "handle", str(handle)])
    assert ruleset(lab, "n2") == original
