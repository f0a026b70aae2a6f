#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nlm_icmp_allow
short_description: Allow ICMP echo on exactly the given interfaces, for latency monitoring
version_added: 0.1.0
description:
  - Ensures the firewall rules that let ICMP echo requests and replies through the given interfaces
    (for example C(antrea-gw0)), for IPv4 and IPv6, so that inter-node latency monitoring such as
    Antrea's NodeLatencyMonitor measures something on hosts whose firewall drops ICMP.
  - On iptables, presence is judged from normalised C(iptables-save)/C(ip6tables-save) output, never with
    C(iptables -C). Changes are one C(iptables-restore --noflush) transaction per family, so a failure
    leaves that family's ruleset as it was.
  - On native nftables, an accept in one table does not override a drop in another, so the rules go into
    every base chain on the input and output hooks that would drop the echo traffic (drop policy, or a
    drop or reject rule that may match it), tagged with O(comment). State is read with
    C(nft -j list ruleset); changes are one C(nft -f -) transaction per family of C(insert rule),
    C(add rule ... position) and C(delete rule ... handle) commands. Tables iptables-nft manages are left
    to the iptables backends. See O(backend) for which backends V(auto) uses.
  - When firewalld runs in the network namespace the module fails with a message that says how to let
    ICMP echo through with firewalld itself; it never changes firewalld's tables behind its back.
  - Rules the module does not own are never removed, reordered or rewritten. Missing rules and jumps go
    to the top of C(INPUT)/C(OUTPUT) by default, so they work even in front of a terminal C(REJECT).
  - State V(present) leaves exactly one copy of each requested rule for the listed interfaces and
    families and removes owned rules of those interfaces that were not requested (other roles, the other
    chain mode, duplicates). State V(absent) removes all owned rules of the listed interfaces, and the
    owned chains and jumps once no owned rule is left in them.
  - Runs on one network namespace are serialised with a lock file in C(/run/lock), so concurrent runs
    do not add the same rule twice.
author:
  - nodelatency.monitor contributors (@nodelatency)
extends_documentation_fragment:
  - nodelatency.monitor.attributes
  - nodelatency.monitor.icmp_allow
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the owned rules of each family before and after (iptables restore lines, nftables
        rules), and each boot file that changes (see O(persist)).
  idempotent:
    support: full
options:
  state:
    description:
      - V(present) ensures the rules, V(absent) removes them.
    type: str
    choices: [present, absent]
    default: present
  chain_mode:
    description:
      - V(dedicated) puts the rules into the chains C(NLM-INPUT)/C(NLM-OUTPUT), reached by one jump each
        from C(INPUT)/C(OUTPUT) that only ICMP (ICMPv6) packets take.
      - V(direct) puts the rules into C(INPUT)/C(OUTPUT) themselves.
      - iptables only; on nftables the rules always sit in the base chains, where they take effect.
    type: str
    choices: [dedicated, direct]
    default: dedicated
  placement:
    description:
      - Where a missing rule (V(direct)) or jump (V(dedicated)) goes in C(INPUT)/C(OUTPUT).
      - V(insert) puts it at the top; V(append) at the end, where a terminal C(DROP)/C(REJECT) rule may
        shadow it (see O(enforce_order)).
      - On nftables, V(insert) puts a missing rule at the top of each base chain; V(append) puts it just
        before the first rule of the chain that may drop or reject its traffic, or at the end when there
        is none, so it takes effect either way.
    type: str
    choices: [insert, append]
    default: insert
  enforce_order:
    description:
      - V(false) (default) is satisfied when the rules are present, wherever they are.
      - V(true) also moves an owned rule or jump to the top of its chain when an earlier C(DROP) or
        C(REJECT) rule matches the same traffic, and appends with O(placement=append) only where nothing
        drops the traffic first.
      - Only rules whose every match is understood (interface, protocol, ICMP type, comment) count as
        matching; see M(nodelatency.monitor.nlm_icmp_allow_info) for the limits.
    type: bool
    default: false
  persist:
    description:
      - Whether the owned rules are also kept in the files the node restores its firewall from at boot,
        so that they survive a reboot; V(absent) takes them out of those files again.
      - The files are C(/etc/iptables/rules.v4) and C(rules.v6) (netfilter-persistent) and
        C(/etc/sysconfig/iptables) and C(ip6tables) (iptables-services) for the iptables backends, and
        C(/etc/nftables.conf) or C(/etc/sysconfig/nftables.conf) for nftables. A mechanism is in use when
        its file exists; a directory alone does not count.
      - V(auto) keeps the rules in every such file that exists for the backends used, and does nothing
        where none exists. V(true) does the same, but fails before changing anything when a backend used
        has none of its files. V(false) never touches them.
      - In iptables files the owned lines go into the C(*filter) section (owned chain declarations after
        the others, rules and jumps on top of C(INPUT)/C(OUTPUT), the owned chains' rules at its end); in
        the nftables configuration they are one marked block at the end of the file, of C(insert rule)
        commands that put them on top of the base chains the file defines. Every other line stays as
        it was. The new content is checked with C(iptables-restore --test) or C(nft -c -f -) before it is
        written, so a file the node cannot load is never written.
      - Check mode and diff mode cover the files as well.
    type: raw
    default: auto
  wait:
    description:
      - Seconds to wait for the xtables lock (C(iptables-restore --wait)) and for another run of this
        module on the same network namespace.
    type: int
    default: 30
notes:
  - Needs root (C(become=true)).
  - Interfaces that do not exist yet are accepted with a warning; the gateway may appear later.
  - Deletes use the rule text that C(iptables-save) printed, so they remove exactly the owned rule
    even when a foreign rule differs from it only by its comment (iptables 1.8.9 checked).
seealso:
  - module: nodelatency.monitor.nlm_icmp_allow_info
  - module: nodelatency.monitor.nlm_facts
"""

EXAMPLES = r"""
---
- name: Let ICMP echo through the Antrea gateway, IPv4 and IPv6, both directions
  nodelatency.monitor.nlm_icmp_allow:
    interfaces: [antrea-gw0]

- name: networkPolicyOnly mode - the transport interface, rules directly in INPUT/OUTPUT
  nodelatency.monitor.nlm_icmp_allow:
    interfaces: ["{{ ansible_facts.nlm.transport_interface.name }}"]
    chain_mode: direct

- name: Only answer probes, IPv4 only, and make sure no earlier REJECT shadows the rules
  nodelatency.monitor.nlm_icmp_allow:
    interfaces: [antrea-gw0]
    roles: [responder]
    ip_versions: [ipv4]
    placement: append
    enforce_order: true

- name: Native nftables host - rules in its base chains, and in /etc/nftables.conf for the next boot
  nodelatency.monitor.nlm_icmp_allow:
    interfaces: [antrea-gw0]
    backend: nftables
    persist: true

- name: Remove every rule, jump and chain of the module for the gateway
  nodelatency.monitor.nlm_icmp_allow:
    interfaces: [antrea-gw0]
    state: absent
"""

RETURN = r"""
backend:
  description: The firewall backends used, joined by C(+) when O(backend=auto) found more than one filtering.
  returned: success
  type: str
  sample: iptables-nft+nftables
persisted:
  description: The boot files that hold the owned rules after the run (see O(persist)), changed or not.
  returned: success
  type: list
  elements: str
  sample: [/etc/nftables.conf]
rules:
  description:
    - Per IP family, the owned rules added, removed and present afterwards. iptables rules are restore
      lines; nftables rules are C(<family> <table> <chain> <rule as nft prints it>).
  returned: success
  type: dict
  contains:
    ipv4:
      description: The IPv4 outcome; the same keys for C(ipv6).
      returned: when ipv4 is in O(ip_versions)
      type: dict
      contains:
        added:
          description: Rules and jumps added (moved ones are in neither list).
          type: list
          elements: str
          sample: ['-A NLM-INPUT -i antrea-gw0 -p icmp -m icmp --icmp-type 8 -m comment --comment "nodelatency.monitor" -j ACCEPT']
        removed:
          description: Rules, jumps and chains removed.
          type: list
          elements: str
          sample: []
        present:
          description: The owned chains and rules after the run (predicted in check mode).
          type: list
          elements: str
          sample: [':NLM-INPUT -', '-A INPUT -p icmp -m comment --comment "nodelatency.monitor" -j NLM-INPUT']
        transaction:
          description:
            - The C(iptables-restore --noflush) input, then the C(nft -f -) input, that were (or in check mode,
              would be) applied; empty when nothing changed.
          type: str
          sample: "*filter\n:NLM-INPUT - [0:0]\n-A NLM-INPUT -i antrea-gw0 ...\nCOMMIT\n"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_allow import (
    ALLOW_ARGUMENT_SPEC,
    LOCALE_C,
    IcmpAllow,
)


def main():
    module = AnsibleModule(argument_spec=ALLOW_ARGUMENT_SPEC, supports_check_mode=True)
    module.run_command_environ_update = LOCALE_C
    try:
        result = IcmpAllow(module).run()
    except NlmError as error:
        module.fail_json(msg="nlm_icmp_allow: %s" % error.message, **error.fail_kwargs())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
