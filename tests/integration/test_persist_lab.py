"""nlm_icmp_allow persist on the lab: the rules survive a simulated reboot, and absent
takes them out of the boot files again.

A 2-node lab per firewall. FIREWALL=nftables restores /etc/nftables.conf with ``nft -f``;
FIREWALL=iptables-nft restores /etc/iptables/rules.v4/v6 (netfilter-persistent), and
n2 also gets /etc/sysconfig/iptables and ip6tables (iptables-services) and boots from
those. A reboot is ``nft flush ruleset`` (every table, iptables-nft's included) and
then the node's own restore. All files are each node's own /etc/netns copies.
"""

from __future__ import annotations

import pytest

# fixtures, used by name
from test_nlm_icmp_allow_lab import ansible, json_results, playbook  # pylint: disable=unused-import
from test_nlm_icmp_allow_lab import both_ways, hosts_changed, pings

pytestmark = pytest.mark.lab

TAG = "nodelatency.monitor"
NODES = ["n1", "n2"]
PAIR = [("n1", "n2")]
ALLOW = {"interfaces": ["antrea-gw0"], "persist": True}
BOOT_FILES = {
    "nftables": {"n1": ["/etc/nftables.conf"], "n2": ["/etc/nftables.conf"]},
    "iptables-nft": {"n1": ["/etc/iptables/rules.v4", "/etc/iptables/rules.v6"],
                     "n2": ["/etc/iptables/rules.v4", "/etc/sysconfig/iptables",
                            "/etc/iptables/rules.v6", "/etc/sysconfig/ip6tables"]},
}


@pytest.fixture(scope="module", params=sorted(BOOT_FILES))
def lab(request, module_lab_factory):
    lab = module_lab_factory(nodes=2, firewall=request.param)
    if lab.firewall == "iptables-nft":
        for source, target in (("rules.v4", "iptables"), ("rules.v6", "ip6tables")):
            lab.run("n2", ["cp", "/etc/iptables/" + source, "/etc/sysconfig/" + target])
    return lab


@pytest.fixture(scope="module")
def inventory(lab):
    """The lab's inventory (the shared ansible/playbook fixtures ask for one by this name)."""
    return lab.inventory_path


def boot_files(lab, node):
    return {path: lab.run(node, ["cat", path]).stdout for path in BOOT_FILES[lab.firewall][node]}


def reboot(lab, node):
    """Empty the node's firewall, then load it the way its boot does."""
    lab.run(node, ["nft", "flush", "ruleset"])
    if lab.firewall == "nftables":
        lab.run(node, ["nft", "-f", "/etc/nftables.conf"])
    elif node == "n2":
        lab.run(node, ["iptables-restore", "/etc/sysconfig/iptables"])
        lab.run(node, ["ip6tables-restore", "/etc/sysconfig/ip6tables"])
    else:
        lab.load_firewall(lab.node(node))


def without_owned(text):
    return [line for line in text.splitlines() if TAG not in line and "NLM-" not in line]


def test_rules_survive_a_reboot_and_absent_takes_them_out(lab, ansible, playbook):
    original = {node: boot_files(lab, node) for node in NODES}
    assert not any(pings(lab, both_ways(PAIR)).values())

    live_only, check = playbook("n1:n2", [
        ("nlm_icmp_allow", dict(ALLOW, persist=False)),
        ("nlm_icmp_allow", ALLOW, {"check_mode": True, "diff": True}),
    ])
    assert hosts_changed(live_only, NODES) == dict.fromkeys(NODES, True)
    for node in NODES:
        assert live_only[node]["persisted"] == []
        # check mode names the files and writes none; the live rules were there already
        assert check[node]["changed"] is True
        assert check[node]["persisted"] == BOOT_FILES[lab.firewall][node]
    assert {node: boot_files(lab, node) for node in NODES} == original
    (persisted,) = playbook("n1:n2", [("nlm_icmp_allow", ALLOW)])
    assert hosts_changed(persisted, NODES) == dict.fromkeys(NODES, True)
    for node in NODES:
        assert persisted[node]["rules"]["ipv4"]["transaction"] == ""      # only the files changed
        now = boot_files(lab, node)
        for path, text in now.items():
            assert without_owned(text) == without_owned(original[node][path])
            assert TAG in text

    for node in NODES:
        reboot(lab, node)
    assert all(pings(lab, both_ways(PAIR)).values())

    again, removed = playbook("n1:n2", [("nlm_icmp_allow", ALLOW),
                                        ("nlm_icmp_allow", dict(ALLOW, state="absent"))])
    assert hosts_changed(again, NODES) == dict.fromkeys(NODES, False)
    assert hosts_changed(removed, NODES) == dict.fromkeys(NODES, True)
    assert {node: boot_files(lab, node) for node in NODES} == original
    for node in NODES:
        reboot(lab, node)
    assert not any(pings(lab, both_ways(PAIR)).values())


@pytest.mark.parametrize("lab", ["iptables-nft"], indirect=True)
def test_persist_true_without_a_boot_file_fails_before_changing_anything(lab, run_ansible, inventory):
    """An iptables-nft node whose rules.v4/v6 are gone: nothing would restore the rules at
    boot, so persist true fails, and the live firewall stays as it was."""
    saved = {name: lab.run("n1", ["cat", "/etc/iptables/" + name]).stdout for name in ("rules.v4", "rules.v6")}
    before = lab.run("n1", ["nft", "-s", "list", "ruleset"]).stdout
    for name in saved:
        lab.run("n1", ["rm", "/etc/iptables/" + name])
    try:
        completed = run_ansible(["n1", "-m", "nodelatency.monitor.nlm_icmp_allow", "-a",
                                 '{"interfaces": ["antrea-gw0"], "persist": true}'], inventory)
    finally:
        for name, text in saved.items():
            lab.run("n1", ["tee", "/etc/iptables/" + name], input=text)
    assert "n1 | FAILED" in completed.stdout, completed.stdout
    assert ("persist is true, but none of /etc/iptables/rules.v4, /etc/sysconfig/iptables, /etc/iptables/rules.v6, "
            "/etc/sysconfig/ip6tables exists, so nothing restores the iptables-nft rules at boot") in completed.stdout
    assert lab.run("n1", ["nft", "-s", "list", "ruleset"]).stdout == before


@pytest.mark.parametrize("lab", ["nftables"], indirect=True)
def test_a_boot_file_that_loads_only_over_the_live_ruleset_stops_the_run_unchanged(lab, run_ansible, inventory):
    """A configuration that deletes a table before declaring it loads over the live ruleset,
    which has the table, and fails whole at boot, where the ruleset is empty. The module
    checks the file as the boot loads it, before it changes anything: the run fails, and
    neither the live firewall nor the file moved."""
    saved = lab.run("n1", ["cat", "/etc/nftables.conf"]).stdout
    fragile = "delete table inet filter\n" + saved.replace("flush ruleset\n", "")
    lab.run("n1", ["tee", "/etc/nftables.conf"], input=fragile)
    before = lab.run("n1", ["nft", "-s", "list", "ruleset"]).stdout
    try:
        lab.run("n1", ["nft", "-c", "-f", "/etc/nftables.conf"])
        completed = run_ansible(["n1", "-m", "nodelatency.monitor.nlm_icmp_allow", "-a",
                                 '{"interfaces": ["antrea-gw0"], "persist": true}'], inventory)
        after = lab.run("n1", ["cat", "/etc/nftables.conf"]).stdout
    finally:
        lab.run("n1", ["tee", "/etc/nftables.conf"], input=saved)
    assert "n1 | FAILED" in completed.stdout, completed.stdout
    assert "/etc/nftables.conf with the owned rules would not load at boot" in completed.stdout
    assert lab.run("n1", ["nft", "-s", "list", "ruleset"]).stdout == before
    assert after == fragile
