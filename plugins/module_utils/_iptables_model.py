# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables rules as the path model (_path.py) sees them.

A rule spec, as iptables-save prints it, becomes a match function and an action.
Understood: interfaces (with the ``+`` wildcard), protocol, ICMP type and code,
addresses, conntrack state (``conntrack``, ``state``), ``addrtype``, ``pkttype``,
``mark``, fragments and comments; targets ACCEPT, DROP, REJECT, RETURN, user chains
(``-j``, ``-g``), MARK, and the targets that only log or annotate. Any other match
cannot be decided (None), and any other target is a verdict that cannot be foreseen.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from functools import lru_cache

from ansible_collections.nodelatency.monitor.plugins.module_utils import _path
from ansible_collections.nodelatency.monitor.plugins.module_utils._path import (
    ACCEPT,
    CONNTRACK_PRIORITY,
    DROP,
    UNKNOWN,
)

# The hook and priority of each built-in chain of the tables that filter; the nat
# table cannot drop and is not on the model's path.
BUILTIN_HOOKS = {
    "raw": {"PREROUTING": "prerouting", "OUTPUT": "output"},
    "mangle": {"PREROUTING": "prerouting", "INPUT": "input", "OUTPUT": "output", "POSTROUTING": "postrouting"},
    "filter": {"INPUT": "input", "OUTPUT": "output"},
    "security": {"INPUT": "input", "OUTPUT": "output"},
}
TABLE_PRIORITIES = {"raw": -300, "mangle": -150, "filter": 0, "security": 50}
# Every built-in chain name, on the path or not (FORWARD): they are not user chains.
BUILTIN_CHAIN_NAMES = ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")

PROTOCOLS = {"ipv4": "icmp", "ipv6": "ipv6-icmp"}
_PROTOCOL_ALIASES = {
    "1": "icmp", "icmp": "icmp",
    "58": "ipv6-icmp", "icmpv6": "ipv6-icmp", "ipv6-icmp": "ipv6-icmp",
    "0": "all", "all": "all",
}
_ICMP_NAMES = {
    "--icmp-type": {"echo-request": "8", "ping": "8", "echo-reply": "0", "pong": "0"},
    "--icmpv6-type": {"echo-request": "128", "ping": "128", "echo-reply": "129", "pong": "129"},
}
_UNICAST_TYPES = ("UNICAST",)
_ADDRTYPES = ("UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE", "UNREACHABLE",
              "PROHIBIT", "THROW", "NAT", "XRESOLVE")
# Targets that let the packet go on to the next rule.
_NON_TERMINATING = ("LOG", "NFLOG", "ULOG", "AUDIT", "CT", "NOTRACK", "TRACE", "CLASSIFY", "DSCP", "TOS", "TTL",
                    "HL", "TCPMSS", "TCPOPTSTRIP", "CHECKSUM", "SET", "CONNSECMARK", "SECMARK", "TEE", "IDLETIMER",
                    "LED", "RATEEST", "ECN", "HMARK")
_QUICK_PROTOCOL = re.compile(r"(?:^|\s)(!\s+)?(?:-p|--protocol)\s+(\S+)")
_QUOTING = re.compile(r"[\"'\\]")


def tokens(spec):
    """The arguments of a spec; shlex only where a quote or backslash needs it."""
    return shlex.split(spec) if _QUOTING.search(spec) else spec.split()


def _never(packet, base, state):
    return False


def _quickly_never(spec):
    """Whether the spec certainly matches no ICMP packet, seen from its protocol
    alone before it is taken apart: the thousands of TCP/UDP rules of a busy host."""
    quoting = _QUOTING.search(spec)
    head = spec if quoting is None else spec[:quoting.start()]
    found = _QUICK_PROTOCOL.search(head)
    if found is None or found.group(1):
        return False
    return _PROTOCOL_ALIASES.get(found.group(2).lower()) is None


# --- matches ---------------------------------------------------------------------------------

def _networks(value):
    try:
        return [ipaddress.ip_network(part, strict=False) for part in value.split(",")]
    except ValueError:
        return None


def _interface(side, pattern):
    prefix = pattern[:-1] if pattern.endswith("+") else None

    def check(packet, base, state):
        name = packet.interface_at(side)
        return name.startswith(prefix) if prefix is not None else name == pattern
    return check


def _protocol(value):
    protocol = _PROTOCOL_ALIASES.get(value.lower(), value.lower())

    def check(packet, base, state):
        return protocol == "all" or protocol == PROTOCOLS[packet.family]
    return check


def _icmp_type(option, value):
    if value == "any":
        return lambda packet, base, state: True
    number, _sep, code = _ICMP_NAMES[option].get(value, value).partition("/")
    family = "ipv4" if option == "--icmp-type" else "ipv6"
    if not number.isdigit() or not (code == "" or code.isdigit()):
        return None

    def check(packet, base, state):
        if packet.family != family:
            return False
        return int(number) == packet.icmp_type and code in ("", "0")
    return check


def _addresses(side, value):
    networks = _networks(value)
    if networks is None:
        return None
    return lambda packet, base, state: _path.address_match(packet, side, networks)


def _ct_state(value):
    states = set(value.upper().split(","))

    def check(packet, base, state):
        if base.priority is not None and base.priority < CONNTRACK_PRIORITY:
            return None
        return packet.ct_state.upper() in states
    return check


def _addrtype(side, value):
    types = set(value.upper().split(","))
    if not types <= set(_ADDRTYPES):
        return None

    def check(packet, base, state):
        _addresses, remote = packet.addresses(side)
        # the kernel types this node's own addresses LOCAL only, never UNICAST
        own = {"UNICAST"} if remote else {"LOCAL"}
        return bool(types & own)
    return check


def _pkttype(value):
    kind = value.lower()

    def check(packet, base, state):
        return kind == "unicast"
    return check


def _mark(value):
    mark, _sep, mask = value.partition("/")
    try:
        mark, mask = int(mark, 0), int(mask, 0) if mask else 0xFFFFFFFF
    except ValueError:
        return None

    def check(packet, base, state):
        return None if state.mark is None else (state.mark & mask) == mark
    return check


def _unknown(packet, base, state):
    return None


# (module or None for a core option, option) -> factory(value) returning a check or None
_OPTIONS = {
    (None, "-i"): lambda value: _interface("in", value),
    (None, "--in-interface"): lambda value: _interface("in", value),
    (None, "-o"): lambda value: _interface("out", value),
    (None, "--out-interface"): lambda value: _interface("out", value),
    (None, "-p"): _protocol,
    (None, "--protocol"): _protocol,
    (None, "-s"): lambda value: _addresses("saddr", value),
    (None, "--source"): lambda value: _addresses("saddr", value),
    (None, "-d"): lambda value: _addresses("daddr", value),
    (None, "--destination"): lambda value: _addresses("daddr", value),
    ("icmp", "--icmp-type"): lambda value: _icmp_type("--icmp-type", value),
    ("icmp6", "--icmpv6-type"): lambda value: _icmp_type("--icmpv6-type", value),
    ("conntrack", "--ctstate"): _ct_state,
    ("state", "--state"): _ct_state,
    ("addrtype", "--src-type"): lambda value: _addrtype("saddr", value),
    ("addrtype", "--dst-type"): lambda value: _addrtype("daddr", value),
    ("pkttype", "--pkt-type"): _pkttype,
    ("mark", "--mark"): _mark,
}
_FLAG_OPTIONS = {(None, "-f"): lambda packet, base, state: False, (None, "--fragment"): lambda packet, base, state: False}
_IGNORED = {("comment", "--comment")}


def _negated(check):
    def negated(packet, base, state):
        result = check(packet, base, state)
        return None if result is None else not result
    return negated


# --- targets ---------------------------------------------------------------------------------

def _mark_action(arguments):
    """The ("mark", function) action of a MARK target, or None when not understood."""
    if len(arguments) != 2:
        return None
    option, value = arguments
    mark, _sep, mask = value.partition("/")
    try:
        mark = int(mark, 0)
        mask = int(mask, 0) if mask else None
    except ValueError:
        return None
    if option == "--set-xmark":
        mask = 0xFFFFFFFF if mask is None else mask
        return ("mark", lambda old: None if old is None else (old & ~mask & 0xFFFFFFFF) ^ mark)
    if option == "--set-mark":
        if mask is None:
            return ("mark", lambda old: mark)
        return ("mark", lambda old: None if old is None else (old & ~mask & 0xFFFFFFFF) | mark)
    if option == "--or-mark":
        return ("mark", lambda old: None if old is None else old | mark)
    if option == "--and-mark":
        return ("mark", lambda old: None if old is None else old & mark)
    if option == "--xor-mark":
        return ("mark", lambda old: None if old is None else old ^ mark)
    return None


def action_of(target, arguments, goto, user_chains):
    """The model action of a target with its arguments."""
    if target is None:
        return ("continue",)
    if target in user_chains:
        return ("goto" if goto else "jump", target)
    if target == "ACCEPT":
        return (ACCEPT,)
    if target in ("DROP", "REJECT"):
        return (DROP,)
    if target == "RETURN":
        return ("return",)
    if target == "MARK":
        return _mark_action(arguments) or ("mark", lambda old: None)
    if target == "CONNMARK":
        restores = any(argument.startswith("--restore-mark") for argument in arguments)
        return ("mark", lambda old: None) if restores else ("continue",)
    if target in _NON_TERMINATING:
        return ("continue",)
    return (UNKNOWN,)


@lru_cache(maxsize=None)
def compile_spec(spec):
    """(match, target, target arguments, goto) of a rule spec."""
    if _quickly_never(spec):
        return _never, None, (), False
    args = tokens(spec)
    checks = []
    target, arguments, goto = None, (), False
    module = None
    negated = False
    index = 0
    while index < len(args):
        token = args[index]
        if token == "!":
            negated = True
            index += 1
            continue
        if token in ("-j", "--jump", "-g", "--goto"):
            target = args[index + 1] if index + 1 < len(args) else None
            arguments = tuple(args[index + 2:])
            goto = token in ("-g", "--goto")
            break
        if token in ("-m", "--match"):
            module = args[index + 1] if index + 1 < len(args) else None
            index += 2
            continue
        flag = _FLAG_OPTIONS.get((None, token))
        if flag is not None:
            checks.append(_negated(flag) if negated else flag)
            negated = False
            index += 1
            continue
        value = args[index + 1] if index + 1 < len(args) else ""
        key = (None, token) if (None, token) in _OPTIONS else (module, token)
        if key in _IGNORED:
            index += 2
            negated = False
            continue
        factory = _OPTIONS.get(key)
        check = factory(value) if factory is not None else None
        if check is None:
            # an option this module does not understand; its values are skipped
            # up to the next option, and the rule may or may not match
            checks.append(_unknown)
            index += 1
            while index < len(args) and not args[index].startswith("-") and args[index] != "!":
                index += 1
            negated = False
            continue
        checks.append(_negated(check) if negated else check)
        negated = False
        index += 2
    return _path.conjunction(checks), target, arguments, goto


def model_table(flavour, family, name, chains, is_owned):
    """The path-model Table of an iptables table: ``chains`` is an ordered mapping
    of name -> (policy, [spec, ...]); ``is_owned(chain, spec)`` marks the owned rules."""
    hooks = BUILTIN_HOOKS.get(name, {})
    user_chains = {chain for chain in chains if chain not in BUILTIN_CHAIN_NAMES}
    table = _path.Table(flavour, _path.TABLE_FAMILY_OF[family], name)
    for chain_name, (policy, specs) in chains.items():
        rules = []
        for position, spec in enumerate(specs, 1):
            match, target, arguments, goto = compile_spec(spec)
            rules.append(_path.Rule(match, action_of(target, arguments, goto, user_chains),
                                    "-A %s %s" % (chain_name, spec), position=position,
                                    owned=is_owned(chain_name, spec)))
        hook = hooks.get(chain_name)
        table.add(_path.Chain(chain_name, rules, hook=hook, priority=TABLE_PRIORITIES.get(name) if hook else None,
                              policy=(DROP if policy == "DROP" else ACCEPT) if hook else None))
    return table
