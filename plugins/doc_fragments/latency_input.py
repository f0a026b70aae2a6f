# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    # The input every report filter accepts.
    DOCUMENTATION = r"""
options:
  _input:
    description:
      - C(hostvars) (each host's C(ansible_facts.nlm_latency) is read, else its top-level
        C(nlm_latency) variable), a list of C(nlm_latency) facts, one fact, or a matrix from
        P(nodelatency.monitor.nlm_latency_matrix#filter).
    type: raw
    required: true
  hosts:
    description:
      - The hosts expected to report, for example C(ansible_play_hosts_all). See
        P(nodelatency.monitor.nlm_latency_matrix#filter).
    type: list
    elements: str
"""
