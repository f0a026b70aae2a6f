# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: nlm_latency_heatmap_html
short_description: Latency report as a self-contained HTML page with an SVG heatmap
version_added: 0.1.0
author:
  - nodelatency.monitor contributors (@nodelatency)
description:
  - Renders one HTML page with inline CSS and SVG only - no script, and a content security policy that
    forbids fetching anything - so it can be opened from a file, mailed or archived.
  - Per IP family an SVG heatmap of the average RTT (row is the source, column the target), coloured on
    a logarithmic scale shared by all families, with a legend. Pairs with lost replies have a red frame,
    pairs without reply are red with a white cross, probe errors dark grey, pairs without data hatched.
    Every cell has a tooltip with the pair's address, RTTs, replies and error.
  - Below the heatmaps, the per-node summary and a table of the worst pairs with every figure.
  - Cells scale from 56 pixels (values written in) down to 8 pixels, so 3 and 100 nodes both fit a screen.
  - Every name and message from the inventory or the probe is HTML-escaped.
extends_documentation_fragment:
  - nodelatency.monitor.latency_input
options:
  title:
    description: The page title and heading.
    type: str
    default: Node latency
  details_rows:
    description:
      - How many of the worst pairs the details table lists. At 100 nodes there are 9900 pairs per family;
        the tooltips and P(nodelatency.monitor.nlm_node_latency_stats#filter) have them all.
    type: int
    default: 200
seealso:
  - plugin: nodelatency.monitor.nlm_latency_table
    plugin_type: filter
"""

EXAMPLES = r"""
---
- name: Write the heatmap page on the controller
  ansible.builtin.copy:
    content: "{{ hostvars | nodelatency.monitor.nlm_latency_heatmap_html(hosts=ansible_play_hosts_all, title='Lab latency') }}"
    dest: /var/tmp/latency.html
    mode: "0644"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description: The HTML document.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_filter import matrix_for, whole_number
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_html import render_html


def nlm_latency_heatmap_html(data, hosts=None, title="Node latency", details_rows=200):
    name = "nlm_latency_heatmap_html"
    if not isinstance(title, str):
        raise AnsibleFilterError("%s: title must be a string, got %s" % (name, type(title).__name__))
    return render_html(matrix_for(name, data, hosts), title=title,
                       details_rows=whole_number(name, "details_rows", details_rows, 0))


class FilterModule:
    def filters(self):
        return {"nlm_latency_heatmap_html": nlm_latency_heatmap_html}
