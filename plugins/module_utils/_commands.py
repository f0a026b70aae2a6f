# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall commands of one module run, shared by its backends."""

from __future__ import annotations

import threading

from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import command_failed


class Commands(object):
    """Runs a module's firewall commands, argv lists only.

    What a reading command printed is kept until a changing command runs: with
    10,000 rules in a table one ``iptables-nft-save`` costs about 0.1 s, and the
    native nftables backend asks the very command the iptables-nft backend reads
    with which tables are iptables-nft's. Callers read under the namespace lock,
    so a kept output is as current as a new one would be."""

    def __init__(self, module):
        self._module = module
        self._outputs = {}
        self._stderr = {}

    def _run(self, argv, data=None):
        rc, stdout, stderr = self._module.run_command(argv, data=data, binary_data=True)
        if rc != 0:
            raise command_failed(argv, rc, stderr)
        self._stderr[tuple(argv)] = stderr
        return stdout

    def stderr(self, argv):
        """What the last successful run of ``argv`` printed on stderr: the
        ``*-save`` commands warn there about tables they do not show."""
        return self._stderr.get(tuple(argv), "")

    @staticmethod
    def _key(query):
        """A reading command is an argv list, or an (argv, stdin) pair for one that
        reads what to do from its input (``nft -j -f -``)."""
        if isinstance(query, tuple):
            return tuple(query[0]), query[1]
        return tuple(query), None

    def read(self, argv, data=None):
        """The output of a command that changes nothing, run once until the next change."""
        key = (tuple(argv), data)
        if key not in self._outputs:
            self._outputs[key] = self._run(argv, data)
        return self._outputs[key]

    def read_all(self, queries):
        """Run the reading commands not yet kept side by side and keep their outputs.

        One ``*-save`` per IP family spends most of its time in the kernel and in
        its own process, so two of them take about as long as one."""
        missing = [key for key in dict.fromkeys(self._key(query) for query in queries) if key not in self._outputs]
        if len(missing) < 2:
            for argv, data in missing:
                self.read(list(argv), data)
            return
        outcomes = [None] * len(missing)

        def run(index):
            try:
                outcomes[index] = (True, self._run(list(missing[index][0]), missing[index][1]))
            except BaseException as error:  # raised again in the calling thread, below
                outcomes[index] = (False, error)

        threads = [threading.Thread(target=run, args=(index,)) for index in range(len(missing))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # every run has ended; the first failure in argv order is the one reported
        for key, (succeeded, value) in zip(missing, outcomes):
            if not succeeded:
                raise value
            self._outputs[key] = value

    def check(self, argv, data):
        """Run a command that only checks ``data`` (``--test``, ``nft -c``)."""
        return self._run(argv, data)

    def change(self, argv, data, unaffected=()):
        """Run a command that changes the ruleset. Every kept output is forgotten
        except those of the reading commands in ``unaffected`` (argv lists that
        the change cannot alter, such as the other IP family's save)."""
        keep = set(self._key(other) for other in unaffected)
        self._outputs = dict((key, value) for key, value in self._outputs.items() if key in keep)
        return self._run(argv, data)
