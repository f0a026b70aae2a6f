# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What nlm_icmp_allow and nlm_icmp_allow_info do, for every firewall flavour at once.

This module validates the options, reads every flavour (iptables-legacy, iptables-nft,
native nftables) of the network namespace, serialises runs on it, and judges each
probe packet's path through all of them with the path model (_path.py): a filter
needs an owned rule when, without the owned rules, it would not certainly accept the
packet. Each flavour is a Backend (_backend.py): the same methods with the same
signatures, so that nothing here depends on which flavour it is, beyond the format of
the boot files that restore it.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import socket
import stat
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext

from ansible_collections.nodelatency.monitor.plugins.module_utils import _firewalld, _path
from ansible_collections.nodelatency.monitor.plugins.module_utils._commands import Commands
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._facts import firewalld_running
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import (
    DEFAULT_COMMENT,
    FAMILIES,
    ROLES,
    Request,
    comment_problem,
    expected_rules,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._ifname import (
    invalid_interface_names,
    pattern_problem,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables import IPTABLES_BACKENDS
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_save import variant_of_version
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables import NftablesBackend
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables_plan import boot_commands
from ansible_collections.nodelatency.monitor.plugins.module_utils._persist import (
    IPTABLES_FILES,
    NFTABLES_FILES,
    existing,
    merge_iptables,
    merge_nftables,
    ufw_enabled,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._persist import read as read_boot_file
from ansible_collections.nodelatency.monitor.plugins.module_utils._persist import write as write_boot_file

BACKEND_CLASSES = OrderedDict(list(IPTABLES_BACKENDS.items()) + [(NftablesBackend.name, NftablesBackend)])
BACKEND_CHOICES = ["auto"] + sorted(list(BACKEND_CLASSES) + ["firewalld"])
LOCALE_C = {"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}

COMMON_ARGUMENT_SPEC = dict(
    interfaces=dict(type="list", elements="str", required=True),
    roles=dict(type="list", elements="str", choices=list(ROLES), default=list(ROLES)),
    ip_versions=dict(type="list", elements="str", choices=list(FAMILIES), default=list(FAMILIES)),
    backend=dict(type="str", choices=BACKEND_CHOICES, default="auto"),
    comment=dict(type="str", default=DEFAULT_COMMENT),
)

# remotes: the peers' addresses, each judged on the route to it
INFO_ARGUMENT_SPEC = dict(
    COMMON_ARGUMENT_SPEC,
    remotes=dict(type="list", elements="str", default=[]),
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
    if value == "auto" or isinstance(value, bool):
        return value
    # imported here: the nlm agent runs the rules logic without Ansible, always with a bool
    from ansible.module_utils.parsing.convert_bool import boolean
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
    problems.extend(problem for problem in (pattern_problem(name) for name in params["interfaces"]) if problem)
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
    not_addresses = [text for text in params.get("remotes") or () if _ip_or_none(text) is None]
    if not_addresses:
        problems.append("remotes must be the peers' IP addresses, as the probe targets them; not an address: %s"
                        % ", ".join(repr(text) for text in not_addresses))
    return problems


def _ip_or_none(text):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# root's own directory: in a directory everyone may write to (/run/lock, /tmp) any local
# user could make a namespace's lock file first, or a link in its place, and hold up every run
LOCK_DIRECTORY = "/run/nodelatency-monitor"


def _lock_directory():
    """LOCK_DIRECTORY, made if missing, once it is known to be a directory (not a link)
    owned by root that not everyone may write to. The nlm role lets the agent's group
    write to it when the agent repairs rules."""
    try:
        os.mkdir(LOCK_DIRECTORY, 0o755)
    except FileExistsError:
        pass
    except OSError as error:
        raise NlmError("cannot make the lock directory %s (%s): run the task as root (become: true)"
                       % (LOCK_DIRECTORY, error.strerror))
    status = os.lstat(LOCK_DIRECTORY)
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != 0 or status.st_mode & stat.S_IWOTH:
        raise NlmError("%s is not a directory owned by root that only root (and its group) may write to, so "
                       "another user could hold up every run: remove it, and the next run makes it again"
                       % LOCK_DIRECTORY)
    return LOCK_DIRECTORY


@contextmanager
def namespace_lock(timeout):
    """Serialise runs on one network namespace: the xtables lock covers a single
    restore, this covers the read-plan-restore sequence, so concurrent runs do
    not both add the same missing rule."""
    path = os.path.join(_lock_directory(), "netns-%d.lock" % os.stat("/proc/self/ns/net").st_ino)
    deadline = time.monotonic() + timeout
    try:
        # read-only is enough for flock, and lets a run as another user that may use the
        # lock (the agent's) open a lock file root made; never through a link
        descriptor = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
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
        try:
            socket.if_nametoindex(name)
        except OSError:
            missing.append(name)
    return missing


def _diff_text(per_family):
    return "".join("# %s\n%s" % (family, "".join(line + "\n" for line in lines))
                   for family, lines in per_family.items())


FIREWALLD_ADVICE = (
    "firewalld is running in this network namespace, and backend %s would change its tables behind its back "
    "(firewalld drops such rules at its next reload, and a drop in its own table wins over an accept elsewhere): "
    "use backend auto or firewalld, which write the rules into firewalld itself")
NOT_FIREWALLD = ("backend firewalld was asked for, but no firewalld runs in this network namespace: start it "
                 "(systemctl start firewalld) or use backend auto")


def local_addresses(module, commands):
    """{interface: {family: [address]}} of this namespace's global addresses: what a
    probe leaving or reaching an interface carries as this node's address. Empty when
    ``ip`` cannot tell, and address matches on this node's side are then undecided."""
    path = module.get_bin_path("ip")
    if path is None:
        return {}
    try:
        listing = json.loads(commands.read([path, "-j", "address", "show"]) or "[]")
    except (NlmError, ValueError):
        return {}
    found = {}
    for link in listing if isinstance(listing, list) else []:
        per_family = found.setdefault(link.get("ifname"), {"ipv4": [], "ipv6": []})
        for address in link.get("addr_info", []):
            family = {"inet": "ipv4", "inet6": "ipv6"}.get(address.get("family"))
            if family and address.get("scope") == "global" and address.get("local"):
                per_family[family].append(ipaddress.ip_address(address["local"]))
    return found


def routes_to(module, addresses):
    """{address: (interface, source address or None)} of the kernel's route to each of
    ``addresses`` (ip_address objects), looked up in one ``ip -batch``; an address
    without a route is left out."""
    path = module.get_bin_path("ip")
    if path is None or not addresses:
        return {}
    script = "".join("route get %s\n" % address for address in addresses)
    # -force: one address without a route must not hide the routes of the others
    _rc, stdout, _stderr = module.run_command([path, "-j", "-force", "-batch", "-"], data=script)
    found = {}
    for line in stdout.splitlines():
        try:
            routes = json.loads(line)
        except ValueError:
            continue
        for route in routes if isinstance(routes, list) else ():
            destination = _ip_or_none(str(route.get("dst", "")))
            if destination is not None and route.get("dev"):
                found[destination] = (route["dev"], _ip_or_none(str(route.get("prefsrc", ""))))
    return found


class Firewall(object):
    """Every flavour of firewall in one network namespace, read once per change."""

    def __init__(self, module, wait=0):
        self.module = module
        self.commands = Commands(module)
        self.backends = OrderedDict((name, backend_class(module, wait, self.commands))
                                    for name, backend_class in BACKEND_CLASSES.items())
        self._addresses = None

    def require(self, name, families):
        """Fail when the backend a task names explicitly cannot run here."""
        if name == "auto":
            return
        backend = self.backends[name]
        for family in families:
            if not backend.installed(family):
                raise backend.missing(family)

    def prefetch(self, families):
        argvs = [argv for backend in self.backends.values() for argv in backend.prefetch(families)]
        ip = self.module.get_bin_path("ip")
        if ip is not None:
            argvs.append([ip, "-j", "address", "show"])
        self.commands.read_all(argvs)

    def rulesets(self, family):
        """{backend name: ruleset} of ``family`` as it is now."""
        return OrderedDict((name, backend.read(family)) for name, backend in self.backends.items())

    def tables(self, family, rulesets, comment, with_texts=False):
        """The path-model Tables of every flavour; ``with_texts``: with the flavours' own
        text of each rule, for a report."""
        tables = []
        for name, backend in self.backends.items():
            texts = backend.texts(rulesets[name]) if with_texts else None
            tables.extend(backend.model(rulesets[name], family, comment, texts))
        return tables

    def addresses(self):
        """{interface: {family: [address]}} of this namespace, read once (local_addresses)."""
        if self._addresses is None:
            self._addresses = local_addresses(self.module, self.commands)
        return self._addresses

    def packet(self, rule):
        local = self.addresses().get(rule.interface, {}).get(rule.family)
        return _path.Packet.of(rule, local=local or None)


def describe_drop(judgement):
    """The filter and rule that drop (or may drop) the packet of a Judgement, or None."""
    if judgement.witness is None:
        return None
    return _path.describe_witness(judgement.witness)


def one_line(dropped_by):
    """A dropped_by entry as one line: flavour, table, chain, position and rule."""
    if dropped_by is None:
        return None
    return "%s %s %s%s: %s" % (dropped_by["flavour"], dropped_by["table"], dropped_by["chain"],
                               " #%d" % dropped_by["position"] if dropped_by["position"] else "", dropped_by["rule"])


def needed_filters(firewall, tables, family, rules):
    """{flavour: {(table label, chain, AllowRule)}}: the filters that, without the owned
    rules, would not certainly accept each rule's packet."""
    needed = {name: set() for name in BACKEND_CLASSES}
    for rule in rules:
        judgement = _path.judge(_path.filters(tables, family, rule.direction), firewall.packet(rule),
                                skip_owned=True)
        for walked in judgement.walks:
            if not walked.certain(_path.ACCEPT):
                chain = walked.chain
                needed[chain.table.flavour].add((chain.table.label, chain.name, rule))
    return needed


def _flavours(params):
    return list(BACKEND_CLASSES) if params["backend"] == "auto" else [params["backend"]]


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
        # the nlm agent's repair runs this as its own user, which may not see firewalld's
        # namespace: then firewalld's table in this one tells
        if firewalld_running(table_here=lambda: firewalld_table_here(Firewall(self.module))):
            if params["backend"] not in ("auto", "firewalld"):
                raise NlmError(FIREWALLD_ADVICE % params["backend"])
            return FirewalldIcmpAllow(self.module, self.families).run()
        if params["backend"] == "firewalld":
            raise NlmError(NOT_FIREWALLD)
        if params["state"] == "present":
            missing = _missing_interfaces(params["interfaces"])
            if missing:
                self.module.warn("interface(s) %s do not exist yet; rules go only where a filter would drop "
                                 "their probes, judged without this node's addresses, and match once the "
                                 "interface appears" % ", ".join(missing))
        before, after = {}, {}
        file_diffs = []
        result = {"changed": False, "rules": {}, "persisted": []}
        # check mode only reads, so it need not wait for other runs. The rulesets are
        # read under the lock: what the plan is made of is what it changes.
        with nullcontext() if self.module.check_mode else namespace_lock(params["wait"]):
            firewall = Firewall(self.module, params["wait"])
            if params["state"] == "present":
                # absent needs no command: where a family's commands are missing there is nothing
                # of ours to remove (and tables only they could read stop the run when read)
                firewall.require(params["backend"], self.families)
            firewall.prefetch(self.families)
            # every family is planned, and the boot files found, before anything changes
            plans = OrderedDict((family, self._plan_family(firewall, family)) for family in self.families)
            used = self._used(firewall, plans)
            boot_files = self._boot_files(used)
            planned = {}
            commits = []
            for family, (rulesets, family_plans, expected) in plans.items():
                outcome = result["rules"][family] = {"added": [], "removed": [], "present": [], "transaction": "",
                                                     "paths": []}
                planned[family] = self._predict_family(firewall, family, rulesets, family_plans, expected, outcome,
                                                       before.setdefault(family, []), after.setdefault(family, []),
                                                       commits)
            result["changed"] = any(outcome["transaction"] for outcome in result["rules"].values())
            # the boot files are made and checked before anything changes: a file that would
            # not load stops the run with the firewall as it was
            writes = self._persist_all(firewall, planned, boot_files, result, file_diffs)
            if not self.module.check_mode:
                for backend, family, tx in commits:
                    backend.apply(family, tx)
                for path, text in writes:
                    write_boot_file(self.module, path, text)
        result["backend"] = "+".join(name for name in BACKEND_CLASSES if name in used)
        if self.module._diff:
            result["diff"] = [{"before_header": "owned rules", "after_header": "owned rules",
                               "before": _diff_text(before), "after": _diff_text(after)}] + file_diffs
        return result

    def _used(self, firewall, plans):
        """The flavours that hold owned rules before or after the plans."""
        comment = self.params["comment"]
        used = set()
        for family, (rulesets, family_plans, _expected) in plans.items():
            for name, tx in family_plans.items():
                backend = firewall.backends[name]
                before = backend.owned_lines(rulesets[name], family, comment)
                if before or backend.owned_lines(tx.table, family, comment):
                    used.add(name)
        return used

    def _plan_family(self, firewall, family):
        """(rulesets, {backend name: transaction}, expected rules) of one family."""
        params = self.params
        expected = (expected_rules(family, params["interfaces"], params["roles"])
                    if params["state"] == "present" else [])
        rulesets = firewall.rulesets(family)
        needed = needed_filters(firewall, firewall.tables(family, rulesets, params["comment"]), family, expected)
        return rulesets, self._plans(firewall, family, rulesets, expected, needed), expected

    def _predict_family(self, firewall, family, rulesets, plans, expected, outcome, before, after, commits):
        """One family's outcome of its plans; returns {backend name: ruleset after the run}
        and adds the transactions to commit to ``commits``."""
        comment = self.params["comment"]
        now = OrderedDict(rulesets)
        for name, tx in plans.items():
            backend = firewall.backends[name]
            # The transaction is atomic and the namespace lock keeps other runs of this
            # module out, so once it is committed the owned rules are those of the plan;
            # reading the ruleset again would cost a save of every foreign rule.
            now[name] = tx.table
            if tx.restore_input() is not None:
                commits.append((backend, family, tx))
                outcome["transaction"] += tx.restore_input()
            present = backend.owned_lines(tx.table, family, comment)
            before.extend(backend.owned_lines(rulesets[name], family, comment))
            after.extend(present)
            outcome["added"].extend(tx.added)
            outcome["removed"].extend(tx.removed)
            outcome["present"].extend(present)
        outcome["paths"] = self._paths(firewall, family, now, expected)
        return now

    def _plans(self, firewall, family, rulesets, expected, needed):
        """{backend name: transaction} for the flavours allowed. An accept placed early
        on the path can make a later filter drop what it accepted before (a mark or a
        connection mark that the skipped rules would have set): the plan is judged
        with its own rules, every filter that would then drop a probe is added to
        those that need a rule, and the plan is made again until none is left."""
        params = self.params
        comment = params["comment"]
        packets = {rule: firewall.packet(rule) for rule in expected}
        allowed = [name for name in _flavours(params) if firewall.backends[name].installed(family)]
        for name in _flavours(params):
            if name not in allowed and needed[name]:
                raise NlmError("%s filters would drop the %s probes, and %s cannot change them: install its "
                               "commands (the iptables or nftables package)" % (name, family, name))
        while True:
            plans = OrderedDict()
            for name in allowed:
                request = Request(params["state"], params["interfaces"], expected, params["chain_mode"],
                                  params["placement"], params["enforce_order"], comment, needed[name], packets)
                plans[name] = firewall.backends[name].plan(rulesets[name], family, request)
            planned = OrderedDict(rulesets)
            planned.update((name, tx.table) for name, tx in plans.items())
            tables = firewall.tables(family, planned, comment)
            more = False
            for rule in expected:
                judgement = _path.judge(_path.filters(tables, family, rule.direction), packets[rule])
                for walked in judgement.walks:
                    chain = walked.chain
                    key = (chain.table.label, chain.name, rule)
                    flavour = chain.table.flavour
                    if flavour in allowed and not walked.certain(_path.ACCEPT) and key not in needed[flavour]:
                        needed[flavour].add(key)
                        more = True
            if not more:
                return plans

    def _paths(self, firewall, family, rulesets, expected):
        """The verdict each expected rule's packet meets after the run, and warnings
        where a filter the run could not change still drops it."""
        backend = self.params["backend"]

        def advice(dropped_by):
            if backend != "auto" and dropped_by["flavour"] != backend:
                return "; backend %s leaves the other flavours alone: use backend auto" % backend
            return ""
        return judged_paths(firewall, family, expected, self.params["comment"], rulesets, advice)

    def _boot_files(self, used):
        """{boot format: (the flavours used that it restores, [(path, family or None)])}:
        the boot files to keep in step with the flavours used. Found before anything
        changes, so that persist true without any fails cleanly."""
        mode = persist_mode(self.params["persist"])
        if mode is False:
            return {}
        flavours = OrderedDict()
        for name, backend_class in BACKEND_CLASSES.items():
            if name in used:
                flavours.setdefault(backend_class.boot_format, []).append(name)
        files = OrderedDict()
        for boot_format, names in flavours.items():
            paths = [(path, family) for family in self.families for path in IPTABLES_FILES[family]] \
                if boot_format == "iptables-save" else [(path, None) for path in NFTABLES_FILES]
            in_use = existing([path for path, _family in paths])
            if mode is True and not in_use:
                raise NlmError("persist is true, but none of %s exists, so nothing restores the %s rules at boot: "
                               "install and enable the service that restores them (netfilter-persistent, "
                               "iptables-services or nftables), or set persist to auto or false"
                               % (", ".join(path for path, _family in paths), "+".join(names)))
            files[boot_format] = (names, [(path, family) for path, family in paths if path in in_use])
            if not in_use and boot_format == "iptables-save" and self.params["state"] == "present" and ufw_enabled():
                self.module.warn("ufw loads this node's firewall at boot, and none of %s exists: the owned rules are "
                                 "live only and gone after a reboot until the next run (run this module or the nlm "
                                 "role after each boot)" % ", ".join(path for path, _family in paths))
        return files

    def _persist_all(self, firewall, planned, boot_files, result, file_diffs):
        """[(path, new content)] of the boot files to bring in step with the live rules
        after the run, each checked to load."""
        comment = self.params["comment"]
        writes = []
        for boot_format, (names, paths) in boot_files.items():
            if not paths:
                continue
            if boot_format == "nftables":
                backend = firewall.backends[names[0]]
                # the untouched family's live rules are in any ruleset read
                any_family = next(iter(planned.values()))
                live = {family: planned.get(family, any_family)[backend.name] for family in FAMILIES}
                for path, _family in paths:
                    writes += self._persist(path, read_boot_file(path),
                                            lambda old: merge_nftables(old, boot_commands(live, comment), comment),
                                            lambda text: backend.check_boot_file(None, text), result, file_diffs)
                continue
            flavour = self._boot_flavour(names)
            backend = firewall.backends[flavour]
            for path, family in paths:
                owned = backend.owned_lines(planned[family][flavour], family, comment)
                writes += self._persist(path, read_boot_file(path),
                                        lambda old, owned=owned, path=path: merge_iptables(old, owned, comment, path),
                                        lambda text, family=family: backend.check_boot_file(family, text), result,
                                        file_diffs)
        return writes

    def _boot_flavour(self, used):
        """The iptables flavour the boot files are restored with: the one the
        ``iptables`` command runs. Owned rules in the other flavour are live only."""
        path = self.module.get_bin_path("iptables") or self.module.get_bin_path("ip6tables")
        flavour = None
        if path is not None:
            rc, stdout, _stderr = self.module.run_command([path, "--version"])
            flavour = variant_of_version(stdout) if rc == 0 else None
        flavour = flavour or used[0]
        for other in used:
            if other != flavour:
                self.module.warn("the owned rules in %s are not kept in the boot files, which the node restores "
                                 "with %s: they are gone after a reboot until the next run" % (other, flavour))
        return flavour

    def _persist(self, path, old, merge, check, result, file_diffs):
        """[(path, new content)] when the owned rules in ``path`` differ from the live ones
        after the run, else []."""
        new = merge(old)
        result["persisted"].append(path)
        if new == old:
            return []
        try:
            check(new)
        except NlmError as error:
            raise NlmError("%s with the owned rules would not load at boot (%s); nothing was changed: fix the file, "
                           "or set persist to false" % (path, error), error.stderr, error.rc)
        result["changed"] = True
        file_diffs.append({"before_header": path, "after_header": path, "before": old, "after": new})
        return [(path, new)]


class IcmpAllowInfo(object):
    """Reports, without changing anything, the path each probe packet takes through
    every filter, what it meets there, and where the owned rules are."""

    def __init__(self, module):
        self.module = module
        self.params = module.params

    def run(self):
        params = self.params
        problems = validate(params)
        if problems:
            raise NlmError("; ".join(problems))
        families = _families(params)
        comment = params["comment"]
        firewall = Firewall(self.module)
        running = firewalld_running(table_here=lambda: firewalld_table_here(firewall))
        if params["backend"] == "firewalld" and not running:
            raise NlmError(NOT_FIREWALLD)
        firewall.require("auto" if params["backend"] == "firewalld" else params["backend"], families)
        firewall.prefetch(families)
        report = {"firewalld_running": running}
        owned_in_firewalld = None
        if running:
            report["firewalld"], owned_in_firewalld = firewalld_report(self.module, firewall, comment)
        flavours_seen = set()
        tables_by_family = {}
        for family in families:
            rulesets = firewall.rulesets(family)
            tables = tables_by_family[family] = firewall.tables(family, rulesets, comment, with_texts=True)
            expected = expected_rules(family, params["interfaces"], params["roles"])
            entries = []
            for rule in expected:
                entry = self._entry(firewall, rulesets, tables, family, rule, flavours_seen, running)
                if owned_in_firewalld is not None:
                    entry.update(firewalld_presence(firewall, rule, owned_in_firewalld))
                    entry["firewalld_dropped_by"] = _firewalld.in_firewalds_terms(entry["dropped_by"])
                entries.append(entry)
            report[family] = {"rules": entries}
        report["backend"] = "firewalld" if running else "+".join(name for name in BACKEND_CLASSES
                                                                 if name in flavours_seen)
        rules = [entry for family in families for entry in report[family]["rules"]]
        report["all_present"] = all(entry["present"] for entry in rules)
        report["all_effective"] = all(entry["effective"] for entry in rules)
        if params.get("remotes"):
            report["remotes"] = remote_paths(firewall, tables_by_family, params["remotes"], running)
        return {"changed": False, "icmp_allow": report}

    def _entry(self, firewall, rulesets, tables, family, rule, flavours_seen, firewalld=False):
        comment = self.params["comment"]
        # where firewalld runs, the rules are its own and no raw flavour's filter gets one
        allowed = [] if firewalld else _flavours(self.params)
        packet = firewall.packet(rule)
        chains = _path.filters(tables, family, rule.direction)
        judgement = _path.judge(chains, packet)
        without = _path.judge(chains, packet, skip_owned=True)
        filters = []
        for walked, bare in zip(judgement.walks, without.walks):
            chain = walked.chain
            flavour = chain.table.flavour
            flavours_seen.add(flavour)
            backend = firewall.backends[flavour]
            copies = backend.owned_copies(rulesets[flavour], family, chain.table, chain, rule, comment)
            first = copies[0] if copies else None
            filters.append({
                "flavour": flavour, "table": chain.table.label, "chain": chain.name, "hook": chain.hook,
                "priority": chain.priority, "policy": chain.policy,
                "needs_rule": flavour in allowed and not bare.certain(_path.ACCEPT),
                "present": bool(copies), "copies": len(copies),
                "rule_chain": first[0] if first else None, "position": first[1] if first else None,
                "handle": first[2] if first and len(first) > 2 else None,
                "verdict": walked.verdict,
                "dropped_by": None if walked.verdict == _path.ACCEPT else _path.describe_witness(walked),
            })
        dropped_by = describe_drop(judgement)
        holding = [entry for entry in filters if entry["present"]]
        return {
            "interface": rule.interface, "direction": rule.direction, "message": rule.message,
            "role": rule.role, "icmp_type": rule.icmp_type,
            "verdict": judgement.verdict, "effective": judgement.verdict == _path.ACCEPT,
            "dropped_by": dropped_by, "shadowed_by": one_line(dropped_by),
            "needed": any(entry["needs_rule"] for entry in filters),
            "present": all(entry["present"] for entry in filters if entry["needs_rule"]),
            "copies": sum(entry["copies"] for entry in filters),
            "backend": holding[0]["flavour"] if holding else None,
            "chain": holding[0]["rule_chain"] if holding else None,
            "position": holding[0]["position"] if holding else None,
            "filters": filters,
        }


def judged_paths(firewall, family, rules, comment, rulesets=None, advice=None):
    """The verdict each rule's packet meets in ``rulesets`` (by default the live ones of
    every flavour), with a warning where it is still dropped (``advice(dropped_by)``
    adds to it)."""
    module = firewall.module
    tables = firewall.tables(family, rulesets if rulesets is not None else firewall.rulesets(family), comment)
    paths = []
    for rule in rules:
        judgement = _path.judge(_path.filters(tables, family, rule.direction), firewall.packet(rule))
        dropped_by = describe_drop(judgement)
        paths.append({"interface": rule.interface, "direction": rule.direction, "message": rule.message,
                      "verdict": judgement.verdict, "dropped_by": dropped_by})
        if judgement.verdict != _path.ACCEPT and dropped_by is not None:
            module.warn("%s %s %s %s is still %s by %s%s" % (
                family, rule.direction, rule.interface, rule.message,
                "dropped" if judgement.verdict == _path.DROP else "possibly dropped", one_line(dropped_by),
                advice(dropped_by) if advice else ""))
    return paths


def remote_paths(firewall, tables, remotes, firewalld=False):
    """Per peer address, the route to it and what each of the four probe packets
    between this node and that address meets: this node probing it (prober: out
    echo-request, in echo-reply) and answering its probes (responder: in
    echo-request, out echo-reply), on the interface the kernel routes it through,
    with the peer's address as the packet's remote end. ``tables``: {family: tables}."""
    addresses = [_ip_or_none(text) for text in dict.fromkeys(remotes)]
    routes = routes_to(firewall.module, [address for address in addresses if address is not None])
    report = []
    for address in addresses:
        family = "ipv4" if address.version == 4 else "ipv6"
        entry = {"address": str(address), "family": family, "interface": None, "source": None, "paths": []}
        report.append(entry)
        if family not in tables or address not in routes:
            entry["error"] = ("%s is not among the families asked for" % family if family not in tables
                              else "no route to it")
            continue
        interface, source = routes[address]
        entry.update(interface=interface, source=None if source is None else str(source))
        local = [source] if source is not None else firewall.addresses().get(interface, {}).get(family)
        for rule in expected_rules(family, [interface], ROLES):
            packet = _path.Packet.of(rule, local=local or None, remote=[address])
            judgement = _path.judge(_path.filters(tables[family], family, rule.direction), packet)
            dropped_by = describe_drop(judgement)
            path = {"role": rule.role, "direction": rule.direction, "message": rule.message,
                    "verdict": judgement.verdict, "dropped_by": dropped_by, "shadowed_by": one_line(dropped_by)}
            if firewalld:
                path["firewalld_dropped_by"] = _firewalld.in_firewalds_terms(dropped_by)
            entry["paths"].append(path)
    return report


class FirewalldIcmpAllow(object):
    """nlm_icmp_allow where firewalld runs: the rules written into firewalld's own
    policies (see _firewalld.py for what and why)."""

    def __init__(self, module, families):
        self.module = module
        self.params = module.params
        self.families = families

    def _wanted(self, interfaces, addresses):
        """{interface: {direction: [rich rule]}} for state present; fails, changing
        nothing, for an interface without an address of a family asked for."""
        wanted, problems = {}, []
        for name in interfaces:
            rules = [rule for family in self.families for rule in expected_rules(family, [name], self.params["roles"])]
            own = {family: sorted((str(address) for address in addresses.get(name, {}).get(family, [])))
                   for family in self.families}
            lacking = [family for family in self.families if not own[family]]
            if lacking:
                problems.append("%s has no global %s address" % (name, " or ".join(lacking)))
            wanted[name] = _firewalld.interface_rules(rules, own)
        if problems:
            raise NlmError("%s: firewalld matches no interface outside its zones, so its rules name the interface's "
                           "addresses; bring the interface and its addresses up first, or leave that family out "
                           "(ip_versions)" % "; ".join(problems))
        return wanted

    def run(self):
        params = self.params
        comment = params["comment"]
        interfaces = list(dict.fromkeys(params["interfaces"]))
        with nullcontext() if self.module.check_mode else namespace_lock(params["wait"]):
            daemon = _firewalld.Daemon(self.module)
            daemon.require_running()
            wanted = {}
            if params["state"] == "present":
                wanted = self._wanted(interfaces, local_addresses(self.module, Commands(self.module)))
            permanent, runtime = _firewalld.owned_policies(daemon)
            current = {direction: _firewalld.record_of(name, permanent[direction] or runtime[direction], comment)
                       for direction, name in _firewalld.POLICIES.items()}
            records = _firewalld.desired_records(current, interfaces, self.families, wanted)
            desired = {direction: _firewalld.policy_settings(direction, records[direction], comment)
                       for direction in _firewalld.POLICIES}
            permanent_changes, runtime_changes, reload = [], [], False
            for direction, name in _firewalld.POLICIES.items():
                want = desired[direction]
                if _firewalld.permanent_differs(permanent[direction], want):
                    permanent_changes.append((name, permanent[direction], want))
                if _firewalld.needs_reload(runtime[direction], want):
                    reload = True
                elif want is not None and _firewalld.runtime_differs(runtime[direction], want):
                    runtime_changes.append((name, want))
            kept = []
            if not self.module.check_mode:
                # what the reload must keep is read while the permanent configuration is
                # written: the writes touch only the owned policies, which it leaves out
                with ThreadPoolExecutor(max_workers=1) as pool:
                    snapshot = pool.submit(_firewalld.runtime_snapshot, daemon) if reload else None
                    for name, before, want in permanent_changes:
                        if want is None:
                            daemon.remove_permanent_policy(name)
                        elif before is None:
                            daemon.add_permanent_policy(name, _firewalld.owned_policy_arguments(want))
                        else:
                            daemon.update_permanent_policy(name, _firewalld.owned_policy_arguments(want))
                    snapshot = snapshot.result() if snapshot is not None else None
                if reload:
                    kept = _firewalld.reload_keeping_runtime(daemon, snapshot)
                else:
                    for name, want in runtime_changes:
                        daemon.set_runtime_policy(name, _firewalld.runtime_part(
                            _firewalld.owned_policy_arguments(want), _firewalld.POLICY_RUNTIME_KEYS))
                for name, _before, want in permanent_changes:
                    if want is None:
                        _firewalld.remove_own_backup(name, comment)
        result = {"changed": bool(permanent_changes or runtime_changes or reload), "backend": "firewalld",
                  "persisted": [], "rules": {}}
        firewall = None
        if not self.module.check_mode:
            # what firewalld made of its configuration in the kernel, every family read at once
            firewall = Firewall(self.module)
            firewall.prefetch(self.families)
        for family in self.families:
            before = {rule for direction in current for rules in current[direction].values() for rule in rules
                      if _firewalld.rule_family(rule) == family}
            after = {rule for direction in records for rules in records[direction].values() for rule in rules
                     if _firewalld.rule_family(rule) == family}
            expected = expected_rules(family, interfaces, params["roles"]) if params["state"] == "present" else []
            paths = [] if firewall is None else judged_paths(firewall, family, expected, comment)
            result["rules"][family] = {"added": sorted(after - before), "removed": sorted(before - after),
                                       "present": sorted(after), "transaction": "", "paths": paths}
        result["firewalld"] = {
            "policies": {name: _firewalld.describe_policy(name, desired[direction])
                         for direction, name in _firewalld.POLICIES.items()},
            "permanent_changed": [name for name, _before, _want in permanent_changes],
            "runtime_changed": [name for name, _want in runtime_changes],
            "reloaded": reload and not self.module.check_mode, "runtime_kept": kept, "via": daemon.via,
        }
        if self.module._diff:
            result["diff"] = [{
                "before_header": "firewalld policies", "after_header": "firewalld policies",
                "before": "".join(line + "\n" for direction, name in _firewalld.POLICIES.items()
                                  for line in _firewalld.describe_policy(name, permanent[direction])),
                "after": "".join(line + "\n" for direction, name in _firewalld.POLICIES.items()
                                 for line in _firewalld.describe_policy(name, desired[direction]))}]
        return result


def firewalld_table_here(firewall):
    """Whether firewalld's own nft table is in this network namespace."""
    backend = firewall.backends[NftablesBackend.name]
    if not backend.installed():
        return False
    return any(chain.table == "firewalld" and chain.family == "inet" for chain in backend.read().chains.values())


def firewalld_report(module, firewall, comment):
    """(what nlm_facts and nlm_icmp_allow_info report of firewalld, {"runtime"|"permanent":
    set of the rich rules of the owned policies}). A caller other than root that firewalld
    does not answer (the nlm agent, where polkit is missing) gets the owned rules firewalld
    wrote into the kernel, as the runtime's, and no permanent ones (None)."""
    try:
        return _firewalld_report(module, firewall, comment)
    except NlmError as error:
        if os.geteuid() == 0:
            raise
        chains = firewall.backends[NftablesBackend.name].read().chains.values()
        return ({"running": True, "error": "%s; the owned rules are read from firewalld's nft table" % error},
                {"runtime": _firewalld.kernel_owned_rules(chains), "permanent": None})


def _firewalld_report(module, firewall, comment):
    daemon = _firewalld.Daemon(module)
    daemon.require_running()
    owned = {"runtime": set(), "permanent": set()}
    policies = {}
    permanent_policies, runtime_policies = _firewalld.owned_policies(daemon)
    for direction, name in _firewalld.POLICIES.items():
        permanent, runtime = permanent_policies[direction], runtime_policies[direction]
        _firewalld.record_of(name, permanent or runtime, comment)
        policies[name] = {"permanent": _firewalld.describe_policy(name, permanent),
                          "runtime": _firewalld.describe_policy(name, runtime)}
        owned["permanent"].update((permanent or {}).get("rich_rules") or [])
        owned["runtime"].update((runtime or {}).get("rich_rules") or [])
    report = _firewalld.facts(daemon, [name for name in sorted(firewall.addresses()) if name and name != "lo"])
    report["policies"] = policies
    return report, owned


def firewalld_presence(firewall, rule, owned):
    """The owned rich rules that serve ``rule`` with the interface's addresses now, and
    whether each is in firewalld's runtime and permanent configuration."""
    addresses = firewall.addresses().get(rule.interface, {}).get(rule.family, [])
    rich = [_firewalld.rich_rule(rule.family, rule.direction, rule.message, address) for address in addresses]
    found = [{"rule": text, "runtime": text in owned["runtime"],
              "permanent": None if owned["permanent"] is None else text in owned["permanent"]}
             for text in rich]
    return {"present": bool(found) and all(item["runtime"] and item["permanent"] is not False for item in found),
            "backend": "firewalld" if found and all(item["runtime"] for item in found) else None,
            "firewalld_rules": found}
