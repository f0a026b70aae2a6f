# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ICMP echo allow rules in native nftables tables.

An accept in one nftables table does not override a drop in another table at the
same hook, so the rules go into every native base chain that the path model
(_path.py) finds would not accept the probes without them, tagged with the ownership
comment. State is read table by table: ``nft -j list chains`` names the tables, and
only the native ones are listed with their rules, sets and maps (``nft -j list
ruleset`` would print every iptables-nft rule as JSON, seconds on a host with
thousands of them); a change is one ``nft -f -`` transaction of ``insert``/``add``/
``delete rule ... handle N`` commands, so no rule the module does not own is ever
rewritten or moved. Tables iptables-nft-save shows as its own are left to the
iptables-nft backend; a table it calls incompatible is native. Everything except
the backend class is a pure function of the JSON and can be unit-tested on captured output.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict, namedtuple

from ansible_collections.nodelatency.monitor.plugins.module_utils import _path
from ansible_collections.nodelatency.monitor.plugins.module_utils._backend import Backend
from ansible_collections.nodelatency.monitor.plugins.module_utils._commands import Commands
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import AllowRule
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_save import (
    incompatible_tables,
    nft_chain_tables,
    parse_save,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_model import action_of, compile_spec
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables_model import compile_rule

TABLE_FAMILIES = _path.TABLE_FAMILIES
_INTERFACE_KEYS = {"in": "iifname", "out": "oifname"}
_ICMP_PROTOCOLS = {"ipv4": "icmp", "ipv6": "icmpv6"}
# The iptables-nft families whose tables iptables-nft-save lists.
_XTABLES_FAMILIES = {"iptables": "ip", "ip6tables": "ip6"}
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
    return {(_XTABLES_FAMILIES[prefix], line.strip()[1:]) for prefix, text in saves.items()
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


# --- the rules this module writes ------------------------------------------------------

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
    if (direction is None or family not in TABLE_FAMILIES.get(chain.family, ())
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
            if is_owned(nft_rule, comment) and family in (None, _family_of(chain, nft_rule))]


# --- the model ---------------------------------------------------------------------------

def model(ruleset, family, comment, texts=None, compiled=None):
    """The path-model Tables of the native tables that see ``family``. ``texts``
    ({(family, table): {handle: text}}) names rules in nft syntax where known;
    ``compiled`` ({}) keeps each rule's match and action for as long as the very same
    rule is asked about (a plan's copy of the ruleset holds the same rules)."""
    tables = OrderedDict()
    for chain in ruleset.chains.values():
        if family not in TABLE_FAMILIES.get(chain.family, ()):
            continue
        key = (chain.family, chain.table)
        table = tables.get(key)
        if table is None:
            table = tables[key] = _path.Table("nftables", chain.family, chain.table)
        sets, maps = ruleset.sets.get(key, {}), ruleset.maps.get(key, {})
        known = (texts or {}).get(key, {})
        xt_specs = ruleset.xt.get(key, {}).get(chain.name)
        if xt_specs is not None and len(xt_specs) != len(chain.rules):
            xt_specs = None
        rules = []
        for position, nft_rule in enumerate(chain.rules, 1):
            if xt_specs is not None and any("xt" in statement for statement in nft_rule.expr):
                # the save prints the chain's rules in the order nft lists them
                match, action = compile_xt(xt_specs[position - 1], ruleset.xt[key])
            elif compiled is not None and id(nft_rule) in compiled:
                match, action = compiled[id(nft_rule)][1]
            else:
                match, action = compile_rule(nft_rule.expr, sets, maps)
                if compiled is not None:
                    compiled[id(nft_rule)] = (nft_rule, (match, action))
            text = known.get(nft_rule.handle) or (lambda chain=chain, nft_rule=nft_rule: describe(chain, nft_rule))
            rules.append(_path.Rule(match, action, text, position=position, handle=nft_rule.handle,
                                    owned=is_owned(nft_rule, comment)))
        base = chain.hook is not None and chain.kind is not None
        table.add(_path.Chain(chain.name, rules, hook=chain.hook if base else None,
                              priority=chain.priority if base else None,
                              policy=(_path.DROP if chain.policy == "drop" else _path.ACCEPT) if base else None,
                              kind=chain.kind or "filter"))
    return list(tables.values())


def compile_xt(spec, chains):
    """(match, action) of a rule of a table iptables-nft wrote, from the spec its save
    printed; ``chains`` are that table's chains by name, for its jumps."""
    match, target, arguments, goto = compile_spec(spec)
    return match, action_of(target, arguments, goto, set(chains))


def owned_copies(ruleset, table, chain, rule, comment):
    """[(chain label, 1-based position, handle)] of the owned copies of ``rule`` in
    the base chain ``chain`` of the model Table ``table``."""
    native = ruleset.chains.get((table.family, table.name, chain.name))
    if native is None:
        return []
    return [(native.label, position, nft_rule.handle) for position, nft_rule in enumerate(native.rules, 1)
            if is_owned(nft_rule, comment) and allow_rule_of(native, nft_rule) == rule]


# --- planning ----------------------------------------------------------------------

class Transaction(object):
    """nft commands recorded while they are applied to a copy of the ruleset, so
    the plan and its outcome (check mode, diff) are the same code. The commands go
    to nft as JSON, which names tables and chains without nft's parser (a table named
    like a keyword, such as ``maps``, cannot be named on nft's command line); their
    text form is what the results show."""

    def __init__(self, ruleset):
        self.table = ruleset.copy()
        self.commands = []
        self.json_commands = []
        self.added = []
        self.removed = []

    @staticmethod
    def _rule(chain, **fields):
        return dict({"family": chain.family, "table": chain.table, "chain": chain.name}, **fields)

    def delete(self, chain, nft_rule):
        self.table.chains[chain.key].rules.remove(nft_rule)
        self.commands.append("delete rule %s handle %d" % (chain.label, nft_rule.handle))
        self.json_commands.append({"delete": {"rule": self._rule(chain, handle=nft_rule.handle)}})
        self.removed.append(describe(chain, nft_rule))

    def add(self, chain, rule, comment, before=None, at_top=False):
        """Add ``rule`` before the rule ``before``, at the top, or at the end of ``chain``."""
        rules = self.table.chains[chain.key].rules
        new = NftRule(None, rule_expr(rule), comment)
        statement = render_statement(rule, comment)
        body = self._rule(chain, expr=rule_expr(rule), comment=comment)
        if before is not None:
            rules.insert(rules.index(before), new)
            self.commands.append("insert rule %s position %d %s" % (chain.label, before.handle, statement))
            self.json_commands.append({"insert": {"rule": dict(body, handle=before.handle)}})
        elif at_top:
            rules.insert(0, new)
            self.commands.append("insert rule %s %s" % (chain.label, statement))
            self.json_commands.append({"insert": {"rule": body}})
        else:
            rules.append(new)
            self.commands.append("add rule %s %s" % (chain.label, statement))
            self.json_commands.append({"add": {"rule": body}})
        self.added.append("%s %s" % (chain.label, statement))

    def restore_input(self):
        """The commands as nft text, or None when nothing is to change."""
        return "".join(command + "\n" for command in self.commands) or None

    def json_input(self):
        """The ``nft -j -f -`` input of the transaction."""
        return json.dumps({"nftables": self.json_commands})


def _family_of(chain, nft_rule):
    """The IP family an owned rule belongs to; one the module would not write belongs
    to the first family of its table, so exactly one family's run removes it."""
    rule = allow_rule_of(chain, nft_rule)
    return rule.family if rule is not None else TABLE_FAMILIES.get(chain.family, ("ipv4",))[0]


def _model_chain(ruleset, chain, family, comment):
    table = next(table for table in model(ruleset, family, comment)
                 if (table.family, table.name) == (chain.family, chain.table))
    return table.chains[chain.name]


def _first_risk(ruleset, chain, family, packet, comment):
    """The native rule of ``chain`` before which an allow rule for ``packet`` takes effect."""
    risky = _path.first_risk(_model_chain(ruleset, chain, family, comment), packet)
    if risky is None:
        return None
    return ruleset.chains[chain.key].rules[risky.position - 1]


def _accepted(ruleset, chain, family, packet, comment):
    return _path.walk(_model_chain(ruleset, chain, family, comment), packet).certain(_path.ACCEPT)


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
            wanted = (rule in request.expected and (chain.table_label, chain.name, rule) in request.needed
                      and (chain.key, rule) not in kept)
            if wanted:
                kept.add((chain.key, rule))
            else:
                tx.delete(chain, nft_rule)
    if request.enforce_order:
        for chain_key, rule in sorted(kept, key=repr):
            chain = tx.table.chains[chain_key]
            if not _accepted(tx.table, chain, family, request.packets[rule], request.comment):
                copy = next(nft_rule for nft_rule in chain.rules
                            if is_owned(nft_rule, request.comment) and allow_rule_of(chain, nft_rule) == rule)
                tx.delete(chain, copy)
                kept.discard((chain_key, rule))
    for chain in list(tx.table.chains.values()):
        missing = [rule for rule in request.expected
                   if (chain.table_label, chain.name, rule) in request.needed and (chain.key, rule) not in kept]
        if request.placement == "insert":
            # inserting one by one at the top reverses the order
            for rule in reversed(missing):
                tx.add(chain, rule, request.comment, at_top=True)
        else:
            for rule in missing:
                tx.add(chain, rule, request.comment,
                       before=_first_risk(tx.table, chain, family, request.packets[rule], request.comment))
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


# --- the backend -------------------------------------------------------------------------

class NftablesBackend(Backend):
    """Reads the native tables with ``nft -j list chains`` and ``nft -j list table`` and
    changes them with ``nft -f -``."""

    name = "nftables"
    boot_format = "nftables"

    def __init__(self, module, wait=0, commands=None):
        self._commands = commands or Commands(module)
        self._nft = module.get_bin_path("nft")
        self._unshare = module.get_bin_path("unshare")
        self._saves = OrderedDict((prefix, module.get_bin_path(prefix + "-nft-save")) for prefix in _XTABLES_FAMILIES)
        self._ruleset = None
        self._models = {}
        self._compiled = {}

    def installed(self, family=None):
        return self._nft is not None

    def missing(self, family, why=""):
        return NlmError("nft not found: install the nftables package, or choose another backend%s" % why)

    def prefetch(self, families):
        """The reads to run side by side: the chains, and iptables-nft-save, which tells
        which tables are its own."""
        argvs = [[path] for path in self._saves.values() if path is not None]
        if self._nft is not None:
            argvs.append([self._nft, "-j", "list", "chains"])
        return argvs

    def _saved(self, tables):
        if not any(family in _XTABLES_FAMILIES.values() for family, _table in tables):
            return {}
        return {prefix: self._commands.read([path]) for prefix, path in self._saves.items() if path is not None}

    def _xtables(self, tables):
        """Which of ``tables`` iptables-nft manages: those its save prints as its own.
        One it calls incompatible (written by nft itself) is native."""
        return xtables_tables(self._saved(tables))

    def _xt_specs(self, tables):
        """{(family, table): {chain: [spec]}} of the incompatible tables the save prints in part."""
        found = {}
        for prefix, text in self._saved(tables).items():
            if not incompatible_tables(text):
                continue
            parsed = parse_save(text)
            for name in incompatible_tables(text):
                if name in parsed:
                    found[(_XTABLES_FAMILIES[prefix], name)] = {
                        chain.name: chain.rules for chain in parsed[name].chains.values()}
        return found

    def read(self, family=None):
        """The native tables' chains, rules, sets and maps, each table listed on its own;
        the same Ruleset for every family."""
        if self._nft is None:
            for prefix, path in self._saves.items():
                if path is not None and incompatible_tables(self._commands.read([path])):
                    raise NlmError("%s says tables %s are nftables tables it cannot show, and nft is not "
                                   "installed to read them: install the nftables package"
                                   % (prefix + "-nft-save",
                                      ", ".join(incompatible_tables(self._commands.read([path])))))
            return Ruleset()
        if self._ruleset is None:
            tables = tables_with_chains(self._commands.read([self._nft, "-j", "list", "chains"]))
            xtables = self._xtables(tables)
            native = [(table_family, table) for table_family, table in tables
                      if (table_family, table) not in xtables and table_family in TABLE_FAMILIES]
            chains, sets, maps = [], {}, {}
            listings = [self._listing(table_family, table) for table_family, table in native]
            self._commands.read_all(listings)
            for argv, data in listings:
                parsed = parse_ruleset(self._commands.read(argv, data))
                chains.extend(parsed.chains.values())
                sets.update(parsed.sets)
                maps.update(parsed.maps)
            self._ruleset = Ruleset(chains, sets, maps, self._xt_specs(tables))
        return self._ruleset

    def _listing(self, family, table):
        """The (argv, stdin) that lists one table as JSON. The table is named in a JSON
        command: nft's command line cannot name a table called like a keyword (``maps``)."""
        return ([self._nft, "-j", "-f", "-"],
                json.dumps({"nftables": [{"list": {"table": {"family": family, "name": table}}}]}))

    def texts(self, ruleset):
        """{(family, table): {handle: rule text}} of the tables of ``ruleset``."""
        if self._nft is None or not ruleset.chains:
            return {}
        return rule_texts(self._commands.read([self._nft, "-a", "list", "ruleset"]))

    def apply(self, family, tx):
        """Commit ``tx`` in one nft transaction: all or nothing."""
        self._ruleset = None
        self._commands.change([self._nft, "-j", "-f", "-"], tx.json_input())

    def plan(self, ruleset, family, request):
        return plan(ruleset, family, request)

    def model(self, ruleset, family, comment, texts=None):
        key = (id(ruleset), family, comment, texts is None)
        if key not in self._models:
            # the Ruleset is kept beside its model, so that its id is not reused meanwhile
            self._models[key] = (ruleset, model(ruleset, family, comment, texts, self._compiled))
        return self._models[key][1]

    def owned_copies(self, ruleset, family, table, chain, rule, comment):
        return owned_copies(ruleset, table, chain, rule, comment)

    def check_boot_file(self, family, text):
        """Let nft check, without changing anything, that ``text`` loads as the node's boot
        loads it: into an empty ruleset, in a network namespace of its own. Checked against
        the live ruleset, a file that needs what only the live ruleset holds (a table it
        flushes but does not declare, say) would pass and then fail whole at boot. Where no
        namespace can be made (no ``unshare``, or not allowed), the live check is what is left."""
        if self._unshare is not None:
            try:
                self._commands.check([self._unshare, "--net", "--", self._nft, "-c", "-f", "-"], text)
                return
            except NlmError as error:
                if not (error.stderr or "").startswith("unshare:"):
                    raise
        self._commands.check([self._nft, "-c", "-f", "-"], text)

    def owned_lines(self, ruleset, family, comment):
        return owned_lines(ruleset, comment, family)
