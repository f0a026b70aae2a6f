# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plans for the owned rules of one iptables flavour and family, and the path model of
its tables. A plan is a Transaction: iptables-restore commands recorded while they are
applied to a copy of the saved tables, so that the plan and its outcome (check mode,
diff) are the same code, and a rule this module does not own is never re-rendered,
reordered or deleted. Where an owned rule goes is decided by the path model (_path.py)
over every flavour at once and handed in with the Request."""

from __future__ import annotations

from collections import OrderedDict

from ansible_collections.nodelatency.monitor.plugins.module_utils import _path
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_model import BUILTIN_HOOKS, model_table
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_rules import (
    BUILTIN_DIRECTIONS,
    BUILTIN_OF_OWNED,
    OWNED_CHAIN_PREFIX,
    OWNED_CHAINS,
    allow_rule_of,
    fields_of,
    is_own_jump,
    is_owned,
    mentions,
    render_jump,
    render_rule,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_save import Chain


class Transaction(object):
    """iptables-restore commands recorded while they are applied to a copy of
    the tables, so the plan and its outcome (check mode, diff) are the same code."""

    def __init__(self, tables):
        # a table is copied when the plan first changes it: the others stay the very
        # objects that were read, and so does their model (a table of thousands of
        # foreign rules is not modelled twice)
        self.table = OrderedDict(tables)
        self._copied = set()
        self._headers = OrderedDict()
        self._commands = OrderedDict()
        self.added = []
        self.removed = []

    def _writable(self, table):
        if table not in self._copied:
            self.table[table] = self.table[table].copy()
            self._copied.add(table)
        return self.table[table]

    def _record(self, table, command):
        self._commands.setdefault(table, []).append(command)

    @staticmethod
    def _name(table, line):
        return line if table == "filter" else "-t %s %s" % (table, line)

    def delete(self, table, chain, spec):
        self._writable(table).chains[chain].rules.remove(spec)
        self._record(table, "-D %s %s" % (chain, spec))
        self.removed.append(self._name(table, "-A %s %s" % (chain, spec)))

    def insert(self, table, chain, spec, before=None):
        """Insert ``spec`` at the top of ``chain``, or just before the rule ``before``."""
        rules = self._writable(table).chains[chain].rules
        index = rules.index(before) if before is not None else 0
        rules.insert(index, spec)
        self._record(table, "-I %s %d %s" % (chain, index + 1, spec))
        self.added.append(self._name(table, "-A %s %s" % (chain, spec)))

    def append(self, table, chain, spec):
        self._writable(table).chains[chain].rules.append(spec)
        self._record(table, "-A %s %s" % (chain, spec))
        self.added.append(self._name(table, "-A %s %s" % (chain, spec)))

    def create_chain(self, table, chain):
        self._writable(table).chains[chain] = Chain(chain, "-")
        # Declared only when missing: declaring an existing chain flushes it.
        self._headers.setdefault(table, []).append(":%s - [0:0]" % chain)
        self._commands.setdefault(table, [])
        self.added.append(self._name(table, ":%s -" % chain))

    def delete_chain(self, table, chain):
        del self._writable(table).chains[chain]
        self._record(table, "-X %s" % chain)
        self.removed.append(self._name(table, ":%s -" % chain))

    def restore_input(self):
        """The iptables-restore --noflush input, or None when nothing is to change."""
        if not self._commands:
            return None
        lines = []
        for table, commands in self._commands.items():
            lines.extend(["*" + table] + self._headers.get(table, []) + commands + ["COMMIT"])
        return "\n".join(lines) + "\n"


def _model_chain(tx, family, table, builtin, comment):
    """The model of ``builtin`` of ``table`` as planned so far."""
    return model("", OrderedDict([(table, tx.table[table])]), family, comment)[0].chains[builtin]


def _first_risk(tx, family, table, builtin, packets, comment):
    """The spec of the first rule of ``builtin`` that may keep one of ``packets`` from
    being accepted there, or None when the chain accepts them all at its end."""
    chain = _model_chain(tx, family, table, builtin, comment)
    positions = [rule.position for rule in (_path.first_risk(chain, packet) for packet in packets)
                 if rule is not None]
    return tx.table[table].chains[builtin].rules[min(positions) - 1] if positions else None


def _accepted(tx, family, table, builtin, packets, comment):
    """Whether ``builtin`` as planned accepts every one of ``packets``."""
    chain = _model_chain(tx, family, table, builtin, comment)
    return all(_path.walk(chain, packet).certain(_path.ACCEPT) for packet in packets)


def _place(tx, family, table, builtin, specs, packets, request):
    """Add ``specs`` (in order) to ``builtin``: at the top, or with placement append
    just before the first rule that may keep ``packets`` from being accepted."""
    before = None
    if request.placement == "append":
        before = _first_risk(tx, family, table, builtin, packets, request.comment)
        if before is None:
            for spec in specs:
                tx.append(table, builtin, spec)
            return
    # one by one before the same rule keeps their order; one by one at the top reverses it
    for spec in (specs if before is not None else reversed(specs)):
        tx.insert(table, builtin, spec, before=before)


def plan(tables, family, request):
    """The Transaction that turns ``tables`` (one family's saved tables) into ones
    holding exactly one owned copy of each expected rule in every built-in chain that
    needs it, and no other owned rule of the interfaces in scope; foreign rules and
    owned rules of other interfaces stay as they are."""
    tx = Transaction(tables)
    for name in list(tables):
        for builtin in BUILTIN_HOOKS.get(name, {}):
            if builtin in tables[name].chains or OWNED_CHAINS[builtin] in tables[name].chains:
                _plan_chain(tx, family, name, builtin, request)
    return tx


def _plan_chain(tx, family, table, builtin, request):
    direction = BUILTIN_DIRECTIONS[builtin]
    owned_chain = OWNED_CHAINS[builtin]
    label = "%s %s" % (_path.TABLE_FAMILY_OF[family], table)
    wanted = [rule for rule in request.expected
              if rule.direction == direction and (label, builtin, rule) in request.needed]
    home = owned_chain if request.chain_mode == "dedicated" else builtin
    scope = set(request.interfaces)
    kept = set()
    for chain in (builtin, owned_chain):
        for spec in list(tx.table[table].rules(chain)):
            if not is_owned(chain, spec, request.comment) or fields_of(spec).target == owned_chain:
                continue
            rule = allow_rule_of(chain, spec, family)
            if rule is not None and rule.interface not in scope:
                continue
            if chain == home and rule in wanted and rule not in kept:
                kept.add(rule)
            else:
                tx.delete(table, chain, spec)
    if request.enforce_order and request.chain_mode == "direct":
        for spec in list(tx.table[table].rules(builtin)):
            rule = allow_rule_of(builtin, spec, family) if is_owned(builtin, spec, request.comment) else None
            if rule in kept and not _accepted(tx, family, table, builtin, [request.packets[rule]], request.comment):
                tx.delete(table, builtin, spec)
                kept.discard(rule)
    missing = [rule for rule in wanted if rule not in kept]
    if request.chain_mode == "dedicated":
        for rule in missing:
            if owned_chain not in tx.table[table].chains:
                tx.create_chain(table, owned_chain)
            _put_in_order(tx, family, table, owned_chain, rule, wanted, render_rule(rule, request.comment))
    elif missing:
        _place(tx, family, table, builtin, [render_rule(rule, request.comment) for rule in missing],
               [request.packets[rule] for rule in missing], request)
    _plan_jump(tx, family, table, builtin, request)


def _put_in_order(tx, family, table, owned_chain, rule, wanted, spec):
    """Add ``spec`` to the owned chain in the order the rules are asked for, so that a rule
    deleted by hand goes back where it was: just after the rule before it in that order,
    else just before the rule after it, else at the end."""
    rules = tx.table[table].rules(owned_chain)
    position = wanted.index(rule)
    present = [(index, allow_rule_of(owned_chain, existing, family)) for index, existing in enumerate(rules)]
    earlier = [index for index, found in present if found in wanted[:position]]
    if earlier and earlier[-1] + 1 < len(rules):
        tx.insert(table, owned_chain, spec, before=rules[earlier[-1] + 1])
        return
    later = [index for index, found in present if found in wanted[position + 1:]]
    if later and not earlier:
        tx.insert(table, owned_chain, spec, before=rules[later[0]])
        return
    tx.append(table, owned_chain, spec)


def _chain_rules(tx, family, table, owned_chain):
    return [rule for rule in (allow_rule_of(owned_chain, spec, family) for spec in tx.table[table].rules(owned_chain))
            if rule is not None]


def _plan_jump(tx, family, table, builtin, request):
    """One jump into a populated owned chain; none, and no chain, when it is empty."""
    owned_chain = OWNED_CHAINS[builtin]
    populated = bool(tx.table[table].rules(owned_chain))
    packets = [request.packets[rule] for rule in _chain_rules(tx, family, table, owned_chain)
               if rule in request.packets]
    keep = None
    for chain in list(tx.table[table].chains):
        for spec in list(tx.table[table].rules(chain)):
            if not mentions(spec, owned_chain) or fields_of(spec).target != owned_chain:
                continue
            if populated and keep is None and chain == builtin and is_own_jump(builtin, spec, family,
                                                                               request.comment):
                keep = spec
            else:
                tx.delete(table, chain, spec)
    if (keep is not None and request.enforce_order and packets
            and not _accepted(tx, family, table, builtin, packets, request.comment)):
        tx.delete(table, builtin, keep)
        keep = None
    if populated and keep is None:
        _place(tx, family, table, builtin, [render_jump(family, builtin, request.comment)], packets, request)
    if not populated and owned_chain in tx.table[table].chains:
        tx.delete_chain(table, owned_chain)


# --- the model of a flavour's tables ------------------------------------------------------

def model(flavour, tables, family, comment, cache=None):
    """The path-model Tables of one family's saved tables (those that can filter).
    ``cache`` ({}) keeps each table's model for as long as the very same Table is asked about."""
    def owned(chain, spec):
        # most rules mention neither the tag nor an owned chain: no call for them
        return (chain in BUILTIN_OF_OWNED or comment in spec or OWNED_CHAIN_PREFIX in spec) and is_owned(
            chain, spec, comment)
    found = []
    for name, table in tables.items():
        if name not in BUILTIN_HOOKS:
            continue
        key = (id(table), family, comment)
        if cache is not None and key in cache:
            found.append(cache[key][1])
            continue
        modelled = model_table(flavour, family, name, OrderedDict(
            (chain.name, (chain.policy, chain.rules)) for chain in table.chains.values()), owned)
        if cache is not None:
            # the Table is kept beside its model, so that its id is not reused meanwhile
            cache[key] = (table, modelled)
        found.append(modelled)
    return found


def owned_copies(tables, family, table, builtin, rule, comment):
    """Where the owned copies of ``rule`` are that serve ``builtin`` of ``table``:
    [(chain, 1-based position)], direct ones first."""
    places = []
    saved = tables.get(table)
    if saved is None:
        return places
    for chain in (builtin, OWNED_CHAINS[builtin]):
        for position, spec in enumerate(saved.rules(chain), 1):
            if is_owned(chain, spec, comment) and allow_rule_of(chain, spec, family) == rule:
                places.append((chain, position))
    return places
