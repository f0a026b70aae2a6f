# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: nlm_verdict_remotes
short_description: Which nodes' firewalls to read, and for which peer addresses, to explain the failed pairs
version_added: 0.1.0
author:
  - nodelatency.monitor contributors (@nodelatency)
description:
  - For every pair that got no reply at all, both ends' firewalls may be the reason. This filter names the
    nodes to ask with M(nodelatency.monitor.nlm_icmp_allow_info) and the O(nodelatency.monitor.nlm_icmp_allow_info#module:remotes)
    each must judge - the prober the addresses it got no reply from, the responder the addresses of the nodes
    that got none from it - so that only the nodes of failed pairs are read, and nothing when every pair works.
  - The reports then give every pair its verdict from the results, set as each node's C(nlm_icmp_paths) fact
    (see the nlm role's C(nlm_verdicts)).
extends_documentation_fragment:
  - nodelatency.monitor.latency_input
options:
  target:
    description:
      - Which addresses of a responder's peers to judge besides those the other nodes probed, as
        M(nodelatency.monitor.nlm_probe)'s option (C(gateway), C(transport) or C(auto)); read only from
        C(hostvars).
    type: str
    default: auto
seealso:
  - module: nodelatency.monitor.nlm_icmp_allow_info
  - plugin: nodelatency.monitor.nlm_latency_matrix
    plugin_type: filter
"""

EXAMPLES = r"""
---
- name: Work out which firewalls to read
  ansible.builtin.set_fact:
    remotes: "{{ hostvars | nodelatency.monitor.nlm_verdict_remotes(hosts=ansible_play_hosts_all) }}"
  run_once: true

- name: Read them
  nodelatency.monitor.nlm_icmp_allow_info:
    interfaces: [antrea-gw0]
    remotes: "{{ remotes[inventory_hostname] }}"
  register: paths
  when: inventory_hostname in remotes

- name: Keep what they said for the reports
  ansible.builtin.set_fact:
    nlm_icmp_paths: "{{ paths.icmp_allow.remotes | default([]) }}"
"""

RETURN = r"""
_value:
  description: Per node to read, the peer addresses to judge, sorted; empty when every pair got a reply.
  type: dict
  sample: {n1: [198.19.2.1], n2: [198.19.1.1]}
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._peer_addresses import peer_addresses
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_filter import matrix_for
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_gate import verdict_remotes


def nlm_verdict_remotes(data, hosts=None, target="auto"):
    if target not in ("auto", "gateway", "transport"):
        raise AnsibleFilterError("nlm_verdict_remotes: target must be auto, gateway or transport, got %r" % (target,))
    matrix = matrix_for("nlm_verdict_remotes", data, hosts)
    if isinstance(data, Mapping) and "kind" not in data and not ("source" in data and "peers" in data):
        def own(node):
            return peer_addresses(node, data[node], target) if node in data else []
    else:
        own = None
    return verdict_remotes(matrix, own)


class FilterModule:
    def filters(self):
        return {"nlm_verdict_remotes": nlm_verdict_remotes}
