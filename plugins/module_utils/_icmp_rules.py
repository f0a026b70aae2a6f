# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ICMP echo allow rules, independent of any firewall backend.

A rule lets one kind of ICMP echo message (request or reply) of one IP family in
(through an interface) or out (through it). A responder answers echo requests,
a prober sends them and receives the replies; Antrea writes both, four rules per
family and interface, and so does nlm_icmp_allow by default.
"""

from __future__ import annotations

import re
from collections import namedtuple

FAMILIES = ("ipv4", "ipv6")
ROLES = ("responder", "prober")
DIRECTIONS = ("in", "out")
MESSAGES = ("echo-request", "echo-reply")

DEFAULT_COMMENT = "nodelatency.monitor"
# nft keeps at most 128 characters of a rule's comment (iptables' comment match 255): one
# tag serves every backend, so the shorter limit holds
MAX_COMMENT_LENGTH = 128
_COMMENT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/=+,@-]*$")

# ICMP type numbers: IPv4 (RFC 792) and ICMPv6 (RFC 4443).
ICMP_TYPES = {
    "ipv4": {"echo-request": 8, "echo-reply": 0},
    "ipv6": {"echo-request": 128, "echo-reply": 129},
}

# (role, direction, message), in the order Antrea writes them:
# in echo-request, in echo-reply, out echo-request, out echo-reply.
_ROLE_RULES = (
    ("responder", "in", "echo-request"),
    ("prober", "in", "echo-reply"),
    ("prober", "out", "echo-request"),
    ("responder", "out", "echo-reply"),
)


class AllowRule(namedtuple("AllowRule", "family direction interface message")):
    """One ICMP echo allow rule: family, direction (in/out), interface, message."""

    __slots__ = ()

    @property
    def icmp_type(self):
        return ICMP_TYPES[self.family][self.message]

    @property
    def role(self):
        for role, direction, message in _ROLE_RULES:
            if (direction, message) == (self.direction, self.message):
                return role
        raise ValueError(self)

    def describe(self):
        return "%s %s %s %s" % (self.family, self.direction, self.interface, self.message)


def expected_rules(family, interfaces, roles):
    """The rules nlm_icmp_allow ensures for one family, in a stable order:
    per interface (each once), the rules of the given roles in Antrea's order."""
    rules = []
    for interface in dict.fromkeys(interfaces):
        for role, direction, message in _ROLE_RULES:
            if role in roles:
                rules.append(AllowRule(family, direction, interface, message))
    return rules


def comment_problem(comment):
    """Return why ``comment`` cannot be the ownership tag, or None if it can."""
    if not isinstance(comment, str) or not comment:
        return "the comment (ownership tag) must be a non-empty string"
    if len(comment) > MAX_COMMENT_LENGTH:
        return "the comment is %d characters long; nftables allows at most %d: choose a shorter one" % (
            len(comment), MAX_COMMENT_LENGTH)
    if not _COMMENT_PATTERN.match(comment):
        return ("the comment %r may only contain letters, digits, spaces and . _ : / = + , @ -, "
                "starting with a letter or digit" % comment)
    return None


Request = namedtuple("Request", "state interfaces expected chain_mode placement enforce_order comment needed packets")
Request.__doc__ = """What nlm_icmp_allow was asked for, for one family and flavour: the
expected AllowRules (empty for state absent) of the interfaces in scope, ``needed``
the set of (table label, base chain, AllowRule) whose filter would not accept the
rule's packet without an owned rule, and ``packets`` the Packet of each expected rule."""
