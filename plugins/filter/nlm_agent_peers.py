# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: nlm_agent_peers
short_description: The peers file of one node's nlm agent, from the inventory
version_added: 0.1.0
author:
  - nodelatency.monitor contributors (@nodelatency)
description:
  - Returns the content of the nlm agent's peers file for O(source) - its settings and every other host of
    O(hosts) with the addresses to probe - as a dict to pass through C(ansible.builtin.to_nice_json).
  - The addresses are resolved as M(nodelatency.monitor.nlm_probe) resolves them - C(nlm_probe_address),
    the C(nlm_gateway_*)/C(nlm_transport_*) variables, the facts of M(nodelatency.monitor.nlm_facts), the
    default addresses of C(setup), C(ansible_host), and last the host's name resolved on the controller - so
    that the agent probes what the probe module would.
  - A host without any address is left out and listed in the result's C(unresolved), for the role to report.
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  source:
    description: The inventory name of the node whose file this is.
    type: str
    required: true
  hosts:
    description: The hosts that may be peers, for example C(ansible_play_hosts_all).
    type: list
    elements: str
    required: true
  target:
    description: C(gateway), C(transport) or C(auto), as the probe module's option.
    type: str
    default: auto
  ip_versions:
    description: The families to probe.
    type: list
    elements: str
    default: [ipv4, ipv6]
  settings:
    description:
      - C(interval), C(max_peers), C(count), C(probe_interval), C(timeout), C(payload_size), and C(rules),
        the owned rules the agent watches (C(interfaces), C(roles), C(ip_versions), C(backend), C(chain_mode),
        C(comment), C(repair)).
    type: dict
    default: {}
"""

EXAMPLES = r"""
---
- name: Write this node's peers file
  ansible.builtin.copy:
    content: >-
      {{ hostvars | nodelatency.monitor.nlm_agent_peers(source=inventory_hostname, hosts=ansible_play_hosts_all,
         settings={'interval': 60, 'max_peers': 10}) | ansible.builtin.to_nice_json }}
    dest: /etc/nodelatency-monitor/peers.json
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The peers file's content.
  type: dict
  sample:
    source: n1
    interval: 60
    peers:
      - name: n2
        address: [198.19.2.1, "2001:db8:1:2::1"]
    unresolved: []
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._peer_addresses import (
    IP_VERSIONS,
    addresses_by_name,
    peer_addresses,
)

SETTING_NAMES = ("interval", "max_peers", "count", "probe_interval", "timeout", "payload_size", "rules")


def nlm_agent_peers(hostvars, source=None, hosts=None, target="auto", ip_versions=("ipv4", "ipv6"), settings=None):
    if not isinstance(source, str) or not source:
        raise AnsibleFilterError("nlm_agent_peers: source must be the node's inventory name")
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("nlm_agent_peers: hosts must be a list of inventory names, got %r" % (hosts,))
    unknown = [version for version in ip_versions if version not in IP_VERSIONS]
    if unknown or not ip_versions:
        raise AnsibleFilterError("nlm_agent_peers: ip_versions must be ipv4 and/or ipv6, got %r" % (list(ip_versions),))
    settings = dict(settings or {})
    extra = sorted(set(settings) - set(SETTING_NAMES))
    if extra:
        raise AnsibleFilterError("nlm_agent_peers: unknown settings %s (known: %s)"
                                 % (", ".join(extra), ", ".join(SETTING_NAMES)))
    versions = tuple(IP_VERSIONS[version] for version in ip_versions)
    peers, unresolved = [], []
    for host in hosts:
        if host == source:
            continue
        addresses = peer_addresses(host, hostvars[host], target, versions) or addresses_by_name(
            host, hostvars[host], versions)
        if addresses:
            peers.append({"name": host, "address": addresses})
        else:
            unresolved.append(host)
    content = {"source": source}
    content.update(settings)
    content.update({"peers": peers, "unresolved": unresolved})
    return content


class FilterModule:
    def filters(self):
        return {"nlm_agent_peers": nlm_agent_peers}
