# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every firewall flavour's backend offers the shared layer (_icmp_allow.py), with
the same signatures in each: iptables-legacy and iptables-nft (_iptables.py) and native
nftables (_nftables.py). A ruleset is whatever the backend reads and models; the shared
layer only hands it back."""

from __future__ import annotations

import abc


class Backend(abc.ABC):
    """One flavour of firewall in the network namespace the module runs in.

    ``name`` is the flavour, as the ``backend`` option names it; ``boot_format`` the format
    of the boot files that restore it (``iptables-save``: rules.v4/rules.v6, which the
    iptables flavours share; ``nftables``: nftables.conf)."""

    name = None
    boot_format = None

    @abc.abstractmethod
    def installed(self, family=None):
        """Whether its commands are there (for ``family``)."""

    @abc.abstractmethod
    def missing(self, family, why=""):
        """The NlmError for its commands missing for ``family``; ``why`` says what makes them needed."""

    @abc.abstractmethod
    def prefetch(self, families):
        """The reading commands (argv lists) to run side by side before read()."""

    @abc.abstractmethod
    def read(self, family):
        """The family's ruleset as the backend models it."""

    @abc.abstractmethod
    def texts(self, ruleset):
        """What the module reports of each rule besides the path model (nft's own
        text of a native rule), or None when the model's text is all there is."""

    @abc.abstractmethod
    def model(self, ruleset, family, comment, texts=None):
        """The path-model Tables (_path.py) of ``ruleset``."""

    @abc.abstractmethod
    def plan(self, ruleset, family, request):
        """A transaction with ``table`` (the ruleset after it), ``added``, ``removed`` and
        ``restore_input()`` (None: no change) for the Request (_icmp_rules.py)."""

    @abc.abstractmethod
    def apply(self, family, transaction):
        """Commit ``transaction`` atomically."""

    @abc.abstractmethod
    def owned_copies(self, ruleset, family, table, chain, rule, comment):
        """Where the owned copies of ``rule`` are that serve the base ``chain`` of ``table``."""

    @abc.abstractmethod
    def owned_lines(self, ruleset, family, comment):
        """The family's owned rules as text, for diff, results and boot files."""

    @abc.abstractmethod
    def check_boot_file(self, family, text):
        """Check, without changing anything, that a boot file ``text`` loads."""
