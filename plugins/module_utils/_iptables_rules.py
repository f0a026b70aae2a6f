# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules nlm_icmp_allow owns in iptables tables: which are owned (the owned chains,
the jumps into them, the rules tagged with the ownership comment in a built-in chain on
the path), what an owned rule's spec says, and how one is spelled, as iptables-save
prints it."""

from __future__ import annotations

from collections import OrderedDict, namedtuple

from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import AllowRule
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_model import PROTOCOLS, tokens

BUILTIN_DIRECTIONS = {"PREROUTING": "in", "INPUT": "in", "OUTPUT": "out", "POSTROUTING": "out"}
OWNED_CHAIN_PREFIX = "NLM-"
OWNED_CHAINS = {builtin: OWNED_CHAIN_PREFIX + builtin for builtin in BUILTIN_DIRECTIONS}
BUILTIN_OF_OWNED = {owned: builtin for builtin, owned in OWNED_CHAINS.items()}
_ICMP_MATCHES = {"ipv4": ("icmp", "--icmp-type"), "ipv6": ("icmp6", "--icmpv6-type")}
_INTERFACE_OPTIONS = {"in": "-i", "out": "-o"}


class Fields(namedtuple("Fields", "interface side protocol icmp_type comment target other")):
    """What an owned rule consists of, read from its spec: interface and its side
    (-i: in, -o: out), protocol, ICMP type, comment, target, and everything else."""

    __slots__ = ()


def fields_of(spec):
    args = tokens(spec)
    found = dict(interface=None, side=None, protocol=None, icmp_type=None, comment=None, target=None)
    other = []
    index = 0
    while index < len(args):
        token = args[index]
        value = args[index + 1] if index + 1 < len(args) else None
        if token in ("-i", "-o"):
            found["interface"], found["side"] = value, "in" if token == "-i" else "out"
        elif token == "-p":
            found["protocol"] = value
        elif token in ("--icmp-type", "--icmpv6-type"):
            found["icmp_type"] = value
        elif token == "--comment":
            found["comment"] = value
        elif token in ("-j", "-g"):
            found["target"] = value
            other.extend(args[index + 2:] if token == "-j" else ["-g"] + args[index + 2:])
            break
        elif token == "-m" and value in ("icmp", "icmp6", "comment"):
            pass
        else:
            other.append(token)
            index += 1
            continue
        index += 2
    return Fields(other=tuple(other), **found)


def mentions(spec, text):
    """Whether ``text`` (the ownership tag or an owned chain) can be a value in ``spec``:
    iptables-save prints both verbatim, since neither has a character it would quote
    or escape, so a spec without the text cannot carry the tag or jump to the chain."""
    return text in spec


def direction_of(chain):
    """'in' or 'out' for a built-in or owned chain on the path, else None."""
    return BUILTIN_DIRECTIONS.get(BUILTIN_OF_OWNED.get(chain, chain))


def allow_rule_of(chain, spec, family):
    """The AllowRule a saved rule implements, or None when it is not exactly one
    of the rules this module writes (ACCEPT of one echo message on one interface)."""
    direction = direction_of(chain)
    if direction is None:
        return None
    fields = fields_of(spec)
    if (fields.target != "ACCEPT" or fields.other or fields.side != direction or fields.interface is None
            or fields.protocol != PROTOCOLS[family] or fields.icmp_type is None):
        return None
    for message in ("echo-request", "echo-reply"):
        rule = AllowRule(family, direction, fields.interface, message)
        if fields.icmp_type == str(rule.icmp_type):
            return rule
    return None


def is_owned(chain, spec, comment):
    """Owned: every rule in the owned chains, every jump into them, and every rule
    tagged with the ownership comment in a built-in chain on the path."""
    if chain in BUILTIN_OF_OWNED:
        return True
    # one look for the owned chains' shared prefix: this runs on every rule of the table
    if not mentions(spec, comment) and not mentions(spec, OWNED_CHAIN_PREFIX):
        return False
    fields = fields_of(spec)
    if fields.target in BUILTIN_OF_OWNED:
        return True
    return chain in BUILTIN_DIRECTIONS and fields.comment == comment


def owned_by_table(tables, comment):
    """{table name: restore lines} of the owned chains and rules, in table order."""
    found = OrderedDict()
    for table in tables.values():
        lines = [":%s -" % name for name in table.chains if name in BUILTIN_OF_OWNED]
        for chain in table.chains.values():
            whole = chain.name in BUILTIN_OF_OWNED
            # is_owned's own first look, without a call for each of thousands of foreign rules
            lines.extend("-A %s %s" % (chain.name, spec) for spec in chain.rules
                         if whole or ((comment in spec or OWNED_CHAIN_PREFIX in spec)
                                      and is_owned(chain.name, spec, comment)))
        if lines:
            found[table.name] = lines
    return found


def owned_lines(tables, comment):
    """The owned chains and rules as lines: the filter table's as restore lines, the
    other tables' led by ``-t <table>``."""
    lines = []
    for name, table_lines in owned_by_table(tables, comment).items():
        lines.extend(line if name == "filter" else "-t %s %s" % (name, line) for line in table_lines)
    return lines


def render_rule(rule, comment):
    """The spec of an allow rule, spelled as iptables-save prints it."""
    module, type_option = _ICMP_MATCHES[rule.family]
    return '%s %s -p %s -m %s %s %d -m comment --comment "%s" -j ACCEPT' % (
        _INTERFACE_OPTIONS[rule.direction], rule.interface, PROTOCOLS[rule.family],
        module, type_option, rule.icmp_type, comment)


def render_jump(family, builtin, comment):
    """The spec of the jump from a built-in chain into its owned chain; limited to
    ICMP so that other traffic does not walk the owned chain."""
    return '-p %s -m comment --comment "%s" -j %s' % (PROTOCOLS[family], comment, OWNED_CHAINS[builtin])


def is_own_jump(builtin, spec, family, comment):
    fields = fields_of(spec)
    return (fields.target == OWNED_CHAINS[builtin] and not fields.other and fields.interface is None
            and fields.protocol == PROTOCOLS[family] and fields.icmp_type is None and fields.comment == comment)
