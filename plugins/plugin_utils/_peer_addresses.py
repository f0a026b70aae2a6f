# -*- coding: utf-8 -*-
# Copyright: contributors to nodelatency.monitor
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which addresses of a peer are probed: one resolution for nlm_probe's action plugin
and the nlm agent's peers file (the nlm_agent_peers filter)."""

from __future__ import annotations

import ipaddress
import socket

from ansible.errors import AnsibleActionFail

IP_VERSIONS = {"ipv4": 4, "ipv6": 6}
TRAFFIC_MODES = {"encap": "gateway", "noencap": "gateway", "hybrid": "gateway", "networkpolicyonly": "transport"}
# The only variables and facts of a peer that tell its addresses (see _address_sources).
PEER_VARIABLES = ("nlm_probe_address", "nlm_traffic_mode", "nlm_gateway_ipv4", "nlm_gateway_ipv6",
                  "nlm_transport_ipv4", "nlm_transport_ipv6", "ansible_host")
PEER_FACTS = ("nlm", "default_ipv4", "default_ipv6")


def _ip_version(text):
    try:
        return ipaddress.ip_address(str(text)).version
    except ValueError:
        return None


def _as_list(value):
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [item for item in value if item not in (None, "")]
    return [value]


def _nlm_facts_addresses(nlm, kind):
    """Addresses of the gateway or transport interface in a peer's ansible_facts.nlm (from nlm_facts).

    nlm_facts lists them with their prefix length ('198.18.1.1/24').
    """
    interface = nlm.get("%s_interface" % kind) if isinstance(nlm, dict) else None
    if not isinstance(interface, dict):
        return []
    return [str(address).split("/", 1)[0]
            for family in ("ipv4", "ipv6") for address in _as_list(interface.get(family))]


def _address_sources(host_vars, kind):
    """Candidate addresses of one peer for the gateway or transport kind, best source first."""
    facts = host_vars.get("ansible_facts") or {}
    return [
        [host_vars.get("nlm_%s_ipv4" % kind), host_vars.get("nlm_%s_ipv6" % kind)],
        _nlm_facts_addresses(facts.get("nlm"), kind),
        [(facts.get("default_ipv4") or {}).get("address"), (facts.get("default_ipv6") or {}).get("address")],
        [host_vars.get("ansible_host")],
    ]


def address_kind(host, host_vars, target):
    """'gateway' or 'transport': which addresses of this peer to probe for the target option."""
    if target != "auto":
        return target
    mode = host_vars.get("nlm_traffic_mode")
    if mode:
        kind = TRAFFIC_MODES.get(str(mode).lower())
        if kind is None:
            raise AnsibleActionFail(
                "nlm_probe: host %s has nlm_traffic_mode %r; use encap, noEncap, hybrid or networkPolicyOnly"
                % (host, mode))
        return kind
    gateway_known = any(_as_list(source) for source in _address_sources(host_vars, "gateway")[:2])
    return "gateway" if gateway_known else "transport"


def peer_addresses(host, host_vars, target, versions=(4, 6)):
    """The addresses to probe on one peer, of the given IP versions: nlm_probe_address as given,
    else per family the first source that has one."""
    explicit = _as_list(host_vars.get("nlm_probe_address"))
    if explicit:
        # a name rather than an address is passed on for the module to report
        return [str(address) for address in explicit if _ip_version(address) in versions + (None,)]
    chosen = {}
    for source in _address_sources(host_vars, address_kind(host, host_vars, target)):
        for candidate in _as_list(source):
            version = _ip_version(candidate)
            if version in versions and version not in chosen:
                chosen[version] = str(ipaddress.ip_address(str(candidate)))
    return [chosen[version] for version in sorted(chosen)]


def addresses_by_name(host, host_vars, versions=(4, 6)):
    """The last source of a peer's addresses: its ``ansible_host`` (when a name) or its
    inventory name, resolved on the controller as ping would resolve it (getaddrinfo),
    one address per family. [] when neither resolves."""
    names = [name for name in (host_vars.get("ansible_host"), host)
             if name and isinstance(name, str) and _ip_version(name) is None]
    for name in dict.fromkeys(names):
        try:
            found = socket.getaddrinfo(name, None, type=socket.SOCK_RAW)
        except (socket.gaierror, UnicodeError, OSError):
            continue
        chosen = {}
        for _family, _type, _proto, _canonical, address in found:
            text = address[0].split("%", 1)[0]
            version = _ip_version(text)
            if version in versions and version not in chosen:
                chosen[version] = str(ipaddress.ip_address(text))
        if chosen:
            return [chosen[version] for version in sorted(chosen)]
    return []
