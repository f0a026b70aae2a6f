# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ICMP echo allow rules in the tables of iptables-nft and iptables-legacy.

State is read from ``*-save`` output, never with ``iptables -C`` (which ignores
interfaces and comments on some nft-backend releases); every table of the flavour
is read, since a drop in the raw, mangle or security table drops the probes as
surely as one in filter. Which built-in chains need an allow rule is decided by the
path model (_path.py) over every flavour at once and handed in with the Request.
Changes are one ``iptables-restore --noflush`` transaction per flavour and family,
built from the saved text itself, so a rule this module does not own is never
re-rendered, reordered or deleted.

This module holds the backends, which run the commands; what they print is parsed in
_iptables_save.py, the owned rules are told apart and spelled in _iptables_rules.py,
and planned in _iptables_plan.py, all pure functions of the saved text.
"""

from __future__ import annotations

from collections import OrderedDict

from ansible_collections.nodelatency.monitor.plugins.module_utils import _path
from ansible_collections.nodelatency.monitor.plugins.module_utils._backend import Backend
from ansible_collections.nodelatency.monitor.plugins.module_utils._commands import Commands
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_model import BUILTIN_HOOKS
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_plan import model, owned_copies, plan
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_rules import owned_lines
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_save import incompatible_tables, nft_chain_tables, parse_save

_LEGACY_PRESENT = "iptables-legacy tables present"

_COMMAND_PREFIX = {"ipv4": "iptables", "ipv6": "ip6tables"}
_LEGACY_NAMES = {"ipv4": "/proc/net/ip_tables_names", "ipv6": "/proc/net/ip6_tables_names"}


def _read_names(path):
    try:
        with open(path) as handle:
            return [line.strip() for line in handle if line.strip()]
    except (IOError, OSError):
        return []


class IptablesBackend(Backend):
    """Reads and changes every table of one iptables flavour through its ``*-save``
    and ``*-restore`` commands; subclasses name the flavour."""

    variant = None
    boot_format = "iptables-save"

    def __init__(self, module, wait=0, commands=None):
        self._commands = commands or Commands(module)
        self._wait = wait
        self._models = {}
        self._paths = {}
        for family in _COMMAND_PREFIX:
            for tool in ("save", "restore"):
                self._paths[(family, tool)] = module.get_bin_path(
                    "%s-%s-%s" % (_COMMAND_PREFIX[family], self.variant, tool))

    def installed(self, family=None):
        return all(self._paths[(each, tool)] for each in ([family] if family else _COMMAND_PREFIX)
                   for tool in ("save", "restore"))

    def missing(self, family, why=""):
        """The error for this flavour's commands missing for ``family``; ``why`` says
        what makes them needed."""
        command = "%s-%s-save" % (_COMMAND_PREFIX[family], self.variant)
        return NlmError("%s not found: install the iptables package (it provides %s)%s%s"
                        % (command, command, ", or set ip_versions to [ipv4]" if family == "ipv6" else "", why))

    def _save_argv(self, family):
        return [self._paths[(family, "save")]]

    def _reads(self, family):
        """Whether this flavour has tables of ``family`` to read."""
        return self.installed(family)

    def prefetch(self, families):
        """Save the tables of ``families`` side by side, for read() to parse."""
        return [self._save_argv(family) for family in families if self._reads(family)]

    def read(self, family):
        """The tables of ``family`` as ``*-save`` prints them now. A table the save
        calls incompatible (written by nft, or holding base chains nft added) is left
        to the nftables backend, which reads all of it: the save would show it in part."""
        if not self._reads(family):
            return OrderedDict()
        text = self._commands.read(self._save_argv(family))
        tables = parse_save(text)
        for name in incompatible_tables(text):
            tables.pop(name, None)
        return tables

    def apply(self, family, transaction):
        """Commit ``transaction`` in one iptables-restore transaction: all or nothing."""
        if not self.installed(family):
            raise self.missing(family)
        # the families are separate tables: one's restore leaves the other's save as it was
        self._commands.change([self._paths[(family, "restore")], "--noflush", "--wait=%d" % self._wait],
                              transaction.restore_input(),
                              unaffected=[self._save_argv(other) for other in _COMMAND_PREFIX
                                          if other != family and self._paths[(other, "save")]])

    # a ruleset of this backend is {table name: Table} of one family

    def plan(self, ruleset, family, request):
        return plan(ruleset, family, request)

    def texts(self, ruleset):
        return None

    def model(self, ruleset, family, comment, texts=None):
        return model(self.name, ruleset, family, comment, self._models)

    def owned_copies(self, ruleset, family, table, chain, rule, comment):
        return owned_copies(ruleset, family, table.name, chain.name, rule, comment)

    def check_boot_file(self, family, text):
        """Let iptables-restore check, without changing anything, that ``text`` loads."""
        self._commands.check([self._paths[(family, "restore")], "--test"], text)

    def owned_lines(self, ruleset, family, comment):
        return owned_lines(ruleset, comment)


class IptablesNftBackend(IptablesBackend):
    """iptables with the nf_tables kernel API (iptables-nft)."""

    name = "iptables-nft"
    variant = "nft"

    def __init__(self, module, wait=0, commands=None):
        super(IptablesNftBackend, self).__init__(module, wait, commands)
        self._nft = module.get_bin_path("nft")

    def _reads(self, family):
        """Its tables are read whenever its commands are there. Without them, a table nft
        lists under an iptables name in the family's nftables family may be one of its
        own, which nothing else can read: the run stops."""
        if self.installed(family):
            return True
        if self._nft is None:
            return False
        listing = self._commands.read([self._nft, "-j", "list", "chains"])
        wanted = _path.TABLE_FAMILY_OF[family]
        names = sorted({table for table_family, table in nft_chain_tables(listing)
                        if table_family == wanted and table in BUILTIN_HOOKS})
        if names:
            raise self.missing(family, "; nftables holds %s tables named %s, which may be iptables-nft's"
                               % (wanted, ", ".join(names)))
        return False


class IptablesLegacyBackend(IptablesBackend):
    """iptables with the legacy xtables kernel API (iptables-legacy). Its tables
    are read only when the kernel lists one in this network namespace: a save of a
    table that does not exist would create it."""

    name = "iptables-legacy"
    variant = "legacy"
    names_files = _LEGACY_NAMES

    def __init__(self, module, wait=0, commands=None):
        super(IptablesLegacyBackend, self).__init__(module, wait, commands)
        self._nft_saves = {family: module.get_bin_path("%s-nft-save" % prefix)
                           for family, prefix in _COMMAND_PREFIX.items()}

    def loaded(self, family):
        return bool(_read_names(self.names_files[family]))

    def read(self, family):
        nft_save = self._nft_saves[family]
        if not self.loaded(family) and nft_save is not None:
            # iptables-nft-save sees legacy tables this process does not (another network
            # namespace's view, or no root). Read once for both: the iptables-nft backend
            # reads the same save.
            self._commands.read([nft_save])
            if _LEGACY_PRESENT in self._commands.stderr([nft_save]):
                raise NlmError("%s warns that iptables-legacy tables are present, but %s lists none, so they "
                               "cannot be read: run the task as root (become: true) in the node's own network "
                               "namespace" % (nft_save.rsplit("/", 1)[-1], self.names_files[family]))
        return super(IptablesLegacyBackend, self).read(family)

    def _reads(self, family):
        if not self.loaded(family):
            return False
        if not self.installed(family):
            raise self.missing(family, "; the kernel holds %s tables (%s) in this network namespace, which only it "
                                       "can read" % (self.name, ", ".join(_read_names(self.names_files[family]))))
        return True


IPTABLES_BACKENDS = OrderedDict((backend.name, backend) for backend in (IptablesLegacyBackend, IptablesNftBackend))
