#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nlm_icmp_allow_info
short_description: Report whether ICMP echo is allowed on the given interfaces, and whether it gets through
version_added: 0.1.0
description:
  - For each ICMP echo rule that M(nodelatency.monitor.nlm_icmp_allow) would ensure with the same
    options, follows its probe packet through every filter on its path - every base chain at its hooks
    (prerouting and input in, output and postrouting out) of iptables-legacy, iptables-nft and native
    nftables, in priority order, following jumps, gotos, returns, verdict maps, marks and connection
    state - and reports the verdict it meets, the rule that drops it, and for each filter whether it
    needs an owned rule and holds one.
  - Never changes anything.
  - A match the model cannot decide (a rate limit, an owner, an address of the peer, ...) is followed both
    ways; a path that may drop the packet has the verdict V(unknown) and names the first rule that may
    drop it. See U(https://github.com/nodelatency/monitor/blob/main/docs/path.md) for what is understood.
requirements:
  - a Linux managed node with iptables (nft or legacy) and/or nftables (C(nft))
author:
  - nodelatency.monitor contributors (@nodelatency)
extends_documentation_fragment:
  - nodelatency.monitor.attributes
  - nodelatency.monitor.attributes.INFO_MODULE
  - nodelatency.monitor.icmp_allow
options:
  remotes:
    description:
      - Peers' addresses (as the probe targets them). For each, the report's RV(icmp_allow.remotes) judges the
        four probe packets between this node and that address - this node probing it and answering its probes -
        on the interface the kernel routes the address through, with the address as the packet's remote end, so
        that a rule that names the peer is decided for it. The M(nodelatency.monitor.nlm_probe) verdicts name
        the rule behind a failed pair from it.
    type: list
    elements: str
    default: []
attributes:
  idempotent:
    support: full
notes:
  - Needs root (C(become=true)) to read the ruleset.
seealso:
  - module: nodelatency.monitor.nlm_icmp_allow
"""

EXAMPLES = r"""
---
- name: Check the gateway rules
  nodelatency.monitor.nlm_icmp_allow_info:
    interfaces: [antrea-gw0]
  register: icmp

- name: Fail when ICMP echo would still be dropped
  ansible.builtin.assert:
    that: icmp.icmp_allow.all_effective
    fail_msg: "{{ icmp.icmp_allow.ipv4.rules | rejectattr('effective') | map(attribute='dropped_by') | list }}"
"""

RETURN = r"""
icmp_allow:
  description: What each probe packet meets on its path, per IP family.
  returned: success
  type: dict
  contains:
    backend:
      description: The firewall flavours that have a filter on a probe's path, joined by C(+).
      type: str
      sample: iptables-legacy+nftables
    firewalld_running:
      description:
        - Whether firewalld runs in this network namespace. M(nodelatency.monitor.nlm_icmp_allow) then writes
          the rules into firewalld's own policies, and the C(backend) here is C(firewalld).
      type: bool
      sample: false
    firewalld:
      description:
        - Where firewalld runs, what it says over D-Bus. Each rule entry then also has C(firewalld_rules), its
          rich rules for the interface's current addresses, each with C(runtime) and C(permanent) telling
          whether firewalld has it there (C(present) means all of them are in both), and
          C(firewalld_dropped_by), what drops the probe in firewalld's terms (a zone or a policy and which
          part of it, or firewalld's own rules), null when nothing in firewalld's table does.
        - A caller firewalld does not answer (it authorizes only root where polkit is missing; the nlm agent
          runs as its own user) gets C(error), and the owned rules read from firewalld's nft table, as the
          runtime's; C(permanent) is then null.
      type: dict
      returned: when firewalld runs
      contains:
        version:
          description: firewalld's version.
          type: str
        backend:
          description: firewalld's FirewallBackend (nftables or iptables).
          type: str
        default_zone:
          description: The default zone.
          type: str
        interfaces:
          description: Per interface of the node, C(zone) (its zone, the default one when none is bound) and C(bound).
          type: dict
        policies:
          description: Each owned policy (C(nlm-echo-in), C(nlm-echo-out)) as lines of text, C(runtime) and C(permanent).
          type: dict
    remotes:
      description: One entry per address of O(remotes), in their order.
      returned: when O(remotes) is not empty
      type: list
      elements: dict
      contains:
        address:
          description: The peer's address.
          type: str
          sample: 198.19.2.1
        family:
          description: V(ipv4) or V(ipv6).
          type: str
          sample: ipv4
        interface:
          description: The interface the kernel routes the address through; null without a route.
          type: str
          sample: antrea-gw0
        source:
          description: The source address the kernel picks for it (the packets' local end), or null.
          type: str
          sample: 198.19.1.1
        error:
          description: Why the address has no C(paths) (no route, or a family not in O(ip_versions)).
          type: str
          returned: when it has none
          sample: no route to it
        paths:
          description:
            - The four packets, each with C(role) (V(prober) or V(responder)), C(direction), C(message),
              C(verdict) (V(accept), V(drop) or V(unknown)), C(dropped_by) and C(shadowed_by) as in
              RV(icmp_allow.ipv4.rules), and where firewalld runs C(firewalld_dropped_by).
          type: list
          elements: dict
          sample:
            - role: responder
              direction: in
              message: echo-request
              verdict: drop
              shadowed_by: "nftables inet fault input #1: ip saddr 198.19.1.1 icmp type echo-request drop"
    all_present:
      description: Whether every filter that needs an owned rule holds one, in every family.
      type: bool
      sample: true
    all_effective:
      description: Whether every probe packet, in every family, is accepted on its whole path.
      type: bool
      sample: false
    ipv4:
      description: The IPv4 report; the same keys for C(ipv6).
      returned: when ipv4 is in O(ip_versions)
      type: dict
      contains:
        rules:
          description: One entry per expected rule.
          type: list
          elements: dict
          contains:
            interface:
              description: The interface.
              type: str
              sample: antrea-gw0
            direction:
              description: V(in) (through prerouting and input) or V(out) (through output and postrouting).
              type: str
              sample: in
            message:
              description: V(echo-request) or V(echo-reply).
              type: str
              sample: echo-request
            icmp_type:
              description: The ICMP (ICMPv6) type number.
              type: int
              sample: 8
            role:
              description: The role the rule belongs to, V(responder) or V(prober).
              type: str
              sample: responder
            verdict:
              description:
                - What the packet meets on its whole path - V(accept), V(drop) (some filter certainly drops
                  it) or V(unknown) (a filter may drop it, depending on what cannot be decided).
              type: str
              sample: drop
            effective:
              description: Whether the verdict is V(accept).
              type: bool
              sample: false
            dropped_by:
              description:
                - The rule or policy behind a verdict other than accept - C(flavour), C(table) (C(ip filter),
                  C(inet host), ...), C(chain), C(hook), C(priority), C(position) (1-based, null for a policy),
                  C(handle) (nftables) and C(rule) (as C(iptables-save) or C(nft list ruleset) prints it, or
                  C(policy drop)); null when the packet passes.
              type: dict
              sample: {flavour: iptables-legacy, table: ip filter, chain: INPUT, hook: input, priority: 0,
                       position: null, handle: null, rule: policy drop}
            shadowed_by:
              description: RV(icmp_allow.ipv4.rules[].dropped_by) as one line, or null.
              type: str
              sample: "iptables-legacy ip filter INPUT #3: -A INPUT -p icmp -j DROP"
            needed:
              description: Whether some filter on the path needs an owned rule for this packet.
              type: bool
              sample: true
            present:
              description: Whether every filter that needs an owned rule for this packet holds one.
              type: bool
              sample: false
            copies:
              description: How many owned copies of the rule serve the filters on the path.
              type: int
              sample: 0
            backend:
              description: The flavour of the first filter holding an owned copy, or null.
              type: str
              sample: iptables-nft
            chain:
              description: The chain of that copy (C(NLM-INPUT), C(inet filter input), ...), or null.
              type: str
              sample: NLM-INPUT
            position:
              description: The 1-based position of that copy in its chain, or null.
              type: int
              sample: 1
            filters:
              description:
                - Every base chain on the packet's path, in the order the kernel runs them, with C(flavour),
                  C(table), C(chain), C(hook), C(priority), C(policy), C(verdict) (what this chain does with
                  the packet), C(dropped_by), C(needs_rule) (without the owned rules it would not certainly
                  accept the packet, and O(backend) lets the module write to it), C(present), C(copies),
                  C(rule_chain), C(position) and C(handle) of the first owned copy.
              type: list
              elements: dict
              sample:
                - {flavour: iptables-legacy, table: ip filter, chain: INPUT, hook: input, priority: 0,
                   policy: drop, verdict: drop, needs_rule: true, present: false, copies: 0}
"""

from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_allow import (
    INFO_ARGUMENT_SPEC,
    LOCALE_C,
    IcmpAllowInfo,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._module import CommandModule


def main():
    module = CommandModule(argument_spec=INFO_ARGUMENT_SPEC, supports_check_mode=True)
    module.run_command_environ_update = LOCALE_C
    try:
        result = IcmpAllowInfo(module).run()
    except NlmError as error:
        module.fail_json(msg="nlm_icmp_allow_info: %s" % error.message, **error.fail_kwargs())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
