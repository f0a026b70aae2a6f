# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: nlm_latency_matrix
short_description: Every host's nlm_latency facts as one latency matrix
version_added: 0.1.0
author:
  - nodelatency.monitor contributors (@nodelatency)
description:
  - Collects the C(nlm_latency) facts that M(nodelatency.monitor.nlm_probe) sets on each host into one
    matrix of sources and targets per IP family, with a status for every pair.
  - A pair's status is V(ok) (every reply came), V(lossy) (some replies lost), V(down) (no reply),
    V(error) (no reply and the probe says why), or V(missing) (no measurement, because the source did not report or
    did not probe that target in that family).
  - The other report filters accept the same input or this filter's result, so the matrix can be built
    once and rendered several times.
options:
  _input:
    description:
      - C(hostvars), whose hosts' C(ansible_facts.nlm_latency) is read, else their top-level C(nlm_latency)
        variable (hosts without either are skipped);
        or a list of C(nlm_latency) facts; or one C(nlm_latency) fact; or a matrix made by this filter,
        which is returned unchanged.
    type: raw
    required: true
  hosts:
    description:
      - The hosts expected to report, for example C(ansible_play_hosts_all). Only these hosts are read
        from C(hostvars), and those among them without facts still get a row, every pair V(missing).
      - By default every host with facts is a source, and every node named as a peer is a target.
    type: list
    elements: str
seealso:
  - plugin: nodelatency.monitor.nlm_latency_summary
    plugin_type: filter
  - plugin: nodelatency.monitor.nlm_latency_table
    plugin_type: filter
  - module: nodelatency.monitor.nlm_probe
"""

EXAMPLES = r"""
---
- name: Build the matrix once from every play host
  ansible.builtin.set_fact:
    latency_matrix: "{{ hostvars | nodelatency.monitor.nlm_latency_matrix(hosts=ansible_play_hosts_all) }}"
  run_once: true

- name: Show the average RTT from n1 to n2 over IPv4
  ansible.builtin.debug:
    msg: "{{ latency_matrix.matrix.ipv4.n1.n2.avg_rtt_ms }} ms"
  run_once: true

- name: List the pairs that lost replies
  ansible.builtin.debug:
    msg: "{{ latency_matrix.pairs | selectattr('status', 'in', ['lossy', 'down', 'error']) | list }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The matrix.
  type: dict
  contains:
    kind:
      description: Always V(NlmLatencyMatrix); how the other report filters recognise a matrix.
      type: str
    nodes:
      description: Every source and target, in natural order (V(n2) before V(n10)).
      type: list
      elements: str
    families:
      description: The IP families measured, V(ipv4) before V(ipv6).
      type: list
      elements: str
    probes:
      description: Per source that reported, the C(started), C(duration_seconds) and C(settings) of its run.
      type: dict
    pairs:
      description:
        - Every measured target, sorted by source, target, family and address. Each carries C(source),
          C(target), C(family), C(address), C(status), C(sent), C(received), C(loss), C(min_rtt_ms),
          C(avg_rtt_ms), C(max_rtt_ms), C(median_rtt_ms), C(stddev_rtt_ms), C(jitter_ms), C(p50_rtt_ms),
          C(p95_rtt_ms), C(p99_rtt_ms), C(rtts_ms),
          C(last_rtt_ms) (the last reply's RTT), C(last_send_time), C(last_recv_time), C(error),
          C(duplicates) and C(late), as the probe reported them (0 when its compact result left them out).
        - C(rtts_ms) is empty and C(last_send_time) and C(last_recv_time) are null unless the probe
          ran with O(nodelatency.monitor.nlm_probe#module:keep_rtts=true); C(last_rtt_ms) is there either way.
        - A target that is not an address has a null family and appears here only.
      type: list
      elements: dict
    matrix:
      description:
        - C(matrix[family][source][target]) is the pair, for every source and target but the node itself.
          Pairs without measurement are there with status V(missing). When a peer has several addresses
          of one family, the cell holds the worst.
      type: dict
"""

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_filter import matrix_for


def nlm_latency_matrix(data, hosts=None):
    return matrix_for("nlm_latency_matrix", data, hosts)


class FilterModule:
    def filters(self):
        return {"nlm_latency_matrix": nlm_latency_matrix}
