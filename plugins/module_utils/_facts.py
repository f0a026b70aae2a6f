# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What nlm_facts discovers: the gateway and transport interfaces and the firewall.

Interfaces are read with pyroute2 into plain Interface tuples; choosing the
transport interface and judging firewall output are pure functions of those and
of command output, so unit tests need no kernel.
"""

from __future__ import annotations

import ipaddress
import json
import os
import pwd
import socket
from collections import namedtuple

from ansible_collections.nodelatency.monitor.plugins.module_utils._commands import Commands
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_save import parse_save, variant_of_version
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables_ruleset import xtables_tables

# rtnetlink address scopes
SCOPE_LINK = 253

Interface = namedtuple("Interface", "name index state mtu addresses")
Interface.__doc__ = """A network interface: name, index, operational state, MTU and
its addresses as (ipaddress.ip_interface, scope) pairs."""


# --- interfaces -------------------------------------------------------------------

def read_interfaces(ipr):
    """Every interface of the current network namespace, in index order."""
    addresses = {}
    for message in ipr.get_addr():
        address = message.get_attr("IFA_LOCAL") or message.get_attr("IFA_ADDRESS")
        if address:
            addresses.setdefault(message["index"], []).append(
                (ipaddress.ip_interface("%s/%d" % (address, message["prefixlen"])), message["scope"]))
    interfaces = [Interface(link.get_attr("IFLA_IFNAME"), link["index"], link.get_attr("IFLA_OPERSTATE"),
                            link.get_attr("IFLA_MTU"), addresses.get(link["index"], []))
                  for link in ipr.get_links()]
    return sorted(interfaces, key=lambda interface: interface.index)


def default_route_source(ipr, interfaces):
    """The address the node sends from by default: the preferred source of the IPv4
    default route (else IPv6), or the first address of the route's interface."""
    by_index = {interface.index: interface for interface in interfaces}
    for family, version in ((socket.AF_INET, 4), (socket.AF_INET6, 6)):
        for route in ipr.get_default_routes(family=family):
            source = route.get_attr("RTA_PREFSRC")
            if source:
                return ipaddress.ip_address(source)
            interface = by_index.get(route.get_attr("RTA_OIF"))
            for address, scope in (interface.addresses if interface else []):
                if address.version == version and scope != SCOPE_LINK:
                    return address.ip
    return None


def interface_report(interfaces, name):
    """The facts of interface ``name``; ``exists`` false when there is none."""
    interface = next((candidate for candidate in interfaces if candidate.name == name), None)
    if interface is None:
        return {"name": name, "exists": False, "index": None, "state": None, "mtu": None, "ipv4": [], "ipv6": []}
    usable = [address for address, scope in interface.addresses if scope != SCOPE_LINK]
    return {
        "name": name, "exists": True, "index": interface.index, "state": interface.state, "mtu": interface.mtu,
        "ipv4": [str(address) for address in usable if address.version == 4],
        "ipv6": [str(address) for address in usable if address.version == 6],
    }


def select_transport(interfaces, explicit=None, cidrs=None, node_ip=None):
    """Choose the transport interface as Antrea does: the explicit name; else the first
    interface holding an address in the first matching CIDR of ``cidrs``; else the
    interface holding ``node_ip``. Returns ``(name or None, selected_by)``."""
    if explicit:
        return explicit, "transport_interface"
    for cidr in cidrs or []:
        network = ipaddress.ip_network(cidr, strict=False)
        for interface in interfaces:
            if any(address.ip in network for address, _scope in interface.addresses):
                return interface.name, "transport_interface_cidrs"
    if cidrs:
        return None, "transport_interface_cidrs"
    if node_ip is not None:
        for interface in interfaces:
            if any(address.ip == node_ip for address, _scope in interface.addresses):
                return interface.name, "node_ip"
        return None, "node_ip"
    return None, "none"


def input_problems(params):
    """Every problem with nlm_facts' address options, before anything runs."""
    problems = []
    for cidr in params.get("transport_interface_cidrs") or []:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            problems.append("transport_interface_cidrs: %r is not a CIDR such as 198.18.0.0/16" % cidr)
    if params.get("node_ip"):
        try:
            ipaddress.ip_address(params["node_ip"])
        except ValueError:
            problems.append("node_ip: %r is not an IP address" % params["node_ip"])
    return problems


# --- firewall -----------------------------------------------------------------------

def holds_rules(save_text):
    """Whether an iptables-save output holds any rule, user chain or non-ACCEPT policy."""
    return any(not table.is_empty() for table in parse_save(save_text).values())


def native_base_chains(nft_json_text, xtables_tables):
    """Base chains on the input and output hooks of nftables tables that iptables-nft
    does not manage. ``xtables_tables`` holds (nft family, table) pairs iptables-nft uses."""
    chains = []
    for item in json.loads(nft_json_text).get("nftables", []):
        chain = item.get("chain")
        if not chain or chain.get("hook") not in ("input", "output"):
            continue
        if (chain["family"], chain["table"]) in xtables_tables:
            continue
        chains.append({"family": chain["family"], "table": chain["table"], "chain": chain["name"],
                       "hook": chain["hook"], "priority": chain.get("prio"), "policy": chain.get("policy")})
    return chains


def firewalld_running(proc="/proc", table_here=None):
    """Whether a process named firewalld runs in this network namespace, the one whose
    firewall it would manage (a network namespace of a lab node has none of its own).

    A caller other than root (the nlm agent) may not look at root's processes'
    namespaces: for a firewalld whose namespace it cannot see, ``table_here()`` tells
    whether firewalld's nft table is in this namespace (without it: not running here)."""
    own = os.stat(os.path.join(proc, "self", "ns", "net")).st_ino
    unseen = False
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "comm")) as comm:
                if comm.read().strip() != "firewalld":
                    continue
            if os.stat(os.path.join(proc, entry, "ns", "net")).st_ino == own:
                return True
        except PermissionError:
            unseen = True
        except OSError:
            continue
    return bool(unseen and table_here is not None and table_here())


class FirewallProbe(object):
    """Asks the iptables and nft commands which firewall is in use."""

    def __init__(self, module):
        self._module = module
        self._commands = Commands(module)
        self._paths = {name: module.get_bin_path(name) for name in (
            "iptables", "nft", "iptables-nft-save", "ip6tables-nft-save",
            "iptables-legacy-save", "ip6tables-legacy-save")}

    def _run(self, argv):
        return self._commands.read(argv)

    def _saves(self, variant):
        """{command prefix: save output} of both families of one iptables variant."""
        outputs = {}
        for prefix in ("iptables", "ip6tables"):
            path = self._paths["%s-%s-save" % (prefix, variant)]
            if path:
                outputs[prefix] = self._run([path])
        return outputs

    def report(self, interfaces=()):
        iptables = {"backend": None, "version": None, "other_backend": None, "other_backend_has_rules": False}
        if self._paths["iptables"]:
            version = self._run([self._paths["iptables"], "--version"]).strip()
            variant = variant_of_version(version)
            iptables["version"] = version
            iptables["backend"] = {"iptables-nft": "nft", "iptables-legacy": "legacy"}.get(variant)
        nft_saves = self._saves("nft")
        if iptables["backend"] is not None:
            other = "legacy" if iptables["backend"] == "nft" else "nft"
            iptables["other_backend"] = other
            other_saves = nft_saves if other == "nft" else self._saves("legacy")
            iptables["other_backend_has_rules"] = any(holds_rules(text) for text in other_saves.values())
        xtables = xtables_tables(nft_saves)
        nftables = {"available": self._paths["nft"] is not None, "base_chains": [],
                    "has_input_output_base_chains": False}
        if self._paths["nft"]:
            chains = native_base_chains(self._run([self._paths["nft"], "-j", "list", "chains"]), xtables)
            nftables["base_chains"] = chains
            nftables["has_input_output_base_chains"] = bool(chains)
        report = {"iptables": iptables, "nftables": nftables, "firewalld_running": firewalld_running()}
        if report["firewalld_running"]:
            report["firewalld"] = self.firewalld(interfaces)
        return report

    def firewalld(self, interfaces):
        """What firewalld says of itself and of the zone of each interface; where it does not
        answer, ``running`` is false and ``error`` says why."""
        from ansible_collections.nodelatency.monitor.plugins.module_utils import _firewalld
        try:
            daemon = _firewalld.Daemon(self._module)
            daemon.require_running()
            return _firewalld.facts(daemon, interfaces)
        except NlmError as error:
            return {"running": False, "error": str(error)}


# --- the nlm agent ----------------------------------------------------------------

# Where the nlm role installs the nlm agent (roles/nlm/vars/main.yml): the role learns
# from these facts whether there is an agent to take away, without a look of its own.
AGENT_UNIT = "/etc/systemd/system/nlm-agent.service"
AGENT_DIR = "/opt/nodelatency-monitor/agent"
AGENT_USER = "nlm-agent"


def agent_report(unit=AGENT_UNIT, directory=AGENT_DIR, user=AGENT_USER):
    """Which parts of the nlm agent are on the node; ``installed`` when any is, even a
    part an interrupted install or removal left behind."""
    try:
        pwd.getpwnam(user)
        has_user = True
    except KeyError:
        has_user = False
    report = {"unit": os.path.lexists(unit), "code": os.path.lexists(directory), "user": has_user}
    report["installed"] = any(report.values())
    return report


def gather(module, ipr_class):
    """The ``nlm`` facts; ``ipr_class`` is pyroute2's IPRoute."""
    params = module.params
    with ipr_class() as ipr:
        interfaces = read_interfaces(ipr)
        node_ip = ipaddress.ip_address(params["node_ip"]) if params.get("node_ip") else None
        node_ip_source = "node_ip" if node_ip is not None else None
        if node_ip is None and not params.get("transport_interface") and not params.get("transport_interface_cidrs"):
            node_ip = default_route_source(ipr, interfaces)
            node_ip_source = "default_route" if node_ip is not None else None
    name, selected_by = select_transport(interfaces, params.get("transport_interface"),
                                         params.get("transport_interface_cidrs"), node_ip)
    if selected_by == "node_ip" and node_ip_source == "default_route":
        selected_by = "default_route"
    transport = interface_report(interfaces, name) if name else {
        "name": None, "exists": False, "index": None, "state": None, "mtu": None, "ipv4": [], "ipv6": []}
    transport.update(selected_by=selected_by, node_ip=str(node_ip) if node_ip is not None else None)
    return {
        "gateway_interface": interface_report(interfaces, params["gateway_interface"]),
        "transport_interface": transport,
        "firewall": FirewallProbe(module).report(sorted(interface.name for interface in interfaces
                                                        if interface.name != "lo")),
        "agent": agent_report(),
    }
