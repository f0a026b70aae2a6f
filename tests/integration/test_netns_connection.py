"""The nodelatency.monitor.netns connection on a real lab: ansible, ansible-playbook, testinfra."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import testinfra
import yaml

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(module_lab_factory):
    return module_lab_factory(nodes=3, firewall="iptables-nft")


def write_inventory(path, hosts: dict) -> str:
    inventory = {"all": {"vars": {"ansible_connection": "nodelatency.monitor.netns", "ansible_python_interpreter": sys.executable},
                         "hosts": hosts}}
    path.write_text(yaml.safe_dump(inventory))
    return str(path)


def test_setup_reports_each_nodes_own_addresses(lab, run_ansible, tmp_path):
    result = run_ansible(["all", "-m", "ansible.builtin.setup", "-a", "gather_subset=!all,network", "--tree", str(tmp_path)],
                         lab.inventory_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for node in lab.nodes:
        facts = json.loads((tmp_path / node.name).read_text())["ansible_facts"]
        assert sorted(facts["ansible_interfaces"]) == ["antrea-gw0", "eth0", "lo"]
        assert sorted(facts["ansible_all_ipv4_addresses"]) == sorted([node.transport_ipv4, node.gateway_ipv4])
        global_ipv6 = [address for address in facts["ansible_all_ipv6_addresses"] if not address.startswith("fe80:")]
        assert sorted(global_ipv6) == sorted([node.transport_ipv6, node.gateway_ipv6])
        assert facts["ansible_antrea_gw0"]["macaddress"] == node.gateway_mac


PLAYBOOK = """\
- name: Each node writes, reads and fetches files in its own /etc
  hosts: nlm_nodes
  gather_facts: false
  tasks:
    - name: Write a file into the node's /etc/iptables
      ansible.builtin.copy:
        content: "written for {{ inventory_hostname }}\\n"
        dest: /etc/iptables/connection-test
        mode: "0644"
    - name: Fetch it back
      ansible.builtin.fetch:
        src: /etc/iptables/connection-test
        dest: "{{ fetch_dir }}/"
    - name: Read the node's persisted rules through a command
      ansible.builtin.command: cat /etc/iptables/rules.v4
      register: rules
      changed_when: false
    - name: The node's persisted rules are the lab's hardened ones
      ansible.builtin.assert:
        that: "':INPUT DROP' in rules.stdout"
"""


@pytest.mark.parametrize("pipelining", ["false", "true"])
def test_playbook_copies_and_fetches_through_the_nodes_own_etc(lab, run_ansible, tmp_path, pipelining):
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(PLAYBOOK)
    root_etc_iptables_before = sorted(path.name for path in Path("/etc/iptables").iterdir())
    result = run_ansible([str(playbook), "-e", f"fetch_dir={tmp_path} ansible_pipelining={pipelining}"], lab.inventory_path,
                         program="ansible-playbook")
    assert result.returncode == 0, result.stdout + result.stderr
    for node in lab.nodes:
        expected = f"written for {node.name}\n"
        assert (tmp_path / node.name / "etc" / "iptables" / "connection-test").read_text() == expected
        assert lab.run(node, ["cat", "/etc/iptables/connection-test"]).stdout == expected
        lab.run(node, ["rm", "/etc/iptables/connection-test"])
    assert sorted(path.name for path in Path("/etc/iptables").iterdir()) == root_etc_iptables_before


def test_namespace_comes_from_ansible_netns_then_nlm_netns_then_ansible_host_then_hostname(lab, run_ansible, tmp_path):
    n1, n2, n3 = lab.nodes
    inventory = write_inventory(tmp_path / "inventory.yml", {
        "both_vars": {"nlm_netns": n1.netns, "ansible_netns": n2.netns, "ansible_host": n3.netns},
        "nlm_var": {"nlm_netns": n1.netns, "ansible_host": n3.netns},
        "host_var": {"ansible_host": n3.netns},
        n2.netns: {},
    })
    result = run_ansible(["all", "-m", "ansible.builtin.command", "-a", f"ip -o -4 addr show dev {n1.transport_interface}",
                          "--tree", str(tmp_path / "tree")], inventory)
    assert result.returncode == 0, result.stdout + result.stderr

    def address_of(host):
        return json.loads((tmp_path / "tree" / host).read_text())["stdout"].split()[3].split("/")[0]

    assert address_of("both_vars") == n2.transport_ipv4
    assert address_of("nlm_var") == n1.transport_ipv4
    assert address_of("host_var") == n3.transport_ipv4
    assert address_of(n2.netns) == n2.transport_ipv4


BAD_NAMESPACES = {
    "slash": ("no/slash", "'no/slash' is not a valid network namespace name"),
    "dots": ("..", "'..' is not a valid network namespace name"),
    "space": ("two words", "'two words' is not a valid network namespace name"),
    "absent": ("nlmabsent-n1", "network namespace 'nlmabsent-n1' does not exist"),
}


def test_bad_or_missing_namespace_is_unreachable_with_a_clear_message(run_ansible, tmp_path):
    inventory = write_inventory(tmp_path / "inventory.yml", {host: {"ansible_netns": netns}
                                                             for host, (netns, _message) in BAD_NAMESPACES.items()})
    result = run_ansible(["all", "-m", "ansible.builtin.ping", "--tree", str(tmp_path / "tree")], inventory)
    assert result.returncode == 4, result.stdout + result.stderr
    for host, (_netns, message) in BAD_NAMESPACES.items():
        outcome = json.loads((tmp_path / "tree" / host).read_text())
        assert outcome["unreachable"] is True
        assert f"netns connection: {message}" in outcome["msg"]


def test_testinfra_reaches_the_node_through_ansible(lab, ansible_environment, monkeypatch):
    for name, value in ansible_environment.items():
        monkeypatch.setenv(name, value)
    node = lab.node("n2")
    host = testinfra.get_host(f"ansible://{node.name}?force_ansible=True", ansible_inventory=str(lab.inventory_path))
    assert set(host.interface(node.gateway_interface).addresses) >= {node.gateway_ipv4, node.gateway_ipv6}
    assert host.run("iptables -S INPUT").stdout.splitlines()[0] == "-P INPUT DROP"
