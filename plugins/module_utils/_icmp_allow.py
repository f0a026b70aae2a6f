# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What nlm_icmp_allow and nlm_icmp_allow_info do, for any firewall backend.

This module validates the options, picks the backends, serialises runs on one
network namespace and assembles the results. A backend class (_iptables.py,
_nftables.py) has a ``name`` and these methods:

- ``prefetch(families)``: run the reads of ``families`` side by side, where that helps;
- ``read(family)``: the family's ruleset as the backend models it;
- ``plan(ruleset, family, request)``: a transaction with ``table`` (the ruleset
  after it), ``added``, ``removed`` and ``restore_input()`` (None: no change);
- ``apply(family, transaction)``: commit it atomically;
- ``inspect(ruleset, family, expected, comment)``: the info report of a family;
- ``owned_lines(ruleset, family, comment)``: the family's owned rules as text, for diff and results.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
import time
from contextlib import contextmanager, nullcontext

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.nodelatency.monitor.plugins.module_utils._commands import Commands
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._facts import firewalld_running
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import (
    DEFAULT_COMMENT,
    FAMILIES,
    ROLES,
    comment_problem,
    expected_rules,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._ifname import invalid_interface_names
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables import (
    IPTABLES_BACKENDS,
    Request,
    variant_of_version,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables import NftablesBackend, boot_commands
from ansible_collections.nodelatency.monitor.plugins.module_utils._persist import (
    IPTABLES_FILES,
    NFTABLES_FILES,
    existing,
    merge_iptables,
    merge_nftables,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._persist import read as read_boot_file
from ansible_collections.nodelatency.monitor.plugins.module_utils._persist import write as write_boot_file

BACKEND_CHOICES = ["auto"] + sorted(IPTABLES_BACKENDS) + [NftablesBackend.name]
LOCALE_C = {"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}

COMMON_ARGUMENT_SPEC = dict(
    interfaces=dict(type="list", elements="str", required=True),
    roles=dict(type="list", elements="str", choices=list(ROLES), default=list(ROLES)),
    ip_versions=dict(type="list", elements="str", choices=list(FAMILIES), default=list(FAMILIES)),
    backend=dict(type="str", choices=BACKEND_CHOICES, default="auto"),
    comment=dict(type="str", default=DEFAULT_COMMENT),
)

ALLOW_ARGUMENT_SPEC = dict(
    COMMON_ARGUMENT_SPEC,
    state=dict(type="str", choices=["present", "absent"], default="present"),
    chain_mode=dict(type="str", choices=["dedicated", "direct"], default="dedicated"),
    placement=dict(type="str", choices=["insert", "append"], default="insert"),
    enforce_order=dict(type="bool", default=False),
    wait=dict(type="int", default=30),
    # raw: auto, or a boolean in any spelling Ansible accepts
    persist=dict(type="raw", default="auto"),
)


def _families(params):
    """The requested families in a fixed order, each once."""
    return [family for family in FAMILIES if family in params["ip_versions"]]


def persist_mode(value):
    """'auto', True or False for the persist option; None when it is none of them."""
    if value == "auto":
        return value
    try:
        return boolean(value, strict=True)
    except TypeError:
        return None


def validate(params):
    """Every problem with the options, before anything runs."""
    problems = []
    if not params["interfaces"]:
        problems.append("interfaces is empty: name at least one interface")
    problems.extend(invalid_interface_names(params["interfaces"]))
    if not params["roles"]:
        problems.append("roles is empty: give responder, prober or both")
    if not params["ip_versions"]:
        problems.append("ip_versions is empty: give ipv4, ipv6 or both")
    problem = comment_problem(params["comment"])
    if problem:
        problems.append(problem)
    if params.get("wait") is not None and params["wait"] < 0:
        problems.append("wait must be 0 or more seconds")
    if "persist" in params and persist_mode(params["persist"]) is None:
        problems.append("persist must be auto, true or false, not %r" % (params["persist"],))
    return problems


def detect_backend(module):
    """The backend the ``iptables`` command uses on this host."""
    path = module.get_bin_path("iptables") or module.get_bin_path("ip6tables")
    if path is None:
        raise NlmError("neither iptables nor ip6tables is installed: install the iptables package "
                       "or name a backend")
    rc, stdout, stderr = module.run_command([path, "--version"])
    backend = variant_of_version(stdout) if rc == 0 else None
    if backend is None:
        raise NlmError("cannot tell which backend %s uses from %r: set backend explicitly"
                       % (path, (stdout or stderr).strip()), stderr=stderr, rc=rc)
    return backend


def select_backends(module, name, families, expected, comment, wait=0):
    """The backend objects to use, in order. A named backend is used alone. 'auto'
    uses every one that filters ICMP echo or holds owned rules, because an accept in
    one of them does not help against a drop in another: the iptables variant the
    ``iptables`` command uses when its filter table is not empty, and native nftables
    when one of its base chains needs an ``expected`` rule ({family: [AllowRule]}) or
    holds an owned rule. When neither does, the iptables variant (or nftables on a
    host without iptables)."""
    commands = Commands(module)
    if name == NftablesBackend.name:
        return [NftablesBackend(module, commands)]
    if name != "auto":
        return [IPTABLES_BACKENDS[name](module, families, wait, commands)]
    nft = NftablesBackend(module, commands) if module.get_bin_path("nft") else None
    if nft is not None and module.get_bin_path("iptables") is None and module.get_bin_path("ip6tables") is None:
        return [nft]
    iptables = IPTABLES_BACKENDS[detect_backend(module)](module, families, wait, commands)
    if nft is None or not nft.in_use(nft.read(None), families,
                                     [rule for family in families for rule in expected[family]], comment):
        return [iptables]
    # only beside nftables does it matter whether the iptables filter table is empty
    iptables.prefetch(families)
    if any(not iptables.read(family).is_empty() for family in families):
        return [iptables, nft]
    return [nft]


@contextmanager
def namespace_lock(timeout):
    """Serialise runs on one network namespace: the xtables lock covers a single
    restore, this covers the read-plan-restore sequence, so concurrent runs do
    not both add the same missing rule."""
    directory = "/run/lock" if os.path.isdir("/run/lock") else tempfile.gettempdir()
    path = os.path.join(directory, "nodelatency-monitor-netns-%d.lock" % os.stat("/proc/self/ns/net").st_ino)
    deadline = time.monotonic() + timeout
    try:
        # read-only is enough for flock, and lets an unprivileged run reach the
        # iptables-save that tells it to become root
        descriptor = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError as error:
        raise NlmError("cannot open the lock file %s (%s): run the task as root (become: true)"
                       % (path, error.strerror))
    try:
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise NlmError("another nlm_icmp_allow run held %s for more than %d seconds: "
                                   "retry, or raise wait" % (path, timeout))
                time.sleep(0.05)
        yield
    finally:
        os.close(descriptor)


def _missing_interfaces(interfaces):
    missing = []
    for name in interfaces:
        if name.endswith("+"):
            continue
        try:
            socket.if_nametoindex(name)
        except OSError:
            missing.append(name)
    return missing


def _diff_text(per_family):
    return "".join("# %s\n%s" % (family, "".join(line + "\n" for line in lines))
                   for family, lines in per_family.items())


FIREWALLD_ADVICE = (
    "firewalld is running in this network namespace, and nlm_icmp_allow does not change the rules of a "
    "firewalld-managed host behind firewalld's back (firewalld would drop them at its next reload). Let ICMP "
    "echo through with firewalld itself: firewalld's zones accept it unless blocked, so for the zone of each "
    "interface (firewall-cmd --get-zone-of-interface=IF) run firewall-cmd --permanent --zone=ZONE "
    "--remove-icmp-block=echo-request --remove-icmp-block=echo-reply (and for IPv6 check "
    "--query-icmp-block-inversion), then firewall-cmd --reload; or stop firewalld and manage the rules with "
    "this module")


class IcmpAllow(object):
    """Ensures the ICMP echo allow rules (state present) or their absence, live and,
    with persist, in the files the node restores its firewall from at boot."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.families = _families(self.params)

    def run(self):
        params = self.params
        problems = validate(params)
        if problems:
            raise NlmError("; ".join(problems))
        if firewalld_running():
            raise NlmError(FIREWALLD_ADVICE)
        requests = {family: self._request(family) for family in self.families}
        if params["state"] == "present":
            missing = _missing_interfaces(params["interfaces"])
            if missing:
                self.module.warn("interface(s) %s do not exist yet; the rules are written anyway and match "
                                 "once the interface appears" % ", ".join(missing))
        before, after = {}, {}
        file_diffs = []
        # check mode only reads, so it need not wait for other runs. The backends are
        # chosen under the lock too: what they read to choose is what they plan with.
        with nullcontext() if self.module.check_mode else namespace_lock(params["wait"]):
            backends = select_backends(self.module, params["backend"], self.families,
                                       {family: request.expected for family, request in requests.items()},
                                       params["comment"], params["wait"])
            boot_files = self._boot_files(backends)
            result = {"changed": False, "backend": "+".join(backend.name for backend in backends), "rules": {},
                      "persisted": []}
            for backend in backends:
                backend.prefetch(self.families)
                rulesets = {}
                for family in self.families:
                    outcome = result["rules"].setdefault(
                        family, {"added": [], "removed": [], "present": [], "transaction": ""})
                    rulesets[family] = self._family(backend, family, requests[family], result, outcome,
                                                    before.setdefault(family, []), after.setdefault(family, []))
                for path, family in boot_files[backend.name]:
                    self._persist(backend, path, family, rulesets, result, file_diffs)
        if self.module._diff:
            result["diff"] = [{"before_header": "owned rules", "after_header": "owned rules",
                               "before": _diff_text(before), "after": _diff_text(after)}] + file_diffs
        return result

    def _request(self, family):
        params = self.params
        expected = (expected_rules(family, params["interfaces"], params["roles"])
                    if params["state"] == "present" else [])
        return Request(params["state"], params["interfaces"], expected, params["chain_mode"],
                       params["placement"], params["enforce_order"], params["comment"])

    def _family(self, backend, family, request, result, outcome, before, after):
        """Plan and (outside check mode) apply one family on one backend; returns the
        ruleset after it (predicted in check mode)."""
        comment = self.params["comment"]
        table = backend.read(family)
        tx = backend.plan(table, family, request)
        # The transaction is atomic and the namespace lock keeps other runs of this
        # module out, so once it is committed the owned rules are those of the plan;
        # reading the table again would cost a save of every foreign rule.
        now = tx.table
        if tx.restore_input() is not None:
            result["changed"] = True
            if not self.module.check_mode:
                backend.apply(family, tx)
        present = backend.owned_lines(now, family, comment)
        before.extend(backend.owned_lines(table, family, comment))
        after.extend(present)
        outcome["added"].extend(tx.added)
        outcome["removed"].extend(tx.removed)
        outcome["present"].extend(present)
        outcome["transaction"] += tx.restore_input() or ""
        return now

    def _boot_files(self, backends):
        """{backend name: [(path, family or None)]}: the boot files to keep in step.
        Found before anything changes, so that persist=true without any fails cleanly."""
        mode = persist_mode(self.params["persist"])
        files = {}
        for backend in backends:
            if backend.name == NftablesBackend.name:
                candidates = [(path, None) for path in NFTABLES_FILES]
            else:
                candidates = [(path, family) for family in self.families for path in IPTABLES_FILES[family]]
            in_use = existing([path for path, _family in candidates])
            files[backend.name] = [] if mode is False else [
                (path, family) for path, family in candidates if path in in_use]
            if mode is True and not files[backend.name]:
                raise NlmError("persist is true, but none of %s exists, so nothing restores the %s rules at boot: "
                               "install and enable the service that restores them (netfilter-persistent, "
                               "iptables-services or nftables), or set persist to auto or false"
                               % (", ".join(path for path, _family in candidates), backend.name))
        return files

    def _persist(self, backend, path, family, rulesets, result, file_diffs):
        """Bring the owned rules in ``path`` in step with ``rulesets`` ({family: ruleset after the run})."""
        comment = self.params["comment"]
        old = read_boot_file(path)
        if family is None:
            # the untouched family's live rules are in any ruleset read
            live = {name: rulesets.get(name, next(iter(rulesets.values()))) for name in FAMILIES}
            new = merge_nftables(old, boot_commands(live, comment), comment)
        else:
            new = merge_iptables(old, backend.owned_lines(rulesets[family], family, comment), comment, path)
        result["persisted"].append(path)
        if new == old:
            return
        if family is None:
            backend.check_boot_file(new)
        else:
            backend.check_boot_file(family, new)
        result["changed"] = True
        file_diffs.append({"before_header": path, "after_header": path, "before": old, "after": new})
        if not self.module.check_mode:
            write_boot_file(path, new)


class IcmpAllowInfo(object):
    """Reports the ICMP echo allow rules without changing anything."""

    def __init__(self, module):
        self.module = module
        self.params = module.params

    def run(self):
        params = self.params
        problems = validate(params)
        if problems:
            raise NlmError("; ".join(problems))
        families = _families(params)
        expected = {family: expected_rules(family, params["interfaces"], params["roles"]) for family in families}
        backends = select_backends(self.module, params["backend"], families, expected, params["comment"])
        report = {"backend": "+".join(backend.name for backend in backends), "firewalld_running": firewalld_running()}
        for backend in backends:
            backend.prefetch(families)
        for family in families:
            report[family] = {}
            for backend in backends:
                part = backend.inspect(backend.read(family), family, expected[family], params["comment"])
                for key, entries in part.items():
                    report[family].setdefault(key, []).extend(entries)
        rules = [rule for family in families for rule in report[family]["rules"]]
        report["all_present"] = all(rule["present"] for rule in rules)
        report["all_effective"] = all(rule["effective"] for rule in rules)
        return {"changed": False, "icmp_allow": report}
