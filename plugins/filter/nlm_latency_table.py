# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: nlm_latency_table
short_description: Latency report as a text table for the terminal
version_added: 0.1.0
author:
  - nodelatency.monitor contributors (@nodelatency)
description:
  - Renders the per-node summary (as in P(nodelatency.monitor.nlm_latency_summary#filter)), then per IP
    family the matrix of average RTT in milliseconds (row is the source, column the target), then the worst
    pairs with their loss, RTT or error.
  - Matrix cells are five characters and a flag, V(*) when some replies were lost; V(lost) means no reply,
    V(error) a probe error, V(?) no data and V(-) the node itself.
  - Up to ten nodes, the matrix fits 80 columns. Wider matrices are split into blocks of columns that fit
    O(width). When a node name is longer than six characters, nodes are numbered in the summary and the
    matrix uses the numbers. Above O(matrix_max_nodes) nodes the matrix is left out and the summary and
    worst pairs remain.
extends_documentation_fragment:
  - nodelatency.monitor.latency_input
options:
  width:
    description: Terminal width the matrix blocks must fit.
    type: int
    default: 80
  matrix_max_nodes:
    description: Above this many nodes the matrix is left out.
    type: int
    default: 20
  top:
    description: How many of the worst pairs to list; V(0) lists none.
    type: int
    default: 5
seealso:
  - plugin: nodelatency.monitor.nlm_latency_heatmap_html
    plugin_type: filter
"""

EXAMPLES = r"""
---
- name: Print the latency table at the end of the run
  ansible.builtin.debug:
    msg: "{{ (hostvars | nodelatency.monitor.nlm_latency_table(hosts=ansible_play_hosts_all)).splitlines() }}"
  run_once: true

- name: Write it to a file for a wide terminal
  ansible.builtin.copy:
    content: "{{ hostvars | nodelatency.monitor.nlm_latency_table(width=200, matrix_max_nodes=50, top=20) }}"
    dest: /var/tmp/latency.txt
    mode: "0644"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description: The report, lines separated and ended by newlines.
  type: str
  sample: |
    Node latency: 3 nodes, 3 probed, ipv4, started 2026-11-25 22:50:00 UTC

    NODE NAME  ENTRIES  AVG LATENCY  MAX LATENCY   LOSS  NOTES
    n1               2      10.34ms      20.27ms  20.0%  1 lossy
    n2               2      20.37ms      20.41ms   0.0%
    n3               2      0.308ms      0.316ms  50.0%  1 no reply

    Average RTT in ms, ipv4 (row: from, column: to)
    from    n1     n2     n3
    n1       -  20.26  0.424*
    n2   20.40      -  20.34
    n3   0.308   lost      -

    * some replies lost, lost: no reply, error: probe failed, ?: no data, -: itself

    Worst 2 pairs (status, loss, then average RTT):
      n3 -> n2  198.18.0.2  replies 0/5
      n1 -> n3  198.18.0.3  replies 3/5  avg 0.424ms  max 0.428ms
"""

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_filter import matrix_for, whole_number
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_text import render_table

# Narrower than this, not even one matrix column fits next to the row labels.
_MIN_WIDTH = 20


def nlm_latency_table(data, hosts=None, width=80, matrix_max_nodes=20, top=5):
    name = "nlm_latency_table"
    return render_table(matrix_for(name, data, hosts),
                        width=whole_number(name, "width", width, _MIN_WIDTH),
                        matrix_max_nodes=whole_number(name, "matrix_max_nodes", matrix_max_nodes, 0),
                        top=whole_number(name, "top", top, 0))


class FilterModule:
    def filters(self):
        return {"nlm_latency_table": nlm_latency_table}
