# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: nlm_antrea_agent_settings
short_description: What an antrea-agent.conf decides for NodeLatencyMonitor, read as the Antrea agent reads it
version_added: 0.1.0
author:
  - nodelatency.monitor contributors (@nodelatency)
description:
  - Reads an Antrea agent configuration (C(antrea-agent.conf), as Antrea's manifests and Helm chart render it)
    and returns whether the C(NodeLatencyMonitor) feature gate is on, the traffic mode, the gateway interface and
    the transport interface settings.
  - The gate follows the Kubernetes feature-gate rules Antrea uses - a gate named in C(featureGates) has that
    value, an unnamed alpha gate takes the value of C(AllAlpha), else its default - with C(NodeLatencyMonitor)
    an alpha gate that defaults to off.
  - C(trafficEncapMode) is matched ignoring case and defaults to C(encap); C(hostGateway) defaults to C(antrea-gw0).
  - A configuration the agent would refuse (a gate value that is not a YAML boolean, an unknown traffic mode) fails
    with a message that says what to fix.
options:
  _input:
    description: The file's YAML text, or the configuration already parsed into a dict.
    type: raw
    required: true
"""

EXAMPLES = r"""
---
- name: Read the agent's configuration from the controller
  ansible.builtin.set_fact:
    antrea: "{{ lookup('ansible.builtin.file', 'antrea-agent.conf') | nodelatency.monitor.nlm_antrea_agent_settings }}"
"""

RETURN = r"""
_value:
  description: What the configuration decides.
  type: dict
  contains:
    node_latency_monitor:
      description: Whether the NodeLatencyMonitor feature gate is on.
      type: bool
    node_latency_monitor_from:
      description: The setting that decides it (C(featureGates.NodeLatencyMonitor), C(featureGates.AllAlpha), or the default).
      type: str
    traffic_encap_mode:
      description: The traffic mode, spelled as this collection spells it (C(encap), C(noEncap), C(hybrid), C(networkPolicyOnly)).
      type: str
    host_gateway:
      description: The gateway interface's name.
      type: str
    transport_interface:
      description: C(transportInterface), empty when not set.
      type: str
    transport_interface_cidrs:
      description: C(transportInterfaceCIDRs), empty when not set.
      type: list
      elements: str
  sample:
    node_latency_monitor: true
    node_latency_monitor_from: featureGates.NodeLatencyMonitor
    traffic_encap_mode: encap
    host_gateway: antrea-gw0
    transport_interface: ""
    transport_interface_cidrs: []
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.nodelatency.monitor.plugins.plugin_utils._antrea_conf import AntreaConfError, agent_settings


def nlm_antrea_agent_settings(conf):
    try:
        return agent_settings(conf)
    except AntreaConfError as error:
        raise AnsibleFilterError("nlm_antrea_agent_settings: %s" % error) from error


class FilterModule:
    def filters(self):
        return {"nlm_antrea_agent_settings": nlm_antrea_agent_settings}
