# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: nlm_node_latency_stats
short_description: Latency as Antrea NodeLatencyStats documents, with the probe's richer figures
version_added: 0.1.0
author:
  - nodelatency.monitor contributors (@nodelatency)
description:
  - Returns a C(NodeLatencyStatsList) (API version C(stats.antrea.io/v1alpha1)) with one C(NodeLatencyStats)
    per node that reported, named after it, in the shape C(kubectl get nodelatencystats -o json) shows -
    C(peerNodeLatencyStats[].nodeName), and C(peerNodeLatencyStats[].targetIPLatencyStats[]) with
    C(targetIP), C(lastSendTime), C(lastRecvTime) and C(lastMeasuredRTTNanoseconds) (the RTT of the last
    reply; left out, as Antrea does, when no reply came).
  - nlm_probe's default, compact result has no time stamps per target (they come with
    O(nodelatency.monitor.nlm_probe#module:keep_rtts=true)). Then C(lastSendTime), when a request was sent, and
    C(lastRecvTime), when a reply came, are the end of the node's probe run (C(probe.started) +
    C(probe.durationSeconds)), never earlier than the real times and at most the run's length later, and
    C(rttsNanoseconds) is empty.
  - Each target also carries what Antrea does not measure, always present and null when unknown -
    C(family), C(status), C(sent), C(received), C(lossRatio), C(minRTTNanoseconds), C(avgRTTNanoseconds),
    C(maxRTTNanoseconds), C(medianRTTNanoseconds), C(stddevRTTNanoseconds), C(jitterNanoseconds),
    C(rttsNanoseconds), C(duplicates), C(late) and C(error). Each document carries C(probe) with the run's
    C(started), C(durationSeconds) and C(settings); C(metadata.creationTimestamp) is the run's start.
  - Tools that read Antrea's objects ignore the extra fields. Pipe the result through
    C(ansible.builtin.to_nice_json) to write one file per run.
extends_documentation_fragment:
  - nodelatency.monitor.latency_input
options:
  hosts:
    description:
      - The hosts to read from C(hostvars), for example C(ansible_play_hosts_all). Hosts without facts get
        no document, as in Antrea. See P(nodelatency.monitor.nlm_latency_matrix#filter).
    type: list
    elements: str
seealso:
  - plugin: nodelatency.monitor.nlm_latency_matrix
    plugin_type: filter
"""

EXAMPLES = r"""
---
- name: Write the run's NodeLatencyStats to one file on the controller
  ansible.builtin.copy:
    content: "{{ hostvars | nodelatency.monitor.nlm_node_latency_stats(hosts=ansible_play_hosts_all) | ansible.builtin.to_nice_json }}\n"
    dest: "/var/tmp/nodelatencystats-{{ now(utc=true, fmt='%Y%m%dT%H%M%SZ') }}.json"
    mode: "0644"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description: The list of documents.
  type: dict
  sample:
    apiVersion: stats.antrea.io/v1alpha1
    kind: NodeLatencyStatsList
    metadata: {}
    items:
      - apiVersion: stats.antrea.io/v1alpha1
        kind: NodeLatencyStats
        metadata:
          name: n1
          creationTimestamp: "2026-11-25T22:50:00.000000Z"
        peerNodeLatencyStats:
          - nodeName: n2
            targetIPLatencyStats:
              - targetIP: 198.18.0.2
                lastSendTime: "2026-11-25T22:50:04.000010Z"
                lastRecvTime: "2026-11-25T22:50:04.000510Z"
                lastMeasuredRTTNanoseconds: 20266000
                family: ipv4
                status: ok
                sent: 5
                received: 5
                lossRatio: 0.0
                minRTTNanoseconds: 20250000
                avgRTTNanoseconds: 20258000
                maxRTTNanoseconds: 20266000
                medianRTTNanoseconds: 20258000
                stddevRTTNanoseconds: 5657
                jitterNanoseconds: 4000
                rttsNanoseconds: [20250000, 20254000, 20258000, 20262000, 20266000]
                duplicates: 0
                late: 0
                error: null
        probe:
          started: "2026-11-25T22:50:00.000000Z"
          durationSeconds: 4.5
          settings: {count: 5, interval: 1.0, timeout: 1.0, payload_size: 56, privileged: true}
"""

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_filter import matrix_for
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_stats import node_latency_stats


def nlm_node_latency_stats(data, hosts=None):
    return node_latency_stats(matrix_for("nlm_node_latency_stats", data, hosts))


class FilterModule:
    def filters(self):
        return {"nlm_node_latency_stats": nlm_node_latency_stats}
