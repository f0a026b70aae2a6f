# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: nlm_latency_slo
short_description: The pairs beyond a latency SLO, one line each with its verdict
version_added: 0.1.0
author:
  - nodelatency.monitor contributors (@nodelatency)
description:
  - Checks every measured pair (each target address of each peer) against the limits of O(slo) and returns
    one line per pair beyond any of them - what it exceeds, its verdict and why - so that a play can fail on
    the list (the nlm role does with C(nlm_slo)).
  - A pair without any reply is beyond every limit it is held to. Pairs without data (a node that did not
    report, a peer left out of the sample) are not checked.
  - A percentile limit needs enough replies per pair (p95 20, p99 100); when a pair that answered has too few,
    the filter fails and says which count to probe with, rather than pass a pair it cannot judge.
extends_documentation_fragment:
  - nodelatency.monitor.latency_input
options:
  slo:
    description:
      - The limits, for both families at the top level, and for one family under C(ipv4) or C(ipv6)
        (these win). Each is optional - C(max_loss) (a ratio, 0 to 1), C(max_avg_rtt_ms),
        C(max_p50_rtt_ms), C(max_p95_rtt_ms), C(max_p99_rtt_ms), C(max_rtt_ms) (the slowest reply).
    type: dict
    required: true
seealso:
  - plugin: nodelatency.monitor.nlm_latency_compare
    plugin_type: filter
"""

EXAMPLES = r"""
---
- name: Fail when a pair loses replies or averages over 2 ms
  ansible.builtin.assert:
    that: beyond | length == 0
    fail_msg: "{{ beyond }}"
  vars:
    beyond: "{{ hostvars | nodelatency.monitor.nlm_latency_slo({'max_loss': 0, 'max_avg_rtt_ms': 2}, hosts=ansible_play_hosts_all) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: One line per pair beyond the SLO, worst pair first; empty when every pair keeps it.
  type: list
  elements: str
  sample:
    - "n1 -> n2 ipv4 198.19.2.1: loss 100.0% > 0.0%, avg unknown (no reply) > 2 ms; blocked there: n2's firewall drops the echo-request in: ..."
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report import ReportError
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_filter import matrix_for
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_gate import slo_violations


def nlm_latency_slo(data, slo=None, hosts=None):
    matrix = matrix_for("nlm_latency_slo", data, hosts)
    try:
        return slo_violations(matrix, slo)
    except ReportError as exc:
        raise AnsibleFilterError("nlm_latency_slo: %s" % exc) from exc


class FilterModule:
    def filters(self):
        return {"nlm_latency_slo": nlm_latency_slo}
