# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules nlm_icmp_allow owns in native nftables chains: which are owned (tagged with
the ownership comment), what an owned rule says, and how one is written."""

from __future__ import annotations

import json

from ansible_collections.nodelatency.monitor.plugins.module_utils import _path
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import AllowRule

_INTERFACE_KEYS = {"in": "iifname", "out": "oifname"}
_ICMP_PROTOCOLS = {"ipv4": "icmp", "ipv6": "icmpv6"}


def rule_expr(rule):
    """The statements nft -j prints for the allow rule ``rule``."""
    return [
        {"match": {"op": "==", "left": {"meta": {"key": _INTERFACE_KEYS[rule.direction]}}, "right": rule.interface}},
        {"match": {"op": "==", "left": {"payload": {"protocol": _ICMP_PROTOCOLS[rule.family], "field": "type"}},
                   "right": rule.message}},
        {"accept": None},
    ]


def render_statement(rule, comment):
    """The rule in nft syntax, as ``nft list ruleset`` prints it."""
    return '%s "%s" %s type %s accept comment "%s"' % (
        _INTERFACE_KEYS[rule.direction], rule.interface, _ICMP_PROTOCOLS[rule.family], rule.message, comment)


def allow_rule_of(chain, nft_rule):
    """The AllowRule ``nft_rule`` implements, or None when it is not exactly one of
    the rules this module writes: interface, ICMP echo type (by name or number), accept."""
    expr = nft_rule.expr
    if len(expr) != 3 or expr[2] != {"accept": None} or not all("match" in statement for statement in expr[:2]):
        return None
    interface, icmp_type = expr[0]["match"], expr[1]["match"]
    direction = next((side for side, key in _INTERFACE_KEYS.items()
                      if interface["left"] == {"meta": {"key": key}}), None)
    protocol = icmp_type["left"].get("payload", {}) if isinstance(icmp_type["left"], dict) else {}
    family = next((name for name, icmp in _ICMP_PROTOCOLS.items() if protocol == {"protocol": icmp, "field": "type"}),
                  None)
    if (direction is None or family not in _path.TABLE_FAMILIES.get(chain.family, ())
            or interface["op"] != "==" or icmp_type["op"] != "==" or not isinstance(interface["right"], str)):
        return None
    for message in ("echo-request", "echo-reply"):
        rule = AllowRule(family, direction, interface["right"], message)
        if icmp_type["right"] in (message, rule.icmp_type):
            return rule
    return None


def is_owned(nft_rule, comment):
    return nft_rule.comment == comment


def describe(chain, nft_rule, comment=None):
    """A rule as text: nft syntax for allow rules, else its handle and JSON."""
    rule = allow_rule_of(chain, nft_rule)
    if rule is not None:
        return "%s %s" % (chain.label, render_statement(rule, nft_rule.comment or comment))
    return "%s handle %s %s" % (chain.label, nft_rule.handle, json.dumps(nft_rule.expr, sort_keys=True))


def owned_lines(ruleset, comment, family=None):
    """The owned rules (of ``family``; None: all), as text in ruleset order."""
    return [describe(chain, nft_rule) for chain in ruleset.chains.values() for nft_rule in chain.rules
            if is_owned(nft_rule, comment) and family in (None, family_of(chain, nft_rule))]


def family_of(chain, nft_rule):
    """The IP family an owned rule belongs to; one the module would not write belongs
    to the first family of its table, so exactly one family's run removes it."""
    rule = allow_rule_of(chain, nft_rule)
    return rule.family if rule is not None else _path.TABLE_FAMILIES.get(chain.family, ("ipv4",))[0]
