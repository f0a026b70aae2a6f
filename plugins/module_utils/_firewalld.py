# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewalld backend of nlm_icmp_allow: the ICMP echo allow rules written into
firewalld itself, through its D-Bus API, in its permanent and its runtime configuration.

What firewalld can express, and so what is written (docs/nlm_icmp_allow.md says why):

- firewalld matches no interface outside its zones, and moving an interface into
  another zone changes everything else about it. A policy's zones only take effect for
  zones that have interfaces or sources bound, which an interface left to the default
  zone does not have. So the rules are rich rules restricted by the interface's own
  addresses: an echo request in to the interface's address, its reply out from it.
- They sit in two policies of their own, ``nlm-echo-in`` (from ANY zone to HOST) and
  ``nlm-echo-out`` (from HOST to ANY zone), at priority -32768, the lowest there is:
  firewalld applies policies of negative priority before the zones, in order, so no
  zone's ICMP block, drop rule or target and no other policy comes before them.
- A policy records in its description which rules serve which interface, so that one
  interface's rules go without the others'.
- firewalld makes a new policy part of its runtime only when it reloads. A reload keeps
  interface bindings, ipsets and direct rules but drops every other runtime-only change,
  so the runtime settings of every zone and policy are read before it and after it, and
  those it changed are put back.
- firewalld keeps a backup (``<name>.xml.old``) of a policy file it rewrites or removes;
  when the owned policy goes, its backup goes too, so /etc/firewalld is as it was.

The calls go over dbus-python's connection to the system bus where the module's Python
has it (the Python firewalld runs with does): a round trip each. Elsewhere they go
through systemd's ``busctl`` (argv lists, JSON answers), which is on every node that runs
firewalld under systemd and needs no D-Bus binding, at the price of a process each.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError

BUS_NAME = "org.fedoraproject.FirewallD1"
OBJECT = "/org/fedoraproject/FirewallD1"
CONFIG_OBJECT = OBJECT + "/config"
POLICY_DIRECTORY = "/etc/firewalld/policies"
POLICIES = OrderedDict((("in", "nlm-echo-in"), ("out", "nlm-echo-out")))
PRIORITY = -32768
# the settings of a policy or zone that its runtime can change without a reload
POLICY_RUNTIME_KEYS = ("services", "ports", "icmp_blocks", "masquerade", "forward_ports", "rich_rules", "protocols",
                       "source_ports", "ingress_zones", "egress_zones")
ZONE_RUNTIME_KEYS = ("services", "ports", "icmp_blocks", "masquerade", "forward_ports", "interfaces", "sources",
                     "rules_str", "protocols", "source_ports", "icmp_block_inversion", "forward")
# every list a policy has, empty in the owned policies beyond their zones and rules
_EMPTY_POLICY = OrderedDict((("services", "as"), ("ports", "a(ss)"), ("icmp_blocks", "as"), ("forward_ports", "a(ssss)"),
                             ("protocols", "as"), ("source_ports", "a(ss)")))
_EMPTY_SIGNATURES = {"ports": "a(ss)", "source_ports": "a(ss)", "forward_ports": "a(ssss)", "masquerade": "b",
                     "icmp_block_inversion": "b", "forward": "b"}
_FAMILY = re.compile(r'^rule family="(ipv4|ipv6)" ')


def rich_rule(family, direction, message, address):
    """The rich rule that accepts ``message`` of ``family`` in to (``in``) or out from
    (``out``) ``address``, spelt as firewalld prints it."""
    return 'rule family="%s" %s address="%s" icmp-type name="%s" accept' % (
        family, "destination" if direction == "in" else "source", address, message)


def rule_family(rule):
    found = _FAMILY.match(rule)
    return found.group(1) if found else None


def interface_rules(rules, addresses):
    """{direction: [rich rule]} of AllowRules of one interface whose addresses per family
    are ``addresses`` ({family: [ip_address]})."""
    per_direction = {direction: [] for direction in POLICIES}
    for rule in rules:
        for address in addresses.get(rule.family, ()):
            per_direction[rule.direction].append(rich_rule(rule.family, rule.direction, rule.message, address))
    return per_direction


def desired_records(current, interfaces, families, wanted):
    """{direction: {interface: [rich rule]}} after a run: ``current`` (the same shape,
    from the owned policies) with the rules of ``families`` of ``interfaces`` replaced
    by ``wanted`` ({interface: {direction: [rich rule]}}, empty for state absent)."""
    records = {}
    for direction in POLICIES:
        record = {name: list(rules) for name, rules in current.get(direction, {}).items()}
        for name in interfaces:
            kept = [rule for rule in record.get(name, []) if rule_family(rule) not in families]
            merged = sorted(set(kept + wanted.get(name, {}).get(direction, [])))
            if merged:
                record[name] = merged
            else:
                record.pop(name, None)
        records[direction] = record
    return records


def policy_settings(direction, record, comment):
    """The owned policy of ``direction`` holding ``record``, as plain settings; None when
    it holds no rule."""
    if not record:
        return None
    return OrderedDict((
        ("short", "nlm ICMP echo %s" % direction),
        ("description", json.dumps({"owner": comment, "interfaces": record}, sort_keys=True)),
        ("target", "CONTINUE"),
        ("priority", PRIORITY),
        ("ingress_zones", ["ANY"] if direction == "in" else ["HOST"]),
        ("egress_zones", ["HOST"] if direction == "in" else ["ANY"]),
        ("rich_rules", sorted({rule for rules in record.values() for rule in rules})),
    ))


def record_of(name, settings, comment):
    """{interface: [rich rule]} that the owned policy ``name`` records, or {} when there is
    none; an NlmError when a policy of that name is not this owner's."""
    if settings is None:
        return {}
    try:
        description = json.loads(settings.get("description") or "")
    except ValueError:
        description = None
    if not isinstance(description, dict) or description.get("owner") != comment \
            or not isinstance(description.get("interfaces"), dict):
        raise NlmError("firewalld has a policy %s that nlm_icmp_allow did not write for the comment %r: rename or "
                       "remove it (firewall-cmd --permanent --delete-policy=%s), or give the comment it was written "
                       "with" % (name, comment, name))
    return {str(interface): [str(rule) for rule in rules] for interface, rules in description["interfaces"].items()}


def _comparable(settings, keys):
    """``settings`` reduced to ``keys``, lists as sets and missing ones empty, to compare."""
    reduced = {}
    for key in keys:
        value = (settings or {}).get(key)
        if isinstance(value, list):
            value = sorted(json.dumps(item) for item in value)
        reduced[key] = value or None
    return reduced


def permanent_differs(current, wanted):
    """Whether the permanent owned policy ``current`` is not ``wanted`` (either None)."""
    if current is None or wanted is None:
        return current is not wanted
    keys = list(wanted) + list(_EMPTY_POLICY) + ["masquerade"]
    return _comparable(current, keys) != _comparable(wanted, keys)


def runtime_differs(current, wanted):
    """Whether the runtime owned policy needs changing: its runtime-settable settings
    differ from ``wanted``."""
    return _comparable(current, POLICY_RUNTIME_KEYS) != _comparable(wanted, POLICY_RUNTIME_KEYS)


def needs_reload(runtime, wanted):
    """Whether only a reload brings the runtime owned policy to ``wanted``: it must come
    or go, or its priority or target (which its runtime cannot change) differ."""
    if (runtime is None) != (wanted is None):
        return True
    if wanted is None:
        return False
    return runtime.get("priority") != wanted["priority"] or runtime.get("target") != wanted["target"]


def describe_policy(name, settings):
    """The owned policy as lines of text, for diffs and results."""
    if settings is None:
        return []
    head = "policy %s: priority %s, ingress %s, egress %s" % (
        name, settings.get("priority"), ",".join(settings.get("ingress_zones") or []),
        ",".join(settings.get("egress_zones") or []))
    return [head] + ["  " + rule for rule in sorted(settings.get("rich_rules") or [])]


# --- D-Bus values in busctl's notation ----------------------------------------------------------

def plain(typed):
    """A value of busctl --json ({"type": ..., "data": ...}) as plain Python."""
    return typed.get("data")


def busctl_arguments(signature, value):
    """busctl's argv words for one ``value`` of D-Bus type ``signature``: the basic types,
    arrays (``as``, ``a(ss)``), structs and the ``a{sv}`` of firewalld's settings."""
    words = []
    _encode(signature, value, words)
    return words


def _split_struct(inner):
    """The member signatures of a struct signature's inside (``ss`` -> [s, s])."""
    members, index = [], 0
    while index < len(inner):
        end = _signature_end(inner, index)
        members.append(inner[index:end])
        index = end
    return members


def _signature_end(signature, index):
    """The index after the complete type that starts at ``index``."""
    head = signature[index]
    if head == "a":
        return _signature_end(signature, index + 1)
    if head in "({":
        closing = ")" if head == "(" else "}"
        depth, index = 1, index + 1
        while depth:
            if signature[index] == head:
                depth += 1
            elif signature[index] == closing:
                depth -= 1
            index += 1
        return index
    return index + 1


def _variant_signature(value):
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int):
        return "i"
    if isinstance(value, str):
        return "s"
    raise NlmError("cannot send %r to firewalld: give its D-Bus type" % (value,))


def _variant(item):
    """(signature, value) of one value of an ``a{sv}``: a Typed one's, or a plain one's guessed."""
    if isinstance(item, Typed):
        return item.signature, item.value
    return _variant_signature(item), item


def _encode(signature, value, words):
    if signature == "a{sv}":
        words.append(str(len(value)))
        for key, item in value.items():
            words.append(key)
            item_signature, item_value = _variant(item)
            words.append(item_signature)
            _encode(item_signature, item_value, words)
    elif signature.startswith("a"):
        words.append(str(len(value)))
        for item in value:
            _encode(signature[1:], item, words)
    elif signature.startswith("("):
        for member, item in zip(_split_struct(signature[1:-1]), value):
            _encode(member, item, words)
    elif signature == "b":
        words.append("true" if value else "false")
    else:
        words.append(str(value))


# dbus-python's types of the basic D-Bus types, by signature character
_DBUS_BASIC = {"b": "Boolean", "y": "Byte", "n": "Int16", "q": "UInt16", "i": "Int32", "u": "UInt32", "x": "Int64",
               "t": "UInt64", "d": "Double", "s": "String", "o": "ObjectPath", "g": "Signature"}
_SIGNATURE_OF = dict((name, code) for code, name in _DBUS_BASIC.items())


def dbus_value(dbus, signature, value):
    """``value`` (plain, or Typed inside an ``a{sv}``) as dbus-python's value of the D-Bus
    type ``signature``: a variant's type is then what busctl would have been told, not
    dbus-python's guess (an empty list, or ``a(ss)`` from lists of two strings)."""
    if signature == "a{sv}":
        items = dbus.Dictionary(signature="sv")
        for key, item in value.items():
            items[key] = dbus_value(dbus, *_variant(item))
        return items
    if signature.startswith("a"):
        return dbus.Array([dbus_value(dbus, signature[1:], item) for item in value], signature=signature[1:])
    if signature.startswith("("):
        members = _split_struct(signature[1:-1])
        return dbus.Struct([dbus_value(dbus, member, item) for member, item in zip(members, value)],
                           signature=signature[1:-1])
    if signature not in _DBUS_BASIC:
        raise NlmError("cannot send a value of D-Bus type %s to firewalld" % signature)
    return getattr(dbus, _DBUS_BASIC[signature])(value)


def dbus_signature(value):
    """The D-Bus signature of a value dbus-python received."""
    kind = type(value).__name__
    if kind == "Dictionary":
        return "a{%s}" % value.signature
    if kind == "Array":
        return "a%s" % (value.signature or "s")
    if kind == "Struct":
        return "(%s)" % "".join(dbus_signature(member) for member in value)
    if kind not in _SIGNATURE_OF:
        raise NlmError("firewalld answered a value of an unexpected D-Bus type: %r" % (value,))
    return _SIGNATURE_OF[kind]


def busctl_form(value, variant=True):
    """A value dbus-python received, as busctl --json prints it: plain Python, with each
    variant (where ``variant``) as {"type": its signature, "data": its value}."""
    if variant and getattr(value, "variant_level", 0) > 0:
        return {"type": dbus_signature(value), "data": busctl_form(value, variant=False)}
    kind = type(value).__name__
    if kind == "Dictionary":
        return dict((busctl_form(key), busctl_form(item)) for key, item in value.items())
    if kind in ("Array", "Struct") or isinstance(value, (list, tuple)):
        return [busctl_form(item) for item in value]
    if kind == "Boolean":
        return bool(value)
    if kind == "Double":
        return float(value)
    if kind in ("String", "ObjectPath", "Signature"):
        return str(value)
    if kind in _SIGNATURE_OF:
        return int(value)
    return value


class Typed(object):
    """A settings value with its D-Bus type, for a{sv}."""

    __slots__ = ("signature", "value")

    def __init__(self, signature, value):
        self.signature = signature
        self.value = value


def typed_settings(answer):
    """Settings as busctl --json printed them, kept typed to be sent back."""
    return OrderedDict((key, Typed(item["type"], item["data"])) for key, item in answer.items())


def owned_policy_arguments(settings):
    """The owned policy's settings, typed, with every other list empty."""
    typed = OrderedDict((key, Typed("as", value) if isinstance(value, list) else value) for key, value in settings.items())
    typed["masquerade"] = Typed("b", False)
    for key, signature in _EMPTY_POLICY.items():
        typed[key] = Typed(signature, [])
    return typed


def runtime_part(settings, keys):
    """The typed settings among ``keys`` (what a runtime set may carry)."""
    return OrderedDict((key, value) for key, value in settings.items() if key in keys)


class BusError(Exception):
    """A D-Bus call that failed: firewalld's refusal, or no answer at all; busctl's
    stderr and exit code where it ran."""

    def __init__(self, message, stderr="", rc=None):
        super().__init__(message)
        self.stderr = stderr
        self.rc = rc


class Busctl(object):
    """firewalld's D-Bus API through systemd's busctl: a process per call, argv lists,
    JSON answers; for an interpreter that cannot import dbus-python."""

    name = "busctl"

    def __init__(self, module):
        self.module = module
        self.busctl = module.get_bin_path("busctl")
        if self.busctl is None:
            raise NlmError("firewalld runs, but neither dbus-python (in the module's Python) nor systemd's busctl is "
                           "there to talk to it: install systemd's busctl, or run the module with the Python that "
                           "firewalld runs with")

    def call(self, path, interface, method, signature, arguments):
        """The method's one answer in busctl's JSON notation (None when it has none)."""
        argv = [self.busctl, "--system", "--json=short", "call", "--", BUS_NAME, path, interface, method]
        if signature:
            argv.append(signature)
            for member, argument in zip(_split_struct(signature), arguments):
                argv.extend(busctl_arguments(member, argument))
        rc, stdout, stderr = self.module.run_command(argv)
        if rc != 0:
            raise BusError(stderr.strip().replace("Call failed: ", ""), stderr, rc)
        if not stdout.strip():
            return None
        data = json.loads(stdout).get("data")
        return data[0] if isinstance(data, list) and len(data) == 1 else data

    def get_property(self, path, interface, name):
        argv = [self.busctl, "--system", "--json=short", "get-property", BUS_NAME, path, interface, name]
        rc, stdout, stderr = self.module.run_command(argv)
        if rc != 0:
            raise BusError(stderr.strip(), stderr, rc)
        return json.loads(stdout).get("data")


class InProcess(object):
    """firewalld's D-Bus API through dbus-python, on one connection: a call is a round trip,
    where busctl costs a process and a connection each. Answers come in busctl's JSON
    notation, so that the rest of this module knows one form."""

    name = "dbus-python"
    # a reload rebuilds every rule of firewalld's table: a busy node may take long
    TIMEOUT = 120.0

    def __init__(self, dbus, bus):
        self.dbus = dbus
        self.bus = bus
        # one call at a time on the shared connection, from whichever thread asks
        self.lock = threading.Lock()

    def _blocking(self, path, interface, method, signature, arguments):
        with self.lock:
            try:
                return self.bus.call_blocking(BUS_NAME, path, interface, method, signature or None, arguments,
                                              timeout=self.TIMEOUT)
            except self.dbus.exceptions.DBusException as error:
                raise BusError(error.get_dbus_message() or error.get_dbus_name() or str(error))

    def call(self, path, interface, method, signature, arguments):
        values = [dbus_value(self.dbus, member, argument)
                  for member, argument in zip(_split_struct(signature), arguments)] if signature else []
        return busctl_form(self._blocking(path, interface, method, signature, values))

    def get_property(self, path, interface, name):
        return busctl_form(self._blocking(path, "org.freedesktop.DBus.Properties", "Get", "ss", [interface, name]),
                           variant=False)


def in_process_bus():
    """An InProcess transport on the system bus where the module's Python has dbus-python
    (the Python firewalld itself runs with does), else None."""
    try:
        import dbus
    except ImportError:
        return None
    try:
        return InProcess(dbus, dbus.SystemBus())
    except dbus.exceptions.DBusException:
        return None


class Daemon(object):
    """firewalld's D-Bus API: in process with dbus-python where the module's Python has
    it, else through busctl."""

    def __init__(self, module, transport=None):
        self.module = module
        self.transport = transport or in_process_bus() or Busctl(module)

    @property
    def via(self):
        return self.transport.name

    def _call(self, path, interface, method, signature="", *arguments, **options):
        try:
            return self.transport.call(path, "%s%s" % (BUS_NAME, interface), method, signature, arguments)
        except BusError as error:
            message = str(error)
            if options.get("missing") and message.split(":", 1)[0] in options["missing"]:
                return None
            raise NlmError("firewalld refused %s (%s); nothing more was changed: see journalctl -u firewalld"
                           % (method, message), error.stderr, error.rc)

    def _property(self, path, interface, name):
        try:
            return self.transport.get_property(path, "%s%s" % (BUS_NAME, interface), name)
        except BusError as error:
            raise NlmError("firewalld runs in this network namespace but does not answer on the system D-Bus (%s); "
                           "nothing was changed: see systemctl status firewalld dbus" % error, error.stderr, error.rc)

    def require_running(self):
        """Fail, changing nothing, unless firewalld answers and has finished starting."""
        state = self.state()
        if state != "RUNNING":
            raise NlmError("firewalld is in state %s, not RUNNING; nothing was changed: wait for it to start, or see "
                           "systemctl status firewalld" % state)

    def version(self):
        return self._property(OBJECT, "", "version")

    def state(self):
        return self._property(OBJECT, "", "state")

    def firewall_backend(self):
        return self._property(CONFIG_OBJECT, ".config", "FirewallBackend")

    def default_zone(self):
        return self._call(OBJECT, "", "getDefaultZone")

    def zone_of_interface(self, name):
        return self._call(OBJECT, ".zone", "getZoneOfInterface", "s", name) or ""

    def zones(self):
        return self._call(OBJECT, ".zone", "getZones") or []

    def policies(self):
        return self._call(OBJECT, ".policy", "getPolicies") or []

    def runtime_zone(self, name):
        return self._call(OBJECT, ".zone", "getZoneSettings2", "s", name) or {}

    def set_runtime_zone(self, name, settings):
        self._call(OBJECT, ".zone", "setZoneSettings2", "sa{sv}", name, settings)

    def runtime_policy(self, name):
        """The runtime settings of a policy (busctl's typed form), None when it has none."""
        return self._call(OBJECT, ".policy", "getPolicySettings", "s", name, missing=("INVALID_POLICY",))

    def set_runtime_policy(self, name, settings):
        self._call(OBJECT, ".policy", "setPolicySettings", "sa{sv}", name, settings)

    def _permanent_policy_object(self, name):
        return self._call(CONFIG_OBJECT, ".config", "getPolicyByName", "s", name, missing=("INVALID_POLICY",))

    def permanent_policy(self, name):
        path = self._permanent_policy_object(name)
        return None if path is None else self._call(path, ".config.policy", "getSettings")

    def add_permanent_policy(self, name, settings):
        self._call(CONFIG_OBJECT, ".config", "addPolicy", "sa{sv}", name, settings)

    def update_permanent_policy(self, name, settings):
        self._call(self._permanent_policy_object(name), ".config.policy", "update", "a{sv}", settings)

    def remove_permanent_policy(self, name):
        self._call(self._permanent_policy_object(name), ".config.policy", "remove")

    def reload(self):
        self._call(OBJECT, "", "reload")


def facts(daemon, interfaces):
    """firewalld's version, backend, default zone and the zone of each interface (the
    default one where none is bound), and how it was asked (dbus-python or busctl)."""
    default = daemon.default_zone()
    zones = {}
    for name in interfaces:
        bound = daemon.zone_of_interface(name)
        zones[name] = {"zone": bound or default, "bound": bool(bound)}
    return {"running": True, "version": daemon.version(), "backend": daemon.firewall_backend(),
            "default_zone": default, "interfaces": zones, "via": daemon.via}


# the chain firewalld makes of an owned policy's accepting rich rules, per direction
_KERNEL_CHAINS = {"in": "filter_IN_policy_%s_allow" % POLICIES["in"],
                  "out": "filter_OUT_policy_%s_allow" % POLICIES["out"]}
_KERNEL_FAMILIES = {"ip": "ipv4", "ip6": "ipv6"}


def kernel_owned_rules(chains):
    """The owned rich rules as firewalld wrote them into the kernel: read from the chains
    (NftChain) of its nft table, for a caller firewalld does not answer (it authorizes
    only root where polkit is missing, and the nlm agent runs as its own user)."""
    found = set()
    for direction, name in _KERNEL_CHAINS.items():
        side = "daddr" if direction == "in" else "saddr"
        for chain in chains:
            if (chain.table, chain.name) != ("firewalld", name):
                continue
            for rule in chain.rules:
                family = address = message = None
                for statement in rule.expr:
                    match = statement.get("match") if isinstance(statement, dict) else None
                    payload = (match or {}).get("left", {}).get("payload", {}) if isinstance(match, dict) else {}
                    if payload.get("field") == side and payload.get("protocol") in _KERNEL_FAMILIES:
                        family, address = _KERNEL_FAMILIES[payload["protocol"]], match.get("right")
                    elif payload.get("field") == "type" and payload.get("protocol") in ("icmp", "icmpv6"):
                        message = match.get("right")
                if family and isinstance(address, str) and message in ("echo-request", "echo-reply") \
                        and {"accept": None} in rule.expr:
                    found.add(rich_rule(family, direction, message, address))
    return found


_PARTS = {"pre": "its rich rules of negative priority", "log": "its logging rules",
          "deny": "its ICMP blocks and its rich rules that drop or reject", "allow": "what it accepts",
          "post": "its rich rules of positive priority"}
_CHAIN = re.compile(r"^(?:filter|mangle|nat|raw)_(?:IN|OUT|FWD|PRE|POST)_(policy_)?(.+?)(?:_(pre|log|deny|allow|post))?$")


def in_firewalds_terms(dropped_by):
    """What in firewalld's configuration a ``dropped_by`` of its nft table is: a zone or a
    policy (and which part of it), or firewalld's own rules; None for another table."""
    if not dropped_by or dropped_by.get("table") != "inet firewalld":
        return None
    chain = dropped_by.get("chain") or ""
    found = _CHAIN.match(chain)
    if not found:
        return "firewalld's own rules before any zone or policy (%s: %s)" % (chain, dropped_by.get("rule"))
    kind = "policy" if found.group(1) else "zone"
    part = found.group(3)
    if part:
        return "%s %s, %s: %s" % (kind, found.group(2), _PARTS[part], dropped_by.get("rule"))
    return "%s %s, %s" % (kind, found.group(2), "its target" if "policy" in dropped_by.get("rule", "") or
                          "reject" in dropped_by.get("rule", "") else dropped_by.get("rule"))


def owned_policies(daemon):
    """({direction: permanent settings}, {direction: runtime settings}) of the owned
    policies, plain, None where there is none; read side by side."""
    calls = [(direction, reader, name) for direction, name in POLICIES.items()
             for reader in (daemon.permanent_policy, daemon.runtime_policy)]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        answers = list(pool.map(lambda call: plain_settings(call[1](call[2])), calls))
    permanent, runtime = {}, {}
    for (direction, reader, _name), answer in zip(calls, answers):
        (permanent if reader == daemon.permanent_policy else runtime)[direction] = answer
    return permanent, runtime


def plain_settings(typed):
    """Typed settings (busctl --json) as plain values; None stays None."""
    return None if typed is None else {key: plain(item) for key, item in typed.items()}


def _runtime_settings(daemon, objects):
    """The typed runtime settings of each (kind, name) in ``objects``, read side by side:
    a call is a busctl process and a round trip into firewalld."""
    def read(item):
        kind, name = item
        return daemon.runtime_zone(name) if kind == "zone" else daemon.runtime_policy(name)
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(read, objects))


def runtime_snapshot(daemon, owned=tuple(POLICIES.values())):
    """(objects, their typed runtime settings): every zone and every policy but the owned
    ones, as a reload would leave them to be compared with."""
    def listing(reader):
        return reader()
    with ThreadPoolExecutor(max_workers=2) as pool:
        zones, policies = pool.map(listing, (daemon.zones, daemon.policies))
    objects = [("zone", name) for name in zones] + [("policy", name) for name in policies if name not in owned]
    return objects, _runtime_settings(daemon, objects)


def reload_keeping_runtime(daemon, snapshot=None, owned=tuple(POLICIES.values())):
    """Reload firewalld, then put back what the reload took from the runtime of every zone
    and policy but the owned ones: a reload makes the runtime the permanent configuration
    again. Their runtime settings are read before (``snapshot``, from runtime_snapshot,
    which may have been read while the permanent configuration was written) and after it,
    and each one's that differ are set back to what they were; returns their names."""
    objects, before = snapshot if snapshot is not None else runtime_snapshot(daemon, owned)
    daemon.reload()
    after = _runtime_settings(daemon, objects)
    kept = []
    for (kind, name), was, now in zip(objects, before, after):
        keys = ZONE_RUNTIME_KEYS if kind == "zone" else POLICY_RUNTIME_KEYS
        if _comparable(plain_settings(was), keys) == _comparable(plain_settings(now), keys):
            continue
        part = runtime_part(typed_settings(was), keys)
        # a runtime set compares each list with what the object has: the missing ones empty
        for key in keys:
            if key not in part:
                part[key] = Typed(_EMPTY_SIGNATURES.get(key, "as"), False if _EMPTY_SIGNATURES.get(key) == "b" else [])
        (daemon.set_runtime_zone if kind == "zone" else daemon.set_runtime_policy)(name, part)
        kept.append(name)
    return kept


def remove_own_backup(name, comment, directory=POLICY_DIRECTORY):
    """Remove the backup firewalld made of the owned policy ``name`` when it removed it,
    only when the backup is this owner's policy; returns its path or None."""
    path = os.path.join(directory, "%s.xml.old" % name)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return None
    from xml.etree import ElementTree
    try:
        description = ElementTree.fromstring(text).findtext("description") or ""
        owner = json.loads(description).get("owner")
    except (ElementTree.ParseError, ValueError, AttributeError):
        return None
    if owner != comment:
        return None
    os.remove(path)
    return path
