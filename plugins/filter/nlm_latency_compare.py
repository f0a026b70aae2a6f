# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: nlm_latency_compare
short_description: What got worse and what got better since an earlier run
version_added: 0.1.0
author:
  - nodelatency.monitor contributors (@nodelatency)
description:
  - Compares every pair and family measured now with the same pair in O(previous), for example the
    NodeLatencyStats JSON an earlier run of the nlm role wrote (the role does with C(nlm_compare_to)).
  - A verdict that went from working (ok or lossy) to failed, or back, is one line; between working ones, a
    loss that moved by more than O(loss_delta), and an average RTT that moved by at least O(rtt_ratio) times
    and O(rtt_delta_ms) both.
extends_documentation_fragment:
  - nodelatency.monitor.latency_input
options:
  previous:
    description:
      - The earlier run, in any form the input takes (a NodeLatencyStats document or list, a list of
        C(nlm_latency) facts, a matrix). A document of this collection keeps each pair's verdict.
    type: raw
    required: true
  rtt_ratio:
    description: How many times slower (or faster) the average RTT must be to count.
    type: float
    default: 1.5
  rtt_delta_ms:
    description: By how many milliseconds at least the average RTT must move to count.
    type: float
    default: 0.1
  loss_delta:
    description: By how much (a ratio, 0 to 1) the loss must move to count.
    type: float
    default: 0.05
seealso:
  - plugin: nodelatency.monitor.nlm_latency_slo
    plugin_type: filter
  - plugin: nodelatency.monitor.nlm_node_latency_stats
    plugin_type: filter
"""

EXAMPLES = r"""
---
- name: Show what changed since yesterday's run
  ansible.builtin.debug:
    msg: "{{ hostvars | nodelatency.monitor.nlm_latency_compare(lookup('ansible.builtin.file', '/srv/nlm/yesterday.json') | from_json,
             hosts=ansible_play_hosts_all) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The changes, each a list of lines, C(source -> target family) first.
  type: dict
  contains:
    worse:
      description: Pairs whose verdict failed, or whose loss or average RTT grew.
      type: list
      elements: str
      sample: ["n1 -> n2 ipv4: ok -> blocked there (n2's firewall drops the echo-request in: ...)"]
    better:
      description: Pairs that work again, or whose loss or average RTT shrank.
      type: list
      elements: str
      sample: ["n3 -> n1 ipv6: avg 20.4 -> 0.31 ms"]
    new:
      description: Pairs with data now and none before.
      type: list
      elements: str
    gone:
      description: Pairs with data before and none now.
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_filter import matrix_for
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_gate import compare


def _threshold(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise AnsibleFilterError("nlm_latency_compare: %s must be a number of 0 or more, got %r" % (name, value))
    return float(value)


def nlm_latency_compare(data, previous=None, hosts=None, rtt_ratio=1.5, rtt_delta_ms=0.1, loss_delta=0.05):
    if previous is None:
        raise AnsibleFilterError("nlm_latency_compare: previous (the earlier run) is required")
    matrix = matrix_for("nlm_latency_compare", data, hosts)
    before = matrix_for("nlm_latency_compare (previous)", previous, None)
    return compare(matrix, before, _threshold("rtt_ratio", rtt_ratio), _threshold("rtt_delta_ms", rtt_delta_ms),
                   _threshold("loss_delta", loss_delta))


class FilterModule:
    def filters(self):
        return {"nlm_latency_compare": nlm_latency_compare}
