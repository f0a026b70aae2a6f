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
iptables-nft backend; a table it calls incompatible is native.

This module holds the backend, which runs the commands; what nft prints is parsed in
_nftables_ruleset.py, the owned rules are told apart and written in _nftables_rules.py,
and planned in _nftables_plan.py, all pure functions of the JSON.
"""

from __future__ import annotations

import json
from collections import OrderedDict

from ansible_collections.nodelatency.monitor.plugins.module_utils import _path
from ansible_collections.nodelatency.monitor.plugins.module_utils._backend import Backend
from ansible_collections.nodelatency.monitor.plugins.module_utils._commands import Commands
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_save import incompatible_tables, parse_save
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables_plan import model, owned_copies, plan
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables_rules import owned_lines
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables_ruleset import (
    Ruleset,
    XTABLES_FAMILIES,
    parse_ruleset,
    rule_texts,
    tables_with_chains,
    xtables_tables,
)


class NftablesBackend(Backend):
    """Reads the native tables with ``nft -j list chains`` and ``nft -j list table`` and
    changes them with ``nft -f -``."""

    name = "nftables"
    boot_format = "nftables"

    def __init__(self, module, wait=0, commands=None):
        self._commands = commands or Commands(module)
        self._nft = module.get_bin_path("nft")
        self._unshare = module.get_bin_path("unshare")
        self._saves = OrderedDict((prefix, module.get_bin_path(prefix + "-nft-save")) for prefix in XTABLES_FAMILIES)
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
        if not any(family in XTABLES_FAMILIES.values() for family, _table in tables):
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
                    found[(XTABLES_FAMILIES[prefix], name)] = {
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
                      if (table_family, table) not in xtables and table_family in _path.TABLE_FAMILIES]
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

    def apply(self, family, transaction):
        """Commit ``transaction`` in one nft transaction: all or nothing."""
        self._ruleset = None
        self._commands.change([self._nft, "-j", "-f", "-"], transaction.json_input())

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
