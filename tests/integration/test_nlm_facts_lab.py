"""nlm_facts on lab nodes: interfaces as the kernel has them, the firewall as it is."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

PLAYBOOK = """
- name: Facts of every node, several ways
  hosts: nlm_nodes
  gather_facts: false
  tasks:
    - name: Defaults (transport interface from the default route)
      nodelatency.monitor.nlm_facts:
      register: by_default
    - name: Transport interface from a CIDR
      nodelatency.monitor.nlm_facts:
        transport_interface_cidrs: [203.0.113.0/24, 198.18.0.0/24]
      register: by_cidr
    - name: Transport interface from the node IP
      nodelatency.monitor.nlm_facts:
        node_ip: "{{ nlm_transport_ipv6 }}"
      register: by_node_ip
    - name: Interfaces that do not exist
      nodelatency.monitor.nlm_facts:
        gateway_interface: antrea-gw9
        transport_interface: eth9
      register: missing
    - name: A rule in each iptables backend, one of which the iptables command does not use
      ansible.builtin.command:
        argv: ["{{ item }}", -A, INPUT, -s, 198.18.0.99, -j, DROP]
      changed_when: true
      loop: [iptables-nft, iptables-legacy]
    - name: Facts with that rule
      nodelatency.monitor.nlm_facts:
      register: other_rules
    - name: Keep the results for the test
      ansible.builtin.copy:
        content: "{{ {'by_default': by_default, 'by_cidr': by_cidr, 'by_node_ip': by_node_ip,
                      'missing': missing, 'other_rules': other_rules} | to_json }}"
        dest: "{{ results_dir }}/{{ inventory_hostname }}.json"
        mode: "0600"
      delegate_to: localhost
"""


@pytest.fixture(scope="module", params=["iptables-legacy", "nftables"])
def facts(request, module_lab_factory, run_ansible, tmp_path_factory):
    """(lab, {run: registered result}) for a 1-node lab with the legacy backend and one
    with native nftables (and the nft backend); the node gets a default route through
    the transport network first, and a rule in both iptables backends before the last run."""
    lab = module_lab_factory(nodes=1, firewall=request.param)
    try:
        node = lab.node("n1")
        lab.run(node, ["ip", "route", "add", "default", "via", "198.18.0.1", "dev", node.transport_interface])
        directory = tmp_path_factory.mktemp("facts")
        playbook = directory / "facts.yml"
        playbook.write_text(PLAYBOOK)
        completed = run_ansible(["-e", "results_dir=%s" % directory, str(playbook)], lab.inventory_path,
                                program="ansible-playbook")
        assert completed.returncode == 0, completed.stdout + completed.stderr
        yield lab, json.loads((directory / "n1.json").read_text())
    finally:
        lab.down()


def kernel_addresses(lab, node, interface):
    """{4: [...], 6: [...]} of global addresses with prefix, as `ip -j addr` reports them."""
    links = json.loads(lab.run(node, ["ip", "-j", "addr", "show", "dev", interface]).stdout)
    found = {4: [], 6: []}
    for info in links[0]["addr_info"]:
        if info["scope"] == "global":
            found[4 if info["family"] == "inet" else 6].append("%s/%d" % (info["local"], info["prefixlen"]))
    return found


def test_gateway_interface_as_the_kernel_has_it(facts):
    lab, results = facts
    node = lab.node("n1")
    gateway = results["by_default"]["ansible_facts"]["nlm"]["gateway_interface"]
    addresses = kernel_addresses(lab, node, "antrea-gw0")
    assert (gateway["name"], gateway["exists"]) == ("antrea-gw0", True)
    assert gateway["ipv4"] == addresses[4] and gateway["ipv4"][0].startswith(node.gateway_ipv4 + "/")
    assert gateway["ipv6"] == addresses[6] and gateway["ipv6"][0].startswith(node.gateway_ipv6 + "/")
    link = json.loads(lab.run(node, ["ip", "-j", "link", "show", "dev", "antrea-gw0"]).stdout)[0]
    assert (gateway["index"], gateway["mtu"], gateway["state"]) == (link["ifindex"], link["mtu"], link["operstate"])


@pytest.mark.parametrize("run,selected_by,node_ip_attribute", [
    ("by_default", "default_route", "transport_ipv4"),
    ("by_cidr", "transport_interface_cidrs", None),
    ("by_node_ip", "node_ip", "transport_ipv6"),
])
def test_transport_interface_is_chosen_as_antrea_does(facts, run, selected_by, node_ip_attribute):
    lab, results = facts
    node = lab.node("n1")
    transport = results[run]["ansible_facts"]["nlm"]["transport_interface"]
    addresses = kernel_addresses(lab, node, "eth0")
    assert (transport["name"], transport["exists"], transport["selected_by"]) == ("eth0", True, selected_by)
    assert transport["node_ip"] == (getattr(node, node_ip_attribute) if node_ip_attribute else None)
    assert (transport["ipv4"], transport["ipv6"]) == (addresses[4], addresses[6])
    assert transport["ipv4"][0].startswith(node.transport_ipv4 + "/")


def test_missing_interfaces_are_reported_not_failed(facts):
    _lab, results = facts
    assert results["missing"].get("failed", False) is False
    nlm = results["missing"]["ansible_facts"]["nlm"]
    assert (nlm["gateway_interface"]["name"], nlm["gateway_interface"]["exists"]) == ("antrea-gw9", False)
    assert (nlm["transport_interface"]["name"], nlm["transport_interface"]["exists"],
            nlm["transport_interface"]["selected_by"]) == ("eth9", False, "transport_interface")


def test_firewall_backend_and_native_nftables(facts):
    lab, results = facts
    firewall = results["by_default"]["ansible_facts"]["nlm"]["firewall"]
    version = lab.run("n1", ["iptables", "--version"]).stdout.strip()
    expected_backend = "legacy" if lab.firewall == "iptables-legacy" else "nft"
    assert firewall["iptables"] == {"backend": expected_backend, "version": version,
                                    "other_backend": "nft" if expected_backend == "legacy" else "legacy",
                                    "other_backend_has_rules": False}
    assert firewall["nftables"]["available"] is True
    if lab.firewall == "nftables":
        assert [(chain["family"], chain["table"], chain["hook"], chain["policy"])
                for chain in firewall["nftables"]["base_chains"]] == [
            ("inet", "filter", "input", "drop"), ("inet", "filter", "output", "drop")]
        assert firewall["nftables"]["has_input_output_base_chains"] is True
    else:
        assert firewall["nftables"] == {"available": True, "base_chains": [], "has_input_output_base_chains": False}
    # a firewalld of another namespace (a firewalld machine of another lab) does not count
    pids = subprocess.run(["ip", "netns", "pids", lab.node("n1").netns], check=True, capture_output=True,
                          text=True).stdout.split()
    here = [pid for pid in pids if Path("/proc/%s/comm" % pid).read_text().strip() == "firewalld"]
    assert firewall["firewalld_running"] is bool(here)


def test_rules_in_the_other_backend_are_noticed_and_iptables_nft_tables_are_not_native(facts):
    lab, results = facts
    firewall = results["other_rules"]["ansible_facts"]["nlm"]["firewall"]
    assert firewall["iptables"]["other_backend_has_rules"] is True
    # iptables-nft now has ip filter INPUT, a base chain on the input hook, and it is left out
    listing = lab.run("n1", ["nft", "list", "chain", "ip", "filter", "INPUT"]).stdout
    assert "hook input" in listing
    expected = [("inet", "filter", "input"), ("inet", "filter", "output")] if lab.firewall == "nftables" else []
    assert [(chain["family"], chain["table"], chain["chain"]) for chain in firewall["nftables"]["base_chains"]] \
        == expected
