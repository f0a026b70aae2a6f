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
      - Firewall backend. V(auto) uses the one the C(iptables) command uses on the host.
      - V(iptables-nft) and V(iptables-legacy) need C(iptables-nft-save)/C(iptables-nft-restore) or
        C(iptables-legacy-save)/C(iptables-legacy-restore), and their C(ip6tables) counterparts for IPv6.
    type: str
    choices: [auto, iptables-nft, iptables-legacy]
    default: auto
  comment:
    description:
      - The ownership tag, written as the rules' C(-m comment). Rules in C(INPUT)/C(OUTPUT) carrying it,
        every rule in the C(NLM-INPUT)/C(NLM-OUTPUT) chains and every jump into them belong to this
        module; nothing else is ever changed.
      - "Letters, digits, spaces and C(. _ : / = + , @ -), starting with a letter or digit, at most 255 characters."
    type: str
    default: nodelatency.monitor
"""
