"""The nlm role on a real lab: the toggle refused without an antrea-agent.conf or with one
the Antrea agent would refuse, the transport interface found or refused, and nothing
written when it cannot be found. (The toggle read from antrea-agent.conf, on and off:
test_installed_collection.py, which runs the role as users install it.)"""

from __future__ import annotations

import json
import re

import pytest

from ansible_collections.nodelatency.monitor.tests.unit.fixtures import antrea_agent_conf


@pytest.fixture(scope="module")
def lab(module_lab_factory):
    # two nodes: every site.yml run here is one per node, and a third proves nothing more
    return module_lab_factory(nodes=2, firewall="iptables-nft", mode="networkPolicyOnly")


@pytest.fixture
def rulesets(lab, saved_rulesets):
    """rulesets() -> {(node, save command): ruleset without counters and timestamps}."""
    return lambda: saved_rulesets(lab)


@pytest.fixture
def site(lab, run_ansible):
    """site(extra_vars) runs site.yml on the lab with those extra variables."""

    def run(extra_vars: dict):
        return run_ansible(["site.yml", "-e", json.dumps(extra_vars)], lab.inventory_path, program="ansible-playbook")

    return run


def test_an_unresolvable_transport_interface_fails_every_host_and_writes_nothing(site, rulesets):
    before = rulesets()
    # no name, no CIDRs, and the lab nodes have no default route to find the node IP by
    result = site({"nlm_enabled": True, "nlm_transport_interface": "", "nlm_probe": False})
    assert result.returncode != 0
    for host in ("n1", "n2"):
        assert re.search(rf"fatal: \[{host}\]: FAILED!", result.stdout), result.stdout
    assert "set nlm_transport_interface (a name), nlm_transport_interface_cidrs" in result.stdout
    assert rulesets() == before


def test_the_transport_interface_is_found_by_cidr_and_every_rule_names_it(site, rulesets, owned_accept_rules):
    before = rulesets()
    result = site({"nlm_enabled": True, "nlm_transport_interface": "", "nlm_probe": False,
                   "nlm_transport_interface_cidrs": ["198.18.0.0/24", "2001:db8::/64"]})
    assert result.returncode == 0, result.stdout + result.stderr
    for (node, save), ruleset in rulesets().items():
        rules = owned_accept_rules(ruleset)
        assert len(rules) == 4, (node, save, rules)
        assert all(re.search(r" -[io] eth0 ", rule) for rule in rules), rules
    result = site({"nlm_enabled": False})
    assert result.returncode == 0, result.stdout + result.stderr
    assert rulesets() == before


def test_nlm_enabled_auto_without_an_agent_conf_is_refused(site, rulesets):
    before = rulesets()
    result = site({"nlm_enabled": "auto"})
    assert result.returncode != 0
    assert "auto needs nlm_antrea_agent_conf" in result.stdout
    assert rulesets() == before


def test_an_agent_conf_the_agent_would_refuse_is_refused_before_anything_changes(site, rulesets):
    before = rulesets()
    conf = antrea_agent_conf.render(feature_gates={"NodeLatencyMonitor": '"true"'})
    result = site({"nlm_enabled": "auto", "nlm_antrea_agent_conf": conf})
    assert result.returncode != 0
    assert "featureGates.NodeLatencyMonitor is 'true', which the Antrea agent refuses" in result.stdout
    assert rulesets() == before


def test_a_change_of_mode_or_families_takes_off_the_rules_no_longer_used(site, rulesets, owned_accept_rules):
    before = rulesets()
    result = site({"nlm_enabled": True, "nlm_traffic_mode": "hybrid", "nlm_probe": False})
    assert result.returncode == 0, result.stdout + result.stderr
    for ruleset in rulesets().values():
        interfaces = {re.search(r" -[io] (\S+) ", rule).group(1) for rule in owned_accept_rules(ruleset)}
        assert interfaces == {"antrea-gw0", "eth0"}

    result = site({"nlm_enabled": True, "nlm_traffic_mode": "encap", "nlm_ip_versions": ["ipv4"], "nlm_probe": False})
    assert result.returncode == 0, result.stdout + result.stderr
    for (node, save), ruleset in rulesets().items():
        rules = owned_accept_rules(ruleset)
        if save == "ip6tables-save":
            assert rules == [], node
            continue
        assert len(rules) == 4 and all(" -i antrea-gw0 " in rule or " -o antrea-gw0 " in rule for rule in rules)

    assert site({"nlm_enabled": False}).returncode == 0
    assert rulesets() == before
