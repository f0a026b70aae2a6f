# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What nft prints, parsed: the tables ``nft -j list chains`` names, each native table's
chains, rules, sets and maps from ``nft -j list table``, nft's own text of each rule
(``nft -a list ruleset``), and which tables iptables-nft-save shows as its own. Pure
functions of the output, unit-tested on captured output."""

from __future__ import annotations

import json
import re
from collections import OrderedDict, namedtuple

from ansible_collections.nodelatency.monitor.plugins.module_utils import _path
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_save import incompatible_tables
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_save import nft_chain_tables

TABLE_FAMILIES = _path.TABLE_FAMILIES
# The iptables-nft families whose tables iptables-nft-save lists.
XTABLES_FAMILIES = {"iptables": "ip", "ip6tables": "ip6"}
_TABLE = re.compile(r"^table (\S+) (\S+) \{")
_HANDLE = re.compile(r"^\s*(.*?)\s+# handle (\d+)\s*$")


class NftRule(namedtuple("NftRule", "handle expr comment")):
    """A rule of a chain: kernel handle (None for one a plan adds), its JSON
    statements as ``nft -j`` prints them, and its comment."""

    __slots__ = ()


class NftChain(object):
    """A chain of a native table, with its rules in order."""

    def __init__(self, family, table, name, hook=None, policy=None, rules=None, kind=None, priority=None):
        self.family = family
        self.table = table
        self.name = name
        self.hook = hook
        self.policy = policy
        self.rules = list(rules or [])
        self.kind = kind
        self.priority = priority

    @property
    def key(self):
        return (self.family, self.table, self.name)

    @property
    def label(self):
        return "%s %s %s" % self.key

    @property
    def table_label(self):
        return "%s %s" % (self.family, self.table)

    def copy(self):
        return NftChain(self.family, self.table, self.name, self.hook, self.policy, self.rules, self.kind,
                        self.priority)


class Ruleset(object):
    """The native chains, sets and verdict maps, in the order nft printed them.
    ``sets`` and ``maps`` are keyed by (family, table) and then by name. ``xt`` holds,
    for a table both iptables-nft and nft wrote, what iptables-nft-save printed of it:
    {(family, table): {chain: [spec, ...]}}, the meaning of the ``xt`` statements nft
    shows only by name."""

    def __init__(self, chains=None, sets=None, maps=None, xt=None):
        self.chains = OrderedDict((chain.key, chain) for chain in (chains or []))
        self.sets = sets or {}
        self.maps = maps or {}
        self.xt = xt or {}

    def copy(self):
        return Ruleset([chain.copy() for chain in self.chains.values()], self.sets, self.maps, self.xt)


def xtables_tables(saves):
    """The (nft family, table) pairs iptables-nft manages, from ``{'iptables': text,
    'ip6tables': text}`` of iptables-nft-save output: those it prints, less those it
    calls incompatible (it prints a table with incompatible base chains in part)."""
    return {(XTABLES_FAMILIES[prefix], line.strip()[1:]) for prefix, text in saves.items()
            for line in text.splitlines()
            if line.strip().startswith("*") and line.strip()[1:] not in incompatible_tables(text)}


def _items(text):
    try:
        return json.loads(text).get("nftables", [])
    except ValueError as error:
        raise NlmError("nft -j printed something that is not JSON (%s)" % error)


def tables_with_chains(text):
    """The (family, table) pairs that hold a chain in ``nft -j list chains`` output, in
    listed order: a table without chains filters nothing."""
    return list(OrderedDict.fromkeys(nft_chain_tables(text)))


def parse_ruleset(text):
    """The chains with their rules, and the named sets and maps, in ``nft -j list
    ruleset`` or ``nft -j list table`` output."""
    chains = OrderedDict()
    sets, maps = {}, {}
    for item in _items(text):
        if "chain" in item:
            chain = item["chain"]
            native = NftChain(chain["family"], chain["table"], chain["name"], chain.get("hook"),
                              chain.get("policy"), kind=chain.get("type"), priority=chain.get("prio"))
            chains[native.key] = native
        elif "rule" in item:
            rule = item["rule"]
            key = (rule["family"], rule["table"], rule["chain"])
            if key in chains:
                chains[key].rules.append(NftRule(rule["handle"], rule["expr"], rule.get("comment")))
        elif "set" in item or "map" in item:
            named = item.get("set") or item.get("map")
            into = maps if "map" in item and named.get("map") == "verdict" else sets
            into.setdefault((named["family"], named["table"]), {})[named["name"]] = named.get("elem", [])
    return Ruleset(chains.values(), sets, maps)


def rule_texts(text):
    """{(family, table): {handle: rule text}} from ``nft -a list ruleset`` output
    (handles are numbered per table)."""
    texts = {}
    current = None
    for line in text.splitlines():
        table = _TABLE.match(line)
        if table:
            current = texts.setdefault((table.group(1), table.group(2)), {})
            continue
        found = _HANDLE.match(line)
        if (current is not None and found
                and not found.group(1).startswith(("chain ", "set ", "map ", "type ", "flowtable "))):
            current[int(found.group(2))] = found.group(1)
    return texts
