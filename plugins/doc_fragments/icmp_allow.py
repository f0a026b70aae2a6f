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
        not C(.) or C(..)); quotes and backslashes are refused as well. A trailing C(+) is the iptables
        wildcard (C(eth+) matches every interface starting with C(eth)).
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
      - Firewall backend. V(auto) uses every backend that filters, because an accept in one of them
        does not override a drop in another at the same hook - the iptables variant the C(iptables)
        command uses when its filter table holds rules, user chains or a non-ACCEPT policy, and native
        nftables when a base chain on the input or output hook would drop the echo traffic (drop policy,
        or a drop or reject rule that may match it) or holds an owned rule. When neither does, the
        iptables variant.
      - V(iptables-nft) and V(iptables-legacy) need C(iptables-nft-save)/C(iptables-nft-restore) or
        C(iptables-legacy-save)/C(iptables-legacy-restore), and their C(ip6tables) counterparts for IPv6.
      - V(nftables) needs C(nft). Its rules go into the native base chains themselves (tables that
        iptables-nft manages are left to the iptables backends).
    type: str
    choices: [auto, iptables-legacy, iptables-nft, nftables]
    default: auto
  comment:
    description:
      - The ownership tag, written as the rules' C(-m comment) (iptables) or C(comment) (nftables).
        Rules in C(INPUT)/C(OUTPUT) carrying it, every rule in the C(NLM-INPUT)/C(NLM-OUTPUT) chains,
        every jump into them and every rule of a native nftables table carrying it belong to this module;
        nothing else is ever changed.
      - "Letters, digits, spaces and C(. _ : / = + , @ -), starting with a letter or digit, at most 255 characters."
    type: str
    default: nodelatency.monitor
"""
