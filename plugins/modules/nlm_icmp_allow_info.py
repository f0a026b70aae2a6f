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
    options, reports whether it is present, in which chain and at which position, how many copies there
    are, and whether the traffic it is about gets through (RV(icmp_allow.ipv4.rules[].effective)).
  - Never changes anything.
  - A rule is not effective when a C(DROP) or C(REJECT) rule earlier on its path matches the same
    traffic (in C(INPUT)/C(OUTPUT) before the rule or the jump to C(NLM-INPUT)/C(NLM-OUTPUT), or in the
    owned chain before the rule), or when nothing accepts the traffic and the chain policy drops it (for
    example a rule in C(NLM-INPUT) without a jump to it). The blocking rule or policy is returned as
    RV(icmp_allow.ipv4.rules[].shadowed_by).
  - On native nftables (see O(backend)) there is one entry per expected rule and per base chain on its
    hook that would drop its traffic (RV(icmp_allow.ipv4.base_chains)); the rule is not effective when an
    earlier drop or reject rule of that chain matches the same traffic, or when it is missing and the
    chain policy drops.
  - The judgement is best effort. Only rules whose every match is understood (interface, including the
    C(+) wildcard, protocol, ICMP type, comment; on nftables also C(meta l4proto), C(meta nfproto),
    C(ip protocol), C(ip6 nexthdr), anonymous sets of those) are taken to match; rules with address,
    conntrack, named set, mark or other matches are assumed not to match. Jumps into other chains are not
    followed, and the C(raw)/C(mangle) tables are not looked at.
author:
  - nodelatency.monitor contributors (@nodelatency)
extends_documentation_fragment:
  - nodelatency.monitor.attributes
  - nodelatency.monitor.attributes.INFO_MODULE
  - nodelatency.monitor.icmp_allow
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
    fail_msg: "{{ icmp.icmp_allow.ipv4.rules | rejectattr('effective') | map(attribute='shadowed_by') | list }}"
"""

RETURN = r"""
icmp_allow:
  description: What is present and effective, per IP family.
  returned: success
  type: dict
  contains:
    backend:
      description: The firewall backends read, joined by C(+) (see O(backend)).
      type: str
      sample: iptables-nft+nftables
    firewalld_running:
      description:
        - Whether firewalld runs in this network namespace. M(nodelatency.monitor.nlm_icmp_allow) refuses
          to change the rules then.
      type: bool
      sample: false
    all_present:
      description: Whether every expected rule, in every family, is present.
      type: bool
      sample: true
    all_effective:
      description: Whether the traffic of every expected rule gets through.
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
              description: V(in) (C(-i), INPUT side) or V(out) (C(-o), OUTPUT side).
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
            backend:
              description: The backend this entry is about.
              type: str
              sample: nftables
            present:
              description: Whether the rule exists, owned (tagged, or in an owned chain).
              type: bool
              sample: true
            chain:
              description:
                - iptables - chain of the first copy, or null.
                - nftables - the base chain this entry is about, as C(<family> <table> <chain>).
              type: str
              sample: NLM-INPUT
            position:
              description: 1-based position of the first copy in its chain, or null.
              type: int
              sample: 1
            handle:
              description: nftables only - the rule handle of the first copy, or null.
              type: int
              returned: for nftables entries
              sample: 18
            copies:
              description: How many copies exist.
              type: int
              sample: 1
            effective:
              description: Whether the rule's traffic gets through (accepted by it, by an earlier rule or by the policy).
              type: bool
              sample: true
            shadowed_by:
              description:
                - The rule (restore syntax, without C(-A CHAIN)) or policy (C(-P INPUT DROP)) that drops the
                  traffic, or null.
                - nftables - the rule (C(inet filter input handle 7 [...]), its statements as JSON) or the
                  policy (C(inet filter input policy drop)).
              type: str
              sample: -p icmp -j REJECT --reject-with icmp-host-prohibited
        base_chains:
          description: nftables only - the native base chains on the input and output hooks of this family.
          type: list
          elements: dict
          returned: when the nftables backend is used
          sample: [{"chain": "inet filter input", "hook": "input", "policy": "drop"}]
        jumps:
          description: iptables only - every rule that jumps into C(NLM-INPUT)/C(NLM-OUTPUT).
          returned: when an iptables backend is used
          type: list
          elements: dict
          sample: [{"chain": "INPUT", "position": 1, "target": "NLM-INPUT",
                    "rule": '-A INPUT -p icmp -m comment --comment "nodelatency.monitor" -j NLM-INPUT'}]
        chains:
          description: iptables only - the owned chains that exist.
          returned: when an iptables backend is used
          type: list
          elements: str
          sample: [NLM-INPUT, NLM-OUTPUT]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_allow import (
    COMMON_ARGUMENT_SPEC,
    LOCALE_C,
    IcmpAllowInfo,
)


def main():
    module = AnsibleModule(argument_spec=COMMON_ARGUMENT_SPEC, supports_check_mode=True)
    module.run_command_environ_update = LOCALE_C
    try:
        result = IcmpAllowInfo(module).run()
    except NlmError as error:
        module.fail_json(msg="nlm_icmp_allow_info: %s" % error.message, **error.fail_kwargs())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
