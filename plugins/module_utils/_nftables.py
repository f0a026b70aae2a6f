# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ICMP echo allow rules in native nftables tables.

An accept in one nftables table does not override a drop in another table at
the same hook, so the rules go into every native base chain on the input and
output hooks that would drop the echo traffic (drop policy, or a drop/reject
rule that may match it), tagged with the ownership comment. State is read table by
table: ``nft -j list chains`` names the tables, and only the native ones are listed
with their rules (``nft -j list ruleset`` would print every iptables-nft rule as
JSON, seconds on a host with thousands of them); a change is one ``nft -f -`` transaction of
``insert``/``add``/``delete rule ... handle N`` commands, so no rule the module
does not own is ever rewritten or moved. Tables iptables-nft manages are left
to the iptables backend. Everything except the backend class is a pure function
of the JSON and can be unit-tested on captured output.
"""

from __future__ import annotations

import json
from collections import OrderedDict, namedtuple

from ansible_collections.nodelatency.monitor.plugins.module_utils._commands import Commands
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import AllowRule

# The IP families each nftables table family filters.
TABLE_FAMILIES = {"inet": ("ipv4", "ipv6"), "ip": ("ipv4",), "ip6": ("ipv6",)}
HOOK_DIRECTIONS = {"input": "in", "output": "out"}
_INTERFACE_KEYS = {"in": "iifname", "out": "oifname"}
_ICMP_PROTOCOLS = {"ipv4": "icmp", "ipv6": "icmpv6"}
# Spellings of the ICMP protocol numbers in l4proto, ip protocol and ip6 nexthdr.
_L4_NAMES = {"ipv4": {"icmp", 1}, "ipv6": {"ipv6-icmp", "icmpv6", 58}}
# The iptables-nft families whose tables iptables-nft-save lists.
_XTABLES_FAMILIES = {"iptables": "ip", "ip6tables": "ip6"}
# The tables iptables-nft-save knows: it lists no other, so no other is iptables-nft's.
_XTABLES_NAMES = ("filter", "nat", "mangle", "raw", "security")
_TERMINAL = ("accept", "drop", "reject")
DROPS = ("drop", "reject")
# Statements that neither match nor end the walk.
_NEUTRAL = ("counter", "log")


class NftRule(namedtuple("NftRule", "handle expr comment")):
    """A rule of a chain: kernel handle (None for one a plan adds), its JSON
    statements as ``nft -j`` prints them, and its comment."""

    __slots__ = ()


class NftChain(object):
    """A chain of a native table, with its rules in order."""

    def __init__(self, family, table, name, hook=None, policy=None, rules=None, kind=None):
        self.family = family
        self.table = table
        self.name = name
        self.hook = hook
        self.policy = policy
        self.rules = list(rules or [])
        self.kind = kind

    @property
    def key(self):
        return (self.family, self.table, self.name)

    @property
    def label(self):
        return "%s %s %s" % self.key

    @property
    def direction(self):
        """'in' or 'out' for a filter base chain on the input or output hook, else None."""
        return HOOK_DIRECTIONS.get(self.hook) if self.kind == "filter" else None

    def copy(self):
        return NftChain(self.family, self.table, self.name, self.hook, self.policy, self.rules, self.kind)


class Ruleset(object):
    """The native chains of ``nft -j list ruleset``, in the order nft printed them."""

    def __init__(self, chains=None):
        self.chains = OrderedDict((chain.key, chain) for chain in (chains or []))

    def copy(self):
        return Ruleset([chain.copy() for chain in self.chains.values()])


def xtables_tables(saves):
    """The (nft family, table) pairs iptables-nft manages, from ``{'iptables': text,
    'ip6tables': text}`` of iptables-nft-save output."""
    return {(_XTABLES_FAMILIES[prefix], line.strip()[1:]) for prefix, text in saves.items()
            for line in text.splitlines() if line.strip().startswith("*")}


def _items(text):
    try:
        return json.loads(text).get("nftables", [])
    except ValueError as error:
        raise NlmError("nft -j printed something that is not JSON (%s)" % error)


def tables_with_chains(text):
    """The (family, table) pairs that hold a chain in ``nft -j list chains`` output, in
    listed order: a table without chains filters nothing."""
    return list(OrderedDict.fromkeys((item["chain"]["family"], item["chain"]["table"])
                                     for item in _items(text) if "chain" in item))


def parse_ruleset(text):
    """The chains, with their rules, in ``nft -j list ruleset`` or ``nft -j list table`` output."""
    chains = OrderedDict()
    for item in _items(text):
        if "chain" in item:
            chain = item["chain"]
            native = NftChain(chain["family"], chain["table"], chain["name"], chain.get("hook"),
                              chain.get("policy"), kind=chain.get("type"))
            chains[native.key] = native
        elif "rule" in item:
            rule = item["rule"]
            key = (rule["family"], rule["table"], rule["chain"])
            if key in chains:
                chains[key].rules.append(NftRule(rule["handle"], rule["expr"], rule.get("comment")))
    return Ruleset(chains.values())


# --- what a rule means ---------------------------------------------------------------

def _nft_interface(interface):
    """The nft spelling of an interface name: the iptables wildcard ``eth+`` is ``eth*``."""
    return interface[:-1] + "*" if interface.endswith("+") else interface


def _interface_matches(value, interface):
    """True/False/None (cannot tell) whether every packet on ``interface`` has the
    interface name ``value``; both may end in a wildcard."""
    ours = _nft_interface(interface)
    if value == ours:
        return True
    if value.endswith("*"):
        if ours.startswith(value[:-1]):
            return True
        # ours is a wildcard this prefix covers only in part
        return None if ours.endswith("*") and value[:-1].startswith(ours[:-1]) else False
    if ours.endswith("*"):
        return None if value.startswith(ours[:-1]) else False
    return False


def _compare(match, test):
    """Apply ``test`` (value -> True/False/None) to the right side of ``match`` (a
    value or a set), honouring == and !=; None when the operator or a value is not understood."""
    right = match["right"]
    values = right["set"] if isinstance(right, dict) and "set" in right else [right]
    if match["op"] not in ("==", "!=") or any(isinstance(value, (dict, list)) for value in values):
        return None
    outcomes = [test(value) for value in values]
    hit = True if True in outcomes else (None if None in outcomes else False)
    if hit is None or match["op"] == "==":
        return hit
    return not hit


def _icmp_type_is(rule):
    names = {rule.message, rule.icmp_type}
    return lambda value: value in names


def _match(match, rule):
    """True/False/None whether the match statement matches every packet of ``rule``."""
    left = match["left"]
    if not isinstance(left, dict):
        return None
    if "meta" in left:
        key = left["meta"].get("key")
        if key == _INTERFACE_KEYS[rule.direction]:
            return _compare(match, lambda value: _interface_matches(value, rule.interface)
                            if isinstance(value, str) else None)
        if key == "l4proto":
            return _compare(match, lambda value: value in _L4_NAMES[rule.family])
        if key == "nfproto":
            return _compare(match, lambda value: value == rule.family)
        return None
    if "payload" in left:
        protocol, field = left["payload"].get("protocol"), left["payload"].get("field")
        if protocol in ("icmp", "icmpv6"):
            if protocol != _ICMP_PROTOCOLS[rule.family]:
                return False
            return _compare(match, _icmp_type_is(rule)) if field == "type" else None
        if protocol in ("ip", "ip6"):
            if protocol != {"ipv4": "ip", "ipv6": "ip6"}[rule.family]:
                return False
            if field in ("protocol", "nexthdr"):
                return _compare(match, lambda value: value in _L4_NAMES[rule.family])
            return None
        # a transport header field (tcp dport, udp sport, ...) implies another protocol
        if protocol in ("tcp", "udp", "udplite", "sctp", "dccp", "esp", "ah", "comp", "igmp"):
            return False
    return None


def rule_matches(expr, rule):
    """True when every packet of ``rule`` certainly matches the statements ``expr``,
    False when none can, None when this module cannot tell (sets by reference,
    conntrack, addresses, limits, ...)."""
    outcome = True
    for statement in expr:
        kind = next(iter(statement))
        if kind in _TERMINAL or kind in _NEUTRAL or kind in ("jump", "goto", "return", "continue"):
            continue
        result = _match(statement["match"], rule) if kind == "match" else None
        if result is False:
            return False
        if result is None:
            outcome = None
    return outcome


def verdict(expr):
    """The verdict statement of a rule (accept, drop, reject, jump, ...) or None."""
    for statement in reversed(expr):
        kind = next(iter(statement))
        if kind in _TERMINAL or kind in ("jump", "goto", "return", "continue", "queue"):
            return kind
    return None


def rule_expr(rule):
    """The statements nft -j prints for the allow rule ``rule``."""
    return [
        {"match": {"op": "==", "left": {"meta": {"key": _INTERFACE_KEYS[rule.direction]}},
                   "right": _nft_interface(rule.interface)}},
        {"match": {"op": "==", "left": {"payload": {"protocol": _ICMP_PROTOCOLS[rule.family], "field": "type"}},
                   "right": rule.message}},
        {"accept": None},
    ]


def render_statement(rule, comment):
    """The rule in nft syntax, as ``nft list ruleset`` prints it."""
    return '%s "%s" %s type %s accept comment "%s"' % (
        _INTERFACE_KEYS[rule.direction], _nft_interface(rule.interface), _ICMP_PROTOCOLS[rule.family],
        rule.message, comment)


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
    if (direction is None or family not in TABLE_FAMILIES.get(chain.family, ())
            or interface["op"] != "==" or icmp_type["op"] != "==" or not isinstance(interface["right"], str)):
        return None
    name = interface["right"]
    name = name[:-1] + "+" if name.endswith("*") else name
    for message in ("echo-request", "echo-reply"):
        rule = AllowRule(family, direction, name, message)
        if icmp_type["right"] in (message, rule.icmp_type):
            return rule
    return None


# --- which chains need the rules -----------------------------------------------------

def needs(chain, rule):
    """Whether the base chain ``chain`` would drop ``rule``'s packets without an accept:
    it is on the rule's hook and family, and its policy drops or one of its drop or
    reject rules may match them."""
    if chain.direction != rule.direction or rule.family not in TABLE_FAMILIES.get(chain.family, ()):
        return False
    if chain.policy == "drop":
        return True
    return any(verdict(nft_rule.expr) in DROPS and rule_matches(nft_rule.expr, rule) is not False
               for nft_rule in chain.rules)


def first_verdict(chain, rule, stop=None):
    """``(verdict, nft_rule)`` of the first accept/drop/reject rule before index
    ``stop`` that certainly matches ``rule``'s packets, or None. Jumps are not followed."""
    for nft_rule in chain.rules[:stop]:
        kind = verdict(nft_rule.expr)
        if kind in _TERMINAL and rule_matches(nft_rule.expr, rule) is True:
            return kind, nft_rule
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
            if is_owned(nft_rule, comment) and family in (None, _family_of(chain, nft_rule))]


# --- planning ----------------------------------------------------------------------

class Transaction(object):
    """nft commands recorded while they are applied to a copy of the ruleset, so
    the plan and its outcome (check mode, diff) are the same code."""

    def __init__(self, ruleset):
        self.table = ruleset.copy()
        self.commands = []
        self.added = []
        self.removed = []

    def delete(self, chain, nft_rule):
        self.table.chains[chain.key].rules.remove(nft_rule)
        self.commands.append("delete rule %s handle %d" % (chain.label, nft_rule.handle))
        self.removed.append(describe(chain, nft_rule))

    def add(self, chain, rule, comment, before=None, at_top=False):
        """Add ``rule`` before the rule ``before``, at the top, or at the end of ``chain``."""
        rules = self.table.chains[chain.key].rules
        new = NftRule(None, rule_expr(rule), comment)
        statement = render_statement(rule, comment)
        if before is not None:
            rules.insert(rules.index(before), new)
            self.commands.append("insert rule %s position %d %s" % (chain.label, before.handle, statement))
        elif at_top:
            rules.insert(0, new)
            self.commands.append("insert rule %s %s" % (chain.label, statement))
        else:
            rules.append(new)
            self.commands.append("add rule %s %s" % (chain.label, statement))
        self.added.append("%s %s" % (chain.label, statement))

    def restore_input(self):
        """The ``nft -f -`` input, or None when nothing is to change."""
        return "".join(command + "\n" for command in self.commands) or None


def _family_of(chain, nft_rule):
    """The IP family an owned rule belongs to; one the module would not write belongs
    to the first family of its table, so exactly one family's run removes it."""
    rule = allow_rule_of(chain, nft_rule)
    return rule.family if rule is not None else TABLE_FAMILIES.get(chain.family, ("ipv4",))[0]


def _first_drop(chain, rule):
    """The first rule of ``chain`` that may drop or reject ``rule``'s packets, or None."""
    return next((nft_rule for nft_rule in chain.rules
                 if verdict(nft_rule.expr) in DROPS and rule_matches(nft_rule.expr, rule) is not False), None)


def _shadowed(chain, nft_rule, rule):
    found = first_verdict(chain, rule, chain.rules.index(nft_rule))
    return found is not None and found[0] in DROPS


def plan(ruleset, family, request):
    """The Transaction that leaves, for ``family``, exactly one owned copy of each
    expected rule in every base chain that needs it, removes the other owned rules
    of the interfaces in scope, and touches nothing else."""
    tx = Transaction(ruleset)
    scope = set(request.interfaces)
    kept = set()
    for chain in ruleset.chains.values():
        for nft_rule in list(chain.rules):
            if not is_owned(nft_rule, request.comment) or _family_of(chain, nft_rule) != family:
                continue
            rule = allow_rule_of(chain, nft_rule)
            if rule is not None and rule.interface not in scope:
                continue
            wanted = (rule in request.expected and needs(chain, rule) and (chain.key, rule) not in kept
                      and not (request.enforce_order and _shadowed(chain, nft_rule, rule)))
            if wanted:
                kept.add((chain.key, rule))
            else:
                tx.delete(chain, nft_rule)
    for chain in tx.table.chains.values():
        missing = [rule for rule in request.expected if needs(chain, rule) and (chain.key, rule) not in kept]
        if request.placement == "insert":
            # inserting one by one at the top reverses the order
            for rule in reversed(missing):
                tx.add(chain, rule, request.comment, at_top=True)
        else:
            for rule in missing:
                tx.add(chain, rule, request.comment, before=_first_drop(chain, rule))
    return tx


def boot_commands(rulesets, comment):
    """``insert rule`` commands that, run after a configuration defining the chains,
    put the owned rules of ``rulesets`` ({family: Ruleset}) on top of their chains,
    in the order they have now."""
    statements = OrderedDict()
    for family, ruleset in rulesets.items():
        for chain in ruleset.chains.values():
            for nft_rule in chain.rules:
                rule = allow_rule_of(chain, nft_rule)
                if is_owned(nft_rule, comment) and rule is not None and rule.family == family:
                    statements.setdefault(chain.label, []).append(render_statement(rule, comment))
    # each insert goes on top, so the last rule is inserted first
    return ["insert rule %s %s" % (label, statement) for label, chain_statements in statements.items()
            for statement in reversed(chain_statements)]


# --- inspecting ----------------------------------------------------------------------

def _policy_text(chain):
    return "%s policy %s" % (chain.label, chain.policy)


def inspect(ruleset, family, expected, comment):
    """Per expected rule and base chain that needs it: where the owned rule is, how
    many copies, and whether its packets get through that chain."""
    report = []
    for chain in ruleset.chains.values():
        for rule in expected:
            if rule.family != family or not needs(chain, rule):
                continue
            places = [index for index, nft_rule in enumerate(chain.rules)
                      if is_owned(nft_rule, comment) and allow_rule_of(chain, nft_rule) == rule]
            stop = places[0] if places else None
            found = first_verdict(chain, rule, stop)
            if found is not None:
                effective = found[0] == "accept"
                shadowed_by = None if effective else describe(chain, found[1])
            elif places:
                effective, shadowed_by = True, None
            else:
                effective = chain.policy != "drop"
                shadowed_by = None if effective else _policy_text(chain)
            report.append({
                "interface": rule.interface, "direction": rule.direction, "message": rule.message,
                "role": rule.role, "icmp_type": rule.icmp_type, "backend": "nftables",
                "present": bool(places), "chain": chain.label, "position": stop + 1 if places else None,
                "handle": chain.rules[stop].handle if places else None, "copies": len(places),
                "effective": effective, "shadowed_by": shadowed_by,
            })
    return report


def base_chains_report(ruleset, family):
    """The base chains on the input/output hooks that filter ``family``."""
    return [{"chain": chain.label, "hook": chain.hook, "policy": chain.policy}
            for chain in ruleset.chains.values()
            if chain.direction and family in TABLE_FAMILIES.get(chain.family, ())]


def in_use(ruleset, families, expected, comment):
    """Whether this backend has something to do: a base chain needs one of the
    expected rules, or an owned rule exists."""
    return any(needs(chain, rule) for chain in ruleset.chains.values() for rule in expected
               if rule.family in families) or bool(owned_lines(ruleset, comment))


# --- the backend -------------------------------------------------------------------------

class NftablesBackend(object):
    """Reads the native tables with ``nft -j list chains`` and ``nft -j list table`` and
    changes them with ``nft -f -``."""

    name = "nftables"

    def __init__(self, module, commands=None):
        self._commands = commands or Commands(module)
        self._nft = module.get_bin_path("nft")
        if self._nft is None:
            raise NlmError("nft not found: install the nftables package, or choose an iptables backend")
        self._saves = [module.get_bin_path(prefix + "-nft-save") for prefix in ("iptables", "ip6tables")]

    def _xtables(self, tables):
        """Which of ``tables`` iptables-nft manages: the iptables backend's, not ours.
        iptables-nft-save is asked about each table that can be one of them, by name:
        a table it does not print as its own (an incompatible one) is native."""
        asked = [(prefix, [path, "-t", table]) for prefix, path in zip(("iptables", "ip6tables"), self._saves)
                 for family, table in tables
                 if path is not None and family == _XTABLES_FAMILIES[prefix] and table in _XTABLES_NAMES]
        self._commands.read_all([argv for _prefix, argv in asked])
        xtables = set()
        for prefix, argv in asked:
            xtables |= xtables_tables({prefix: self._commands.read(argv)})
        return xtables

    def prefetch(self, families):
        """Nothing: the native tables are listed in read(), one listing for every family."""

    def read(self, family):
        """The native tables' chains and rules, each table listed on its own."""
        tables = tables_with_chains(self._commands.read([self._nft, "-j", "list", "chains"]))
        xtables = self._xtables(tables)
        native = [(table_family, table) for table_family, table in tables if (table_family, table) not in xtables]
        return Ruleset([chain for table_family, table in native
                        for chain in parse_ruleset(self._commands.read(
                            [self._nft, "-j", "list", "table", table_family, table])).chains.values()])

    def apply(self, family, tx):
        """Commit ``tx`` in one nft transaction: all or nothing."""
        self._commands.change([self._nft, "-f", "-"], tx.restore_input())

    def plan(self, ruleset, family, request):
        return plan(ruleset, family, request)

    def check_boot_file(self, text):
        """Let nft check, without changing anything, that ``text`` loads."""
        self._commands.check([self._nft, "-c", "-f", "-"], text)

    def in_use(self, ruleset, families, expected, comment):
        return in_use(ruleset, families, expected, comment)

    def inspect(self, ruleset, family, expected, comment):
        return {"rules": inspect(ruleset, family, expected, comment),
                "base_chains": base_chains_report(ruleset, family)}

    def owned_lines(self, ruleset, family, comment):
        return owned_lines(ruleset, comment, family)
