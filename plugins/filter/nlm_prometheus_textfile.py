# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: nlm_prometheus_textfile
short_description: Latency metrics in Prometheus text format, for node_exporter's textfile collector
version_added: 0.1.0
author:
  - nodelatency.monitor contributors (@nodelatency)
description:
  - Renders the last probe run of one source node (or of all) in the Prometheus text exposition format,
    every metric a gauge with C(HELP) and C(TYPE) lines and a unit-suffixed name.
  - Per target, labelled C(source_node), C(target_node), C(target_ip) and C(family)
    (empty for a target that is not an address) -
    C(nlm_rtt_seconds) with label C(stat) V(min), V(avg), V(max), V(median), V(stddev), V(jitter) and
    V(last) (the last reply); C(nlm_probe_loss_ratio) (0 to 1); C(nlm_probe_requests_sent);
    C(nlm_probe_replies_received); C(nlm_probe_success) (1 when at least one reply came and the probe reported
    no error); C(nlm_probe_last_send_timestamp_seconds) and C(nlm_probe_last_recv_timestamp_seconds).
  - Per source node, labelled C(source_node) - C(nlm_probe_run_timestamp_seconds) (when the run started, for
    staleness alerts) and C(nlm_probe_run_duration_seconds).
  - Figures the probe could not measure (RTTs without replies, times that did not happen) have no sample.
    Pairs without measurement have none at all.
  - node_exporter may read the file while it is written; write it with a temporary file and a rename,
    as M(ansible.builtin.copy) and M(ansible.builtin.template) do, into the directory given to
    C(--collector.textfile.directory), with a C(.prom) suffix.
options:
  _input:
    description:
      - C(hostvars), a list of C(nlm_latency) facts, one fact (for example a host's own C(nlm_latency)), or a
        matrix from P(nodelatency.monitor.nlm_latency_matrix#filter).
    type: raw
    required: true
  node:
    description:
      - The source node whose measurements to render, usually C(inventory_hostname). A node without facts
        gives the C(HELP) and C(TYPE) lines only, so an old file does not linger with stale figures.
      - By default every source node is rendered, for one file on a central node.
    type: str
  hosts:
    description:
      - The hosts to read from C(hostvars). See P(nodelatency.monitor.nlm_latency_matrix#filter).
    type: list
    elements: str
seealso:
  - plugin: nodelatency.monitor.nlm_node_latency_stats
    plugin_type: filter
  - name: node_exporter textfile collector
    description: How node_exporter reads C(.prom) files.
    link: https://github.com/prometheus/node_exporter#textfile-collector
"""

EXAMPLES = r"""
---
- name: Publish each node's latency to its node_exporter
  ansible.builtin.copy:
    content: "{{ ansible_facts.nlm_latency | nodelatency.monitor.nlm_prometheus_textfile(node=inventory_hostname) }}"
    dest: /var/lib/node_exporter/textfile_collector/nlm_latency.prom
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The exposition text, ending in a newline.
  type: str
  sample: |
    # HELP nlm_rtt_seconds Round-trip time of ICMP echo from the source node to the target IP over the last run, by statistic.
    # TYPE nlm_rtt_seconds gauge
    nlm_rtt_seconds{source_node="n1",target_node="n2",target_ip="198.18.0.2",family="ipv4",stat="avg"} 0.020258
    # HELP nlm_probe_loss_ratio Share of ICMP echo requests of the last run without a reply in time (0 to 1).
    # TYPE nlm_probe_loss_ratio gauge
    nlm_probe_loss_ratio{source_node="n1",target_node="n2",target_ip="198.18.0.2",family="ipv4"} 0.0
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_filter import matrix_for
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_prometheus import prometheus_textfile


def nlm_prometheus_textfile(data, node=None, hosts=None):
    if node is not None and not isinstance(node, str):
        raise AnsibleFilterError("nlm_prometheus_textfile: node must be a host name, got %s" % type(node).__name__)
    return prometheus_textfile(matrix_for("nlm_prometheus_textfile", data, hosts), node=node)


class FilterModule:
    def filters(self):
        return {"nlm_prometheus_textfile": nlm_prometheus_textfile}
