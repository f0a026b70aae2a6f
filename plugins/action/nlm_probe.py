# -*- coding: utf-8 -*-
# Copyright: contributors to nodelatency.monitor
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of nlm_probe: who this host probes and at which addresses.

The documentation is in plugins/modules/nlm_probe.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

from ansible import constants as C
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.nodelatency.monitor.plugins.module_utils._agent import sample_peers
from ansible_collections.nodelatency.monitor.plugins.module_utils._probe_args import MUTUALLY_EXCLUSIVE, argument_spec
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._peer_addresses import (
    IP_VERSIONS,
    PEER_FACTS,
    PEER_VARIABLES,
    addresses_by_name,
    peer_addresses,
)

# Options the controller consumes; the module never sees them.
ACTION_OPTIONS = ("peers", "target", "ip_versions", "max_peers", "rotation", "skip_unresolved")
# Strategies that run a task for every host of a batch before any host goes on.
LOCKSTEP_STRATEGIES = ("linear", "ansible.builtin.linear", "ansible.legacy.linear")


def select_peers(me, play_hosts, peers, groups):
    """Hosts to probe, in a stable order, without me (me None: all of them)."""
    if peers is None:
        candidates = list(play_hosts)
    elif isinstance(peers, str):
        if peers not in groups:
            raise AnsibleActionFail("nlm_probe: peers names group %r, which the inventory does not have" % peers)
        candidates = list(groups[peers])
    elif isinstance(peers, list):
        known = set(groups.get("all", []))
        unknown = [str(host) for host in peers if host not in known]
        if unknown:
            raise AnsibleActionFail(
                "nlm_probe: peers lists hosts the inventory does not have: %s "
                "(give inventory host names, or one group name as a string)" % ", ".join(unknown))
        candidates = list(peers)
    else:
        raise AnsibleActionFail("nlm_probe: peers must be a group name or a list of host names, got %r" % (peers,))
    ordered = []
    for host in candidates:
        if host != me and host not in ordered:
            ordered.append(host)
    return ordered


def shared_directory():
    """Where the forks of one ansible process share what they worked out: its own
    temporary directory on the controller, made before the forks and removed when it ends."""
    return C.DEFAULT_LOCAL_TMP


def sampled_peers(me, peers, max_peers, rotation=None):
    """The peers me probes, in the order of ``peers``: all of them without a limit, else
    the nlm agent's ring sample (_agent.sample_peers), moved along the ring by
    ``rotation`` x ``max_peers``; no rotation is the stable sample."""
    if max_peers <= 0 or max_peers >= len(peers):
        return list(peers)
    chosen = set(sample_peers(me, list(peers) + [me], max_peers, rotation or 0))
    return [peer for peer in peers if peer in chosen]


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(argument_spec())

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp

        validation, args = self.validate_argument_spec(argument_spec=argument_spec(),
                                                       mutually_exclusive=MUTUALLY_EXCLUSIVE)
        del validation
        me = task_vars["inventory_hostname"]
        module_args = dict((key, value) for key, value in args.items() if key not in ACTION_OPTIONS)
        module_args["name"] = args["name"] or me
        warnings = []
        if args["targets"] is None:
            module_args["targets"], warnings = self._resolve_targets(me, args, task_vars)

        module_result = self._execute_module(module_args=module_args, task_vars=task_vars)
        if args["targets"] is None and isinstance(module_result.get("invocation"), dict):
            # the options as given, as the copy action shows them: the targets worked out
            # here are the facts' peers already, and a copy of them in every host's result
            # is a fifth more for the controller to handle (and to print at -vvv)
            module_result["invocation"] = {"module_args": dict(args)}
        result.update(module_result)
        if warnings:
            result.setdefault("warnings", []).extend(warnings)
        return result

    def _resolve_targets(self, me, args, task_vars):
        everyone = select_peers(None, task_vars.get("ansible_play_hosts_all", []), args["peers"], task_vars["groups"])
        peers = [host for host in everyone if host != me]
        book = self._peer_book(everyone, args, task_vars["hostvars"], task_vars.get("ansible_play_batch"))
        targets = []
        unresolved = []
        by_name = []
        for peer in sampled_peers(me, peers, args["max_peers"], args["rotation"]):
            entry = book[peer]
            if entry.get("error"):
                raise AnsibleActionFail(entry["error"])
            if entry["by_name"]:
                by_name.append("%s (%s)" % (peer, ", ".join(entry["address"])))
            if entry["address"]:
                targets.append({"name": peer, "address": list(entry["address"])})
            else:
                unresolved.append(peer)
        if unresolved and not args["skip_unresolved"]:
            raise AnsibleActionFail(
                "nlm_probe: no address known for %s; set nlm_probe_address for them, gather facts "
                "(nodelatency.monitor.nlm_facts or setup), or set skip_unresolved: true" % ", ".join(unresolved))
        warnings = ["nlm_probe: skipping %s: no address known" % peer for peer in unresolved]
        if by_name:
            # a name's address is the controller's view, which may not be the one the
            # nodes reach each other on: said once, with what pins it
            warnings.append("nlm_probe: no variable or fact gives an address of %s: resolved their names on the "
                            "controller; set nlm_probe_address or gather facts (nodelatency.monitor.nlm_facts) to "
                            "choose the address" % "; ".join(by_name))
        return targets, warnings

    def _peer_book(self, hosts, args, hostvars, batch):
        """{host: {"address": [...], "by_name": bool, "error": str or None}} for every host of ``hosts``.

        What a peer's addresses are does not depend on who probes it, and each look-up
        of a peer's variables copies all of its facts, which hold its own probe result
        once that came in: every prober doing it for every peer made the look-ups grow
        with the cube of the inventory. Under the linear strategy the forks of one
        ansible process run this task for every host of the batch at the same point of
        the play, so the first to resolve the whole list leaves it in the process's
        temporary directory, under this task, batch and options, for the others; a fork
        that finds none, or cannot read or write it, resolves by itself. Another task,
        a later batch (serial) or another strategy, where hosts reach the task after
        others have gathered more, reads the peers again.
        """
        versions = tuple(IP_VERSIONS[name] for name in args["ip_versions"])
        task_id = getattr(self._task, "_uuid", None)
        directory = shared_directory()
        path = None
        if isinstance(task_id, str) and directory and self._in_lockstep():
            key = json.dumps([task_id, list(batch or ()), args["target"], versions, list(hosts)], sort_keys=True)
            path = os.path.join(directory, "nlm_probe-peers-%s.json" % hashlib.sha256(key.encode()).hexdigest())
            try:
                with open(path, encoding="utf-8") as stream:
                    book = json.load(stream)
                if isinstance(book, dict) and set(hosts) <= set(book):
                    return book
            except (OSError, ValueError):
                pass
        book = dict((host, self._resolve_peer(hostvars, host, args["target"], versions)) for host in hosts)
        if path:
            self._share(path, book)
        return book

    def _in_lockstep(self):
        try:
            play = self._task.get_play()
        except AttributeError:
            return False
        strategy = getattr(play, "strategy", None) or C.DEFAULT_STRATEGY
        return strategy in LOCKSTEP_STRATEGIES

    def _resolve_peer(self, hostvars, peer, target, versions):
        try:
            peer_vars = self._peer_vars(hostvars, peer)
            addresses = peer_addresses(peer, peer_vars, target, versions)
        except AnsibleError as err:
            # only the probers that sample this peer fail, as if each had read it
            message = err.message if isinstance(err, AnsibleActionFail) else (
                "nlm_probe: cannot work out the addresses of host %s: %s" % (peer, err.message))
            return {"address": [], "by_name": False, "error": str(message)}
        by_name = not addresses
        if by_name:
            addresses = addresses_by_name(peer, peer_vars, versions)
        return {"address": [str(address) for address in addresses], "by_name": by_name and bool(addresses),
                "error": None}

    @staticmethod
    def _share(path, book):
        try:
            descriptor, scratch = tempfile.mkstemp(prefix=".nlm_probe-peers-", dir=os.path.dirname(path))
        except OSError:
            return
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                json.dump(book, stream)
            # whole or not at all for a fork reading it at the same moment
            os.replace(scratch, path)
        except (OSError, TypeError, ValueError):
            try:
                os.unlink(scratch)
            except OSError:
                pass

    def _peer_vars(self, hostvars, peer):
        """The variables and facts of ``peer`` that _address_sources reads, its variables templated in its context.

        Only these are read: ``hostvars[peer]`` would template all of a peer's
        facts, and once peers hold an earlier probe's nlm_latency that is every
        peer's result for every peer, so the cost would grow with the square of the
        inventory. A templar is made for the peer only when one of its variables
        holds template text: making one per peer cost four times the look-up itself
        (100 peers with nlm_facts gathered: 31 ms against 7 ms per prober). Facts are
        what a node reported and are never templated (Ansible 2.19 does not render
        templates in module results either)."""
        raw = hostvars.raw_get(peer)
        facts = raw.get("ansible_facts") or {}
        wanted = dict((name, raw[name]) for name in PEER_VARIABLES if name in raw)
        if self._holds_template(wanted):
            wanted = self._templar.copy_with_new_env(available_variables=raw).template(wanted)
        wanted["ansible_facts"] = dict((name, facts[name]) for name in PEER_FACTS if name in facts)
        return wanted

    def _holds_template(self, value):
        if isinstance(value, dict):
            return any(self._holds_template(item) for item in value.values())
        if isinstance(value, (list, tuple)):
            return any(self._holds_template(item) for item in value)
        return self._templar.is_possibly_template(value)
