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
  - The judgement is best effort. Only rules whose every match is understood (interface, including the
    C(+) wildcard, protocol, ICMP type, comment) are taken to match; rules with address, conntrack, set,
    mark or other matches are assumed not to match. Jumps into other user chains are not followed, and
    other tables (C(raw), C(mangle)) and native nftables tables, which can drop the traffic as well, are
    not looked at.
author:
  - nodelatency.monitor contributors (@nodelatency)
extends_documentation_fragment:
  - nodelatency.monitor.attributes
  - nodelatency.monitor.attributes.INFO_MODULE
  - nodelatency.monitor.icmp_allow
attributes:
  idempotent:
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
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
      description: The firewall backend read.
      type: str
      sample: iptables-nft
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
            present:
              description: Whether the rule exists, owned (tagged, or in an owned chain).
              type: bool
              sample: true
            chain:
              description: Chain of the first copy, or null.
              type: str
              sample: NLM-INPUT
            position:
              description: 1-based position of the first copy in its chain, or null.
              type: int
              sample: 1
            copies:
              description: How many copies exist.
              type: int
              sample: 1
            effective:
              description: Whether the rule's traffic gets through (accepted by it, by an earlier rule or by the policy).
              type: bool
              sample: true
            shadowed_by:
              description: The rule (restore syntax, without C(-A CHAIN)) or policy (C(-P INPUT DROP)) that drops the traffic, or null.
              type: str
              sample: -p icmp -j REJECT --reject-with icmp-host-prohibited
        jumps:
          description: Every rule that jumps into C(NLM-INPUT)/C(NLM-OUTPUT).
          type: list
          elements: dict
          sample: [{"chain": "INPUT", "position": 1, "target": "NLM-INPUT",
                    "rule": '-A INPUT -p icmp -m comment --comment "nodelatency.monitor" -j NLM-INPUT'}]
        chains:
          description: The owned chains that exist.
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
