# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plans for the owned rules in native nftables tables, the path model of those tables,
and the boot file's commands. A plan is a Transaction of ``insert``/``add``/``delete rule
... handle N`` commands recorded while they are applied to a copy of the ruleset, so
that the plan and its outcome (check mode, diff) are the same code, and no rule the
module does not own is ever rewritten or moved."""

from __future__ import annotations

import json
from collections import OrderedDict

from ansible_collections.nodelatency.monitor.plugins.module_utils import _path
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_model import action_of, compile_spec
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables_model import compile_rule
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables_rules import (
    allow_rule_of,
    describe,
    family_of,
    is_owned,
    render_statement,
    rule_expr,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables_ruleset import NftRule

# --- the model ---------------------------------------------------------------------------


def model(ruleset, family, comment, texts=None, compiled=None):
    """The path-model Tables of the native tables that see ``family``. ``texts``
    ({(family, table): {handle: text}}) names rules in nft syntax where known;
    ``compiled`` ({}) keeps each rule's match and action for as long as the very same
    rule is asked about (a plan's copy of the ruleset holds the same rules)."""
    tables = OrderedDict()
    for chain in ruleset.chains.values():
        if family not in _path.TABLE_FAMILIES.get(chain.family, ()):
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
            if not is_owned(nft_rule, request.comment) or family_of(chain, nft_rule) != family:
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
