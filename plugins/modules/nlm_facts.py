#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nlm_facts
short_description: Discover the gateway and transport interfaces and the firewall of a node
version_added: 0.1.0
description:
  - Reads with pyroute2 the gateway interface (C(antrea-gw0) by default) and its addresses, chooses the
    transport interface as Antrea does and reads its addresses, and finds out which firewall is in use.
  - Returns everything as C(ansible_facts.nlm).
  - The transport interface is O(transport_interface) when given; else the first interface holding an
    address in O(transport_interface_cidrs) (the first CIDR that matches wins, then the lowest interface
    index); else the interface holding O(node_ip); else the interface holding the source address of the
    default route (IPv4 first, then IPv6).
  - An interface that does not exist is reported with C(exists=false); it is not a failure.
requirements:
  - a Linux managed node (the module reads interfaces and routes over netlink)
  - pyroute2 on the managed node
author:
  - nodelatency.monitor contributors (@nodelatency)
extends_documentation_fragment:
  - nodelatency.monitor.attributes
  - nodelatency.monitor.attributes.FACTS
  - nodelatency.monitor.attributes.INFO_MODULE
attributes:
  facts:
    support: full
  idempotent:
    support: full
options:
  gateway_interface:
    description: Name of the gateway interface.
    type: str
    default: antrea-gw0
  transport_interface:
    description: Name of the transport interface; when set, nothing is guessed.
    type: str
  transport_interface_cidrs:
    description: CIDRs, one of which an address of the transport interface lies in (Antrea's C(transportInterfaceCIDRs)).
    type: list
    elements: str
    default: []
  node_ip:
    description:
      - The node IP (Kubernetes C(InternalIP)); the interface holding it is the transport interface.
      - When neither this nor the two options above are set, the source address of the default route is used.
    type: str
notes:
  - Addresses are listed with their prefix length; link-local ones are left out, because peers cannot
    probe them across nodes.
  - The firewall facts need root (C(become=true)) for C(iptables-save) and C(nft).
  - C(firewalld_running) looks for a process named C(firewalld) in the module's own network namespace, the
    one whose firewall it manages (usually the root namespace); one in another namespace does not count.
seealso:
  - module: nodelatency.monitor.nlm_icmp_allow
"""

EXAMPLES = r"""
---
- name: Discover interfaces and firewall
  nodelatency.monitor.nlm_facts:

- name: Transport interface from Antrea's transportInterfaceCIDRs
  nodelatency.monitor.nlm_facts:
    transport_interface_cidrs: [198.18.0.0/24, "2001:db8::/64"]

- name: Allow ICMP echo on the interface that carries the probes
  nodelatency.monitor.nlm_icmp_allow:
    interfaces: ["{{ ansible_facts.nlm.gateway_interface.name }}"]
  when: ansible_facts.nlm.gateway_interface.exists
"""

RETURN = r"""
ansible_facts:
  description: The discovered facts.
  returned: success
  type: dict
  contains:
    nlm:
      description: Interfaces and firewall of the node.
      returned: success
      type: dict
      contains:
        gateway_interface:
          description: The gateway interface; the same keys as RV(ansible_facts.nlm.transport_interface) but C(selected_by) and C(node_ip).
          type: dict
          sample: {"name": "antrea-gw0", "exists": true, "index": 4, "state": "UP", "mtu": 1450,
                   "ipv4": ["198.18.1.1/24"], "ipv6": ["2001:db8:1:1::1/64"]}
        transport_interface:
          description: The transport interface.
          type: dict
          contains:
            name:
              description: Interface name, or null when none was found.
              type: str
              sample: eth0
            exists:
              description: Whether the interface exists.
              type: bool
              sample: true
            index:
              description: Interface index, or null.
              type: int
              sample: 2
            state:
              description: Operational state (C(UP), C(DOWN), C(UNKNOWN), ...), or null.
              type: str
              sample: UP
            mtu:
              description: MTU, or null.
              type: int
              sample: 1500
            ipv4:
              description: IPv4 addresses with prefix length.
              type: list
              elements: str
              sample: ["198.18.0.1/24"]
            ipv6:
              description: IPv6 addresses with prefix length, link-local ones left out.
              type: list
              elements: str
              sample: ["2001:db8::1/64"]
            selected_by:
              description: >-
                How it was chosen: V(transport_interface), V(transport_interface_cidrs), V(node_ip),
                V(default_route), or V(none) when there was nothing to go by.
              type: str
              sample: default_route
            node_ip:
              description: The node IP used to choose it, or null.
              type: str
              sample: 198.18.0.1
        firewall:
          description: The firewall in use.
          type: dict
          contains:
            iptables:
              description: >-
                C(backend) (V(nft), V(legacy) or null when iptables is missing), C(version),
                C(other_backend) and C(other_backend_has_rules), true when the backend the C(iptables)
                command does not use holds rules, chains or a non-ACCEPT policy as well.
              type: dict
              sample: {"backend": "nft", "version": "iptables v1.8.9 (nf_tables)", "other_backend": "legacy",
                       "other_backend_has_rules": false}
            nftables:
              description: >-
                C(available) (the C(nft) command is installed), C(base_chains) on the input and output hooks
                of native nftables tables (not the ones iptables-nft manages) with family, table, chain, hook,
                priority and policy, and C(has_input_output_base_chains). Such a chain with a drop policy drops
                ICMP that an iptables rule accepted.
              type: dict
              sample: {"available": true, "base_chains": [], "has_input_output_base_chains": false}
            firewalld_running:
              description:
                - Whether firewalld runs in this network namespace. M(nodelatency.monitor.nlm_icmp_allow) then writes
                  the rules into firewalld's own policies.
              type: bool
              sample: false
            firewalld:
              description:
                - Where firewalld runs, what it says over D-Bus - C(running) (false,
                  with C(error), when it does not answer or has not finished starting), C(version), C(backend)
                  (its FirewallBackend), C(default_zone), and per interface but C(lo) its C(zone) (the default
                  zone where none is bound) and whether it is C(bound); C(via) says how it was asked, V(dbus-python)
                  in process where the module's Python has it, else V(busctl).
              type: dict
              returned: when firewalld runs
              sample: {"running": true, "version": "1.3.3", "backend": "nftables", "default_zone": "public",
                       "interfaces": {"antrea-gw0": {"zone": "public", "bound": false}}, "via": "dbus-python"}
        agent:
          description:
            - Which parts of the nlm agent (the C(nlm_monitor) option of the nodelatency.monitor.nlm role) are on the
              node - its systemd C(unit) (C(/etc/systemd/system/nlm-agent.service)), its C(code)
              (C(/opt/nodelatency-monitor/agent)) and its C(user) (C(nlm-agent)) - and whether any is
              (C(installed)), which is what the role reads to know whether there is an agent to remove.
          type: dict
          sample: {"unit": false, "code": false, "user": false, "installed": false}
"""

import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._facts import gather, input_problems
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_allow import LOCALE_C
from ansible_collections.nodelatency.monitor.plugins.module_utils._ifname import invalid_interface_names
from ansible_collections.nodelatency.monitor.plugins.module_utils._module import CommandModule
from ansible_collections.nodelatency.monitor.plugins.module_utils._respawn import respawn_with_library

try:
    from pyroute2 import IPRoute
except ImportError:
    IPRoute = None
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()
else:
    PYROUTE2_IMPORT_ERROR = None


def main():
    module = CommandModule(
        argument_spec=dict(
            gateway_interface=dict(type="str", default="antrea-gw0"),
            transport_interface=dict(type="str"),
            transport_interface_cidrs=dict(type="list", elements="str", default=[]),
            node_ip=dict(type="str"),
        ),
        mutually_exclusive=[("transport_interface", "transport_interface_cidrs"), ("transport_interface", "node_ip")],
        supports_check_mode=True,
    )
    module.run_command_environ_update = LOCALE_C
    if IPRoute is None:
        respawn_with_library("pyroute2")
        module.fail_json(msg=missing_required_lib("pyroute2"), exception=PYROUTE2_IMPORT_ERROR)
    names = [module.params["gateway_interface"]]
    if module.params["transport_interface"] is not None:
        names.append(module.params["transport_interface"])
    problems = invalid_interface_names(names) + input_problems(module.params)
    if problems:
        module.fail_json(msg="nlm_facts: %s" % "; ".join(problems))
    try:
        facts = gather(module, IPRoute)
    except NlmError as error:
        module.fail_json(msg="nlm_facts: %s" % error.message, **error.fail_kwargs())
    module.exit_json(changed=False, ansible_facts={"nlm": facts})


if __name__ == "__main__":
    main()
