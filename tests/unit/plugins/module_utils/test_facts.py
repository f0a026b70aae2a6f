"""Choosing the transport interface and judging firewall output, without a kernel."""

from __future__ import annotations

import json
import ipaddress
import os
import pathlib

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _facts
from ansible_collections.nodelatency.monitor.plugins.module_utils._facts import (
    Interface,
    agent_report,
    firewalld_running,
    holds_rules,
    input_problems,
    interface_report,
    native_base_chains,
    select_transport,
)


def addresses(*specs):
    return [(ipaddress.ip_interface(spec), 253 if spec.startswith("fe80") else 0) for spec in specs]


INTERFACES = [
    Interface("lo", 1, "UNKNOWN", 65536, addresses("127.0.0.1/8", "::1/128")),
    Interface("eth0", 2, "UP", 1500, addresses("198.18.0.1/24", "2001:db8::1/64", "fe80::1/64")),
    Interface("eth1", 3, "UP", 1500, addresses("198.19.0.1/24")),
    Interface("antrea-gw0", 4, "UP", 1450, addresses("198.18.1.1/24", "2001:db8:1::1/64")),
]


def test_interface_report_lists_addresses_with_prefix_without_link_local():
    assert interface_report(INTERFACES, "eth0") == {
        "name": "eth0", "exists": True, "index": 2, "state": "UP", "mtu": 1500,
        "ipv4": ["198.18.0.1/24"], "ipv6": ["2001:db8::1/64"]}


def test_a_missing_interface_is_reported_not_raised():
    assert interface_report(INTERFACES, "antrea-gw1") == {
        "name": "antrea-gw1", "exists": False, "index": None, "state": None, "mtu": None, "ipv4": [], "ipv6": []}


@pytest.mark.parametrize("kwargs,expected", [
    ({"explicit": "eth9"}, ("eth9", "transport_interface")),
    ({"explicit": "eth1", "cidrs": ["198.18.0.0/24"]}, ("eth1", "transport_interface")),
    ({"cidrs": ["198.19.0.0/16"]}, ("eth1", "transport_interface_cidrs")),
    ({"cidrs": ["2001:db8::/64", "198.19.0.0/16"]}, ("eth0", "transport_interface_cidrs")),
    ({"cidrs": ["198.18.0.0/15"]}, ("eth0", "transport_interface_cidrs")),
    ({"cidrs": ["203.0.113.0/24"], "node_ip": ipaddress.ip_address("198.19.0.1")},
     (None, "transport_interface_cidrs")),
    ({"node_ip": ipaddress.ip_address("198.19.0.1")}, ("eth1", "node_ip")),
    ({"node_ip": ipaddress.ip_address("2001:db8:1::1")}, ("antrea-gw0", "node_ip")),
    ({"node_ip": ipaddress.ip_address("203.0.113.1")}, (None, "node_ip")),
    ({}, (None, "none")),
])
def test_transport_interface_is_chosen_as_antrea_does(kwargs, expected):
    assert select_transport(INTERFACES, **kwargs) == expected


def test_bad_cidrs_and_node_ips_are_named():
    problems = input_problems({"transport_interface_cidrs": ["198.18.0.0/24", "nonsense"], "node_ip": "1.2.3"})
    assert problems == ["transport_interface_cidrs: 'nonsense' is not a CIDR such as 198.18.0.0/16",
                        "node_ip: '1.2.3' is not an IP address"]


@pytest.mark.parametrize("name", ["nft-ipv4.save", "legacy-ipv6.save", "nft-ipv4-counters.save"])
def test_a_hardened_ruleset_holds_rules(fixture_text, name):
    assert holds_rules(fixture_text("iptables/" + name)) is True


def test_empty_or_default_rulesets_hold_none(fixture_text):
    assert holds_rules(fixture_text("iptables/nft-ipv4-empty.save")) is False
    assert holds_rules("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n") is False
    assert holds_rules("*filter\n:INPUT DROP [0:0]\nCOMMIT\n") is True


def test_native_base_chains_leave_out_the_iptables_nft_tables(fixture_text):
    listing = fixture_text("iptables/nft-list-chains.json")
    xtables = {("ip", "filter"), ("ip", "nat"), ("ip6", "filter"), ("ip6", "nat")}
    assert native_base_chains(listing, xtables) == [
        {"family": "inet", "table": "native", "chain": "input", "hook": "input", "priority": 0, "policy": "drop"},
        {"family": "inet", "table": "native", "chain": "output", "hook": "output", "priority": 0,
         "policy": "accept"},
    ]
    # without knowing the iptables-nft tables, their INPUT/OUTPUT count as well
    assert len(native_base_chains(listing, set())) == 6


def fake_proc(tmp_path, processes):
    """A /proc with ``self`` and one directory per (pid, comm, namespace); a process
    shares the namespace of ``self`` when its ns/net is a hard link to self's."""
    (tmp_path / "self" / "ns").mkdir(parents=True)
    own = tmp_path / "self" / "ns" / "net"
    own.write_text("")
    other = tmp_path / "other-net"
    other.write_text("")
    for pid, comm, same_namespace in processes:
        (tmp_path / pid / "ns").mkdir(parents=True)
        (tmp_path / pid / "comm").write_text(comm + "\n")
        os.link(own if same_namespace else other, tmp_path / pid / "ns" / "net")
    return str(tmp_path)


@pytest.mark.parametrize("processes,running", [
    ([("1", "systemd", True), ("812", "firewalld", True)], True),
    ([("1", "systemd", True), ("812", "firewalld", False)], False),   # another namespace's firewall
    ([("1", "systemd", True), ("813", "firewalld-cmd", True)], False),
])
def test_firewalld_counts_in_this_network_namespace_only(tmp_path, processes, running):
    assert firewalld_running(fake_proc(tmp_path, processes)) is running


@pytest.mark.parametrize("table_here,running", [(True, True), (False, False), (None, False)])
def test_a_firewalld_whose_namespace_cannot_be_seen_is_judged_by_its_table(tmp_path, monkeypatch, table_here, running):
    """A caller other than root (the nlm agent) may not look at root's processes' namespaces."""
    proc = fake_proc(tmp_path, [("1", "systemd", True), ("812", "firewalld", True)])
    stat = os.stat

    def guarded(path, *args, **kwargs):
        if str(path).startswith(os.path.join(proc, "812", "ns")):
            raise PermissionError(13, "Permission denied", str(path))
        return stat(path, *args, **kwargs)
    monkeypatch.setattr(os, "stat", guarded)
    assert firewalld_running(proc, None if table_here is None else (lambda: table_here)) is running


class FirewalldBus:
    """A module whose run_command answers busctl as a running firewalld, or fails."""

    def __init__(self, answers=None, failure=None):
        self.answers = answers or {}
        self.failure = failure

    def get_bin_path(self, name):
        return "/usr/bin/" + name

    def run_command(self, argv):
        if self.failure:
            return 1, "", self.failure
        key = argv[-1] if argv[3] == "get-property" else argv[8]
        if key == "getZoneOfInterface":
            key = (key, argv[-1])
        return 0, json.dumps(self.answers[key]), ""


def test_firewalld_facts_name_each_interfaces_zone_bound_or_default():
    from ansible_collections.nodelatency.monitor.plugins.module_utils._facts import FirewallProbe

    def text(value):
        return {"type": "s", "data": [value]}
    bus = FirewalldBus({"state": {"type": "s", "data": "RUNNING"}, "version": {"type": "s", "data": "1.3.3"},
                        "FirewallBackend": {"type": "s", "data": "nftables"}, "getDefaultZone": text("public"),
                        ("getZoneOfInterface", "antrea-gw0"): text(""), ("getZoneOfInterface", "eth0"): text("internal")})
    probe = FirewallProbe.__new__(FirewallProbe)
    probe._module = bus
    assert probe.firewalld(["antrea-gw0", "eth0"]) == {
        "running": True, "version": "1.3.3", "backend": "nftables", "default_zone": "public",
        "interfaces": {"antrea-gw0": {"zone": "public", "bound": False}, "eth0": {"zone": "internal", "bound": True}},
        "via": "busctl"}


def test_a_firewalld_that_does_not_answer_is_reported_not_raised():
    from ansible_collections.nodelatency.monitor.plugins.module_utils._facts import FirewallProbe
    probe = FirewallProbe.__new__(FirewallProbe)
    probe._module = FirewalldBus(failure="Failed to connect to bus: No such file or directory")
    report = probe.firewalld(["eth0"])
    assert report["running"] is False and "does not answer on the system D-Bus" in report["error"]


def test_the_agent_is_installed_when_any_of_its_parts_is_there(tmp_path):
    unit, directory = tmp_path / "nlm-agent.service", tmp_path / "agent"
    nobody = "nlm-no-such-user-here"
    nothing = {"unit": False, "code": False, "user": False, "installed": False}
    assert agent_report(str(unit), str(directory), nobody) == nothing
    directory.mkdir()
    assert agent_report(str(unit), str(directory), nobody) == dict(nothing, code=True, installed=True)
    # a unit left as a dangling link still counts: the removal must take it
    unit.symlink_to(tmp_path / "gone")
    assert agent_report(str(unit), str(tmp_path / "none"), nobody)["unit"] is True
    assert agent_report(str(tmp_path / "none"), str(tmp_path / "none"), "root") == {
        "unit": False, "code": False, "user": True, "installed": True}


def test_the_agent_paths_are_the_roles():
    """The role installs the agent where nlm_facts looks for it."""
    import yaml
    role_vars = yaml.safe_load((pathlib.Path(__file__).resolve().parents[4] / "roles" / "nlm" / "vars" / "main.yml")
                               .read_text())
    assert (role_vars["__nlm_agent_unit"], role_vars["__nlm_agent_dir"], role_vars["__nlm_agent_user"]) == (
        _facts.AGENT_UNIT, _facts.AGENT_DIR, _facts.AGENT_USER)
