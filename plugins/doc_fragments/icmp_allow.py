# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment(object):

    # Options nlm_icmp_allow and nlm_icmp_allow_info share: which rules are meant.
    DOCUMENTATION = r"""
options:
  interfaces:
    description:
      - Interfaces the ICMP echo rules are scoped to, usually C(antrea-gw0), or the transport
        interface in C(networkPolicyOnly) traffic mode.
      - Names are validated as the Linux kernel does (1 to 15 characters, no C(/), C(:) or whitespace,
        not C(.) or C(..)); quotes and backslashes are refused as well, and so are patterns (a trailing
        C(+) or a C(*), which firewalls read as wildcards; a lone C(+) would allow echo on every
        interface). Name each interface exactly.
      - Owned rules of interfaces not listed here are left alone, so one task per interface works.
    type: list
    elements: str
    required: true
  roles:
    description:
      - V(responder) allows echo requests in and echo replies out; V(prober) allows echo requests out
        and echo replies in. Both give the four rules per family and interface that Antrea writes.
    type: list
    elements: str
    choices: [responder, prober]
    default: [responder, prober]
  ip_versions:
    description:
      - IP families to handle. IPv6 uses ICMPv6 types 128 (echo request) and 129 (echo reply).
      - Families not listed are not looked at.
    type: list
    elements: str
    choices: [ipv4, ipv6]
    default: [ipv4, ipv6]
  backend:
    description:
      - Which firewall flavours get the rules. Every flavour is always read, since a probe passes every
        base chain at its hooks, whoever wrote it, and a drop in any of them drops it (see
        U(https://github.com/nodelatency/monitor/blob/main/docs/path.md)).
      - V(auto) puts the rules into every filter on the probe's path that would otherwise not accept
        it - iptables-legacy and iptables-nft tables (raw, mangle, filter, security) and native nftables
        base chains alike - and nowhere else.
      - V(iptables-nft), V(iptables-legacy) or V(nftables) puts them only into that flavour's filters, and
        warns, naming the rule, when a filter of another flavour still drops the probes.
      - Where firewalld runs in the network namespace, V(auto) (or V(firewalld)) writes the rules into firewalld
        itself, in its permanent and runtime configuration, through its D-Bus API; the raw flavours are refused
        there. firewalld matches no interface outside its zones, so the rules are rich rules restricted by the
        interface's addresses, in two policies of their own (C(nlm-echo-in) from any zone to the host,
        C(nlm-echo-out) from the host to any zone) at priority -32768, which firewalld applies before any zone
        and any other policy. See U(https://github.com/nodelatency/monitor/blob/main/docs/nlm_icmp_allow.md).
      - The iptables flavours need C(iptables-nft-save)/C(iptables-nft-restore) or
        C(iptables-legacy-save)/C(iptables-legacy-restore), and their C(ip6tables) counterparts for IPv6;
        native nftables needs C(nft). Legacy tables are read when the kernel lists one in the network
        namespace (C(/proc/net/ip_tables_names)); a table C(iptables-nft-save) calls incompatible is read
        with C(nft) as a native one.
    type: str
    choices: [auto, firewalld, iptables-legacy, iptables-nft, nftables]
    default: auto
  comment:
    description:
      - The ownership tag, written as the rules' C(-m comment) (iptables) or C(comment) (nftables).
        Rules in the built-in chains carrying it, every rule in the C(NLM-INPUT), C(NLM-OUTPUT),
        C(NLM-PREROUTING) and C(NLM-POSTROUTING) chains of any iptables table, every jump into them and
        every rule of a native nftables table carrying it belong to this module; nothing else is ever changed.
      - "Letters, digits, spaces and C(. _ : / = + , @ -), starting with a letter or digit, at most 255 characters."
    type: str
    default: nodelatency.monitor
"""
