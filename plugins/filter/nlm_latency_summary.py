# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: nlm_latency_summary
short_description: Per-node latency summary, like kubectl get nodelatencystats
version_added: 0.1.0
author:
  - nodelatency.monitor contributors (@nodelatency)
description:
  - One row per node with what Antrea's C(kubectl get nodelatencystats) shows (entries, average and
    maximum latency) and the loss and problems behind them.
extends_documentation_fragment:
  - nodelatency.monitor.latency_input
options:
  hosts:
    description:
      - The hosts expected to report, for example C(ansible_play_hosts_all); those without facts get a
        row saying so. See P(nodelatency.monitor.nlm_latency_matrix#filter).
    type: list
    elements: str
seealso:
  - plugin: nodelatency.monitor.nlm_latency_matrix
    plugin_type: filter
  - plugin: nodelatency.monitor.nlm_latency_table
    plugin_type: filter
"""

EXAMPLES = r"""
---
- name: Fail when a node lost replies
  ansible.builtin.assert:
    that: item.loss == 0
    fail_msg: "{{ item.node }}: {{ item.notes }}"
    quiet: true
  loop: "{{ hostvars | nodelatency.monitor.nlm_latency_summary(hosts=ansible_play_hosts_all) }}"
  loop_control:
    label: "{{ item.node }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: One row per node, in natural order.
  type: list
  elements: dict
  contains:
    node:
      description: The node.
      type: str
    probed:
      description: Whether the node reported facts.
      type: bool
    entries:
      description: Peers the node reported on (Antrea's NUM LATENCY ENTRIES).
      type: int
    targets:
      description: Target addresses the node reported on.
      type: int
    avg_rtt_ms:
      description: Mean of the per-target average RTTs, over targets that answered; null if none did.
      type: float
    max_rtt_ms:
      description: The slowest single reply; null if none came.
      type: float
    sent:
      description: Echo requests the node sent.
      type: int
    received:
      description: Replies the node received in time.
      type: int
    loss:
      description: Share of requests without a reply, 0 to 1; null when nothing was sent.
      type: float
    lossy:
      description: Targets with some replies lost.
      type: int
    down:
      description: Targets that never answered, without a known reason.
      type: int
    errors:
      description: Targets that never answered, with a reason from the probe.
      type: int
    notes:
      description: The non-zero counts above in words, or V(no data) for a node without facts.
      type: str
      sample: 1 lossy, 2 no reply, 1 failed
"""

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report import summarize
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_filter import matrix_for


def nlm_latency_summary(data, hosts=None):
    return summarize(matrix_for("nlm_latency_summary", data, hosts))


class FilterModule:
    def filters(self):
        return {"nlm_latency_summary": nlm_latency_summary}
