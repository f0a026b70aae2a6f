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
  - A probe passes every base chain at its hooks (prerouting and input in, output and postrouting out),
    in iptables-legacy, iptables-nft and native nftables alike, and a drop in any of them drops it. The
    module reads every flavour, judges each probe packet's path through all of them (following jumps,
    gotos, returns, verdict maps, marks and connection state) and puts an owned allow rule into every
    filter that would otherwise not accept the packet, and nowhere else. See
    U(https://github.com/nodelatency/monitor/blob/main/docs/path.md).
  - iptables state is read from the C(*-save) output of each flavour, never with C(iptables -C); changes
    are one C(iptables-restore --noflush) transaction per flavour and family. Native nftables tables are
    read and changed with C(nft -j) (one JSON transaction per family). A failed transaction leaves its
    ruleset as it was.
  - When firewalld runs in the network namespace the rules go into firewalld itself, over its D-Bus API,
    permanent and runtime (see O(backend)); the module never changes firewalld's tables behind its back.
  - Rules the module does not own are never removed, reordered or rewritten, and no table or chain is
    created where nothing filters.
  - State V(present) leaves exactly one copy of each requested rule in every filter that needs it and
    removes owned rules of those interfaces that are not needed (other roles, the other chain mode,
    duplicates, filters that no longer drop). State V(absent) removes all owned rules of the listed
    interfaces, and the owned chains and jumps once no owned rule is left in them, which restores every
    flavour's ruleset to what it was before V(present).
  - Runs on one network namespace are serialised with a lock file in C(/run/nodelatency-monitor), a
    directory of root's own, so concurrent runs do not add the same rule twice.
requirements:
  - a Linux managed node with iptables (nft or legacy) and/or nftables (C(nft)), or firewalld with dbus-python in the
    module's Python or systemd's C(busctl)
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
      - V(dedicated) puts the rules of each iptables table that needs them into C(NLM-<CHAIN>) of that table
        (C(NLM-INPUT), C(NLM-OUTPUT), C(NLM-PREROUTING), C(NLM-POSTROUTING)), reached by one jump from the
        built-in chain that only ICMP (ICMPv6) packets take.
      - V(direct) puts the rules into the built-in chains themselves.
      - iptables only; on nftables the rules always sit in the base chains, where they take effect.
    type: str
    choices: [dedicated, direct]
    default: dedicated
  placement:
    description:
      - Where a missing rule (V(direct), nftables) or jump (V(dedicated)) goes in its built-in or base chain.
      - V(insert) puts it at the top. V(append) puts it just before the first rule at which the probe may
        meet another verdict than accept (a drop, a reject, a jump into a chain that may drop, a queue, a
        return to a drop policy), or at the end when there is none, so it takes effect either way.
    type: str
    choices: [insert, append]
    default: insert
  enforce_order:
    description:
      - V(false) (default) is satisfied when the rules are present, wherever they are.
      - V(true) also moves an owned rule or jump whose probe its chain would not accept (an earlier rule
        drops it or may) to where O(placement) puts a missing one.
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
      - In iptables files the owned lines go into the section of their table (owned chain declarations
        after the others, rules and jumps on top of the built-in chains, the owned chains' rules at its
        end); only the rules of the flavour the node's C(iptables-restore) is are kept there. In
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
  description: The firewall flavours that hold owned rules before or after the run, joined by C(+); empty when none does.
  returned: success
  type: str
  sample: iptables-nft+nftables
firewalld:
  description:
    - Where firewalld runs (C(backend) is then C(firewalld)) what the run did there; the C(rules) of each
      family then list the owned rich rules.
  returned: when firewalld runs
  type: dict
  contains:
    policies:
      description: Each owned policy after the run as lines of text (none when it holds no rule).
      type: dict
    permanent_changed:
      description: The owned policies added, changed or removed in the permanent configuration.
      type: list
      elements: str
    runtime_changed:
      description: The owned policies changed in the runtime without a reload.
      type: list
      elements: str
    reloaded:
      description: Whether firewalld was reloaded (a policy came or went).
      type: bool
    runtime_kept:
      description: The zones and policies whose runtime-only settings were put back after the reload.
      type: list
      elements: str
    via:
      description:
        - How the module spoke to firewalld - V(dbus-python) (in process, where the module's Python has it, as the
          Python firewalld runs with does) or V(busctl) (systemd's, a process per call).
      type: str
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
          description:
            - Rules and jumps added (moved ones are in neither list). Lines of iptables tables other than
              C(filter) start with C(-t <table>).
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
            - The C(iptables-restore --noflush) input of each iptables flavour, then the nft commands, that
              were (or in check mode, would be) applied; empty when nothing changed.
          type: str
          sample: "*filter\n:NLM-INPUT - [0:0]\n-A NLM-INPUT -i antrea-gw0 ...\nCOMMIT\n"
        paths:
          description:
            - Per requested rule, the verdict its probe packet meets on its whole path after the run
              (predicted in check mode), and the rule that drops it when it does not pass.
          type: list
          elements: dict
          sample:
            - {interface: antrea-gw0, direction: in, message: echo-request, verdict: accept, dropped_by: null}
"""

from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_allow import (
    ALLOW_ARGUMENT_SPEC,
    LOCALE_C,
    IcmpAllow,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._module import CommandModule


def main():
    module = CommandModule(argument_spec=ALLOW_ARGUMENT_SPEC, supports_check_mode=True)
    module.run_command_environ_update = LOCALE_C
    try:
        result = IcmpAllow(module).run()
    except NlmError as error:
        module.fail_json(msg="nlm_icmp_allow: %s" % error.message, **error.fail_kwargs())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
