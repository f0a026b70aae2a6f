# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Native nftables rules, as ``nft -j`` prints them, as the path model sees them.

Understood matches: interface names (with the ``*`` wildcard), ``meta l4proto``,
``meta nfproto``, ``meta protocol``, ``meta mark`` (also masked), ``meta pkttype``,
ICMP and ICMPv6 type and code, ``ip``/``ip6`` addresses, protocol and next header,
transport headers (which no ICMP packet has) and ``ct state``, against single values,
anonymous and named sets, prefixes and ranges. Verdicts: accept, drop, reject, jump,
goto, return, continue and verdict maps (inline or named); ``meta mark set`` is
followed. The strict reverse-path check (``fib saddr . iif oif missing``, with or without
``mark``, as firewalld's rpfilter writes it) passes an incoming probe: a peer's probe
comes in through the interface that the route back to it leaves by, which is what makes
its reply reach it. Anything else (rate limits, other ``fib`` lookups, ``xt`` matches that
iptables-nft left in a table nft shows) cannot be decided, and a queue is a verdict that
cannot be foreseen.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.nodelatency.monitor.plugins.module_utils import _path
from ansible_collections.nodelatency.monitor.plugins.module_utils._path import (
    ACCEPT,
    CONNTRACK_PRIORITY,
    DROP,
    UNKNOWN,
)

_ICMP_PROTOCOLS = {"ipv4": "icmp", "ipv6": "icmpv6"}
_IP_PROTOCOLS = {"ipv4": "ip", "ipv6": "ip6"}
_L4_NAMES = {"ipv4": {"icmp", 1}, "ipv6": {"ipv6-icmp", "icmpv6", 58}}
_NFPROTO = {"ipv4": {"ipv4", 2}, "ipv6": {"ipv6", 10}}
_ETHERTYPE = {"ipv4": {"ip", 0x0800}, "ipv6": {"ip6", 0x86DD}}
# ICMP code 0 of echo messages, by the names nft gives code 0 of each family.
_CODE_ZERO = {"ipv4": {0, "net-unreachable"}, "ipv6": {0, "no-route"}}
_TRANSPORT = ("tcp", "udp", "udplite", "sctp", "dccp", "esp", "ah", "comp", "igmp", "th", "gre")
_NEUTRAL = ("counter", "log", "notrack", "set", "meter", "ct", "synproxy", "flow")
_VERDICTS = ("accept", "drop", "reject", "jump", "goto", "return", "continue", "queue")


def _unknown(packet, base, state):
    return None


def _never(packet, base, state):
    return False


def _elements(right, sets):
    """The values a match compares with: one value, an anonymous set or a named set;
    None when a named set is not known."""
    if isinstance(right, str) and right.startswith("@"):
        values = sets.get(right[1:])
        if values is None:
            return None
    elif isinstance(right, dict) and "set" in right:
        values = right["set"]
    elif isinstance(right, list):
        values = right
    else:
        values = [right]
    unwrapped = []
    for value in values:
        while isinstance(value, dict) and "elem" in value:
            value = value["elem"].get("val")
        unwrapped.append(value)
    return unwrapped


def _interface_name(side):
    def test(packet, base, state, value):
        if not isinstance(value, str):
            return None
        name = packet.interface_at(side)
        if value.endswith("*") and not value.endswith("\\*"):
            return name.startswith(value[:-1])
        return name == value.replace("\\*", "*")
    return test


def _member(names_of):
    def test(packet, base, state, value):
        if isinstance(value, (dict, list)):
            return None
        return value in names_of(packet)
    return test


def _icmp_type(packet, base, state, value):
    if isinstance(value, (dict, list)):
        return None
    return value in (packet.message, packet.icmp_type)


def _icmp_code(packet, base, state, value):
    if isinstance(value, (dict, list)):
        return None
    return value in _CODE_ZERO[packet.family]


def _networks(value):
    try:
        if isinstance(value, str):
            return [ipaddress.ip_network(value, strict=False)]
        if isinstance(value, dict) and "prefix" in value:
            prefix = value["prefix"]
            return [ipaddress.ip_network("%s/%s" % (prefix["addr"], prefix["len"]), strict=False)]
        if isinstance(value, dict) and "range" in value:
            first, last = (ipaddress.ip_address(end) for end in value["range"])
            return list(ipaddress.summarize_address_range(first, last))
    except (ValueError, TypeError, KeyError):
        return None
    return None


_NETWORKS = {}
_ADDRESS_TESTS = {}


def _address(side):
    def test(packet, base, state, value):
        # a table of thousands of address rules asks for the same values again and again
        key = repr(value)
        if key not in _NETWORKS:
            _NETWORKS[key] = _networks(value)
        networks = _NETWORKS[key]
        return None if networks is None else _path.address_match(packet, side, networks)
    return test


_ADDRESS_TESTS.update((side, _address(side)) for side in ("saddr", "daddr"))


def _flags(value):
    """The flag names of an OR of flags ({"|": [a, {"|": [b, c]}]}), or None."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict) and list(value) == ["|"] and isinstance(value["|"], list):
        names = set()
        for part in value["|"]:
            found = _flags(part)
            if found is None:
                return None
            names |= found
        return names
    return None


def _ct_state(packet, base, state, value):
    if base.priority is not None and base.priority < CONNTRACK_PRIORITY:
        return None
    # A packet has exactly one state. "ct state != established,related" is listed as
    # an OR of flags and loaded as one comparison with the combined value (cmp neq
    # 0x6), not as a test of each flag, so it matches established packets too.
    flags = _flags(value)
    if flags is None:
        return None
    return flags == {packet.ct_state}


def _pkttype(packet, base, state, value):
    if packet.direction == "out" or isinstance(value, (dict, list)):
        return None
    return value in ("host", 0)


def _masked_mark(mask):
    def test(packet, base, state, value):
        if state.mark is None or not isinstance(value, int):
            return None
        return (state.mark & mask) == value
    return test


def _mark(packet, base, state, value):
    if state.mark is None or not isinstance(value, int):
        return None
    return state.mark == value


def _family_guard(protocols, protocol):
    """Whether a header of ``protocol`` exists in a packet: the family's protocol in ``protocols``."""
    def guard(packet):
        return protocols[packet.family] == protocol
    return guard


_META_TESTS = {
    "iifname": _interface_name("in"), "iif": _interface_name("in"),
    "oifname": _interface_name("out"), "oif": _interface_name("out"),
    "l4proto": _member(lambda packet: _L4_NAMES[packet.family]),
    "nfproto": _member(lambda packet: _NFPROTO[packet.family]),
    "protocol": _member(lambda packet: _ETHERTYPE[packet.family]),
    "mark": _mark, "pkttype": _pkttype,
}
_GUARDS = {protocol: _family_guard(_ICMP_PROTOCOLS, protocol) for protocol in ("icmp", "icmpv6")}
_GUARDS.update((protocol, _family_guard(_IP_PROTOCOLS, protocol)) for protocol in ("ip", "ip6"))
_ICMP_FIELDS = {"type": _icmp_type, "code": _icmp_code}


def _no_transport_header(packet):
    return False


def subject(left):
    """(guard, test) for the left side of a match or a vmap key: ``guard(packet)`` is
    False when the expression cannot apply to the packet at all (an ICMP field of an
    IPv6 packet: the implicit dependency fails whatever the operator), ``test(packet,
    base, state, value)`` compares one value. None when not understood."""
    if not isinstance(left, dict):
        return None
    if "meta" in left:
        test = _META_TESTS.get(left["meta"].get("key"))
        return None if test is None else (None, test)
    if "payload" in left:
        protocol, field = left["payload"].get("protocol"), left["payload"].get("field")
        if protocol in _TRANSPORT:
            return _no_transport_header, _unknown_test
        if protocol in ("icmp", "icmpv6"):
            return _GUARDS[protocol], _ICMP_FIELDS.get(field, _unknown_test)
        if protocol in ("ip", "ip6"):
            if field in ("saddr", "daddr"):
                return _GUARDS[protocol], _ADDRESS_TESTS[field]
            if field in ("protocol", "nexthdr"):
                return _GUARDS[protocol], _META_TESTS["l4proto"]
            return _GUARDS[protocol], _unknown_test
        return None
    if "fib" in left:
        return _reverse_path(left["fib"])
    if "ct" in left:
        return (None, _ct_state) if left["ct"].get("key") == "state" and "dir" not in left["ct"] else None
    if "&" in left:
        operands = left["&"]
        if (len(operands) == 2 and operands[0] == {"meta": {"key": "mark"}} and isinstance(operands[1], int)):
            return None, _masked_mark(operands[1])
    return None


def _reverse_path(fib):
    """(guard, test) of the strict reverse-path lookup, None for any other fib lookup."""
    flags = set(fib.get("flags") or ())
    if fib.get("result") != "oif" or not {"saddr", "iif"} <= flags <= {"saddr", "iif", "mark"}:
        return None

    def test(packet, base, state, value):
        # the lookup finds the route back out of the probe's own interface: a value of
        # false is "missing", which it is not
        if packet.direction != "in" or not isinstance(value, bool):
            return None
        return value
    return None, test


def _unknown_test(packet, base, state, value):
    return None


def _match(statement, sets):
    """The check of a match statement."""
    found = subject(statement.get("left"))
    op = statement.get("op")
    if found is None or op not in ("==", "!=", "in"):
        return _unknown
    guard, test = found
    if guard is _no_transport_header:
        return _never
    values = _elements(statement.get("right"), sets)
    if values is None:
        return _unknown

    def check(packet, base, state):
        if guard is not None and not guard(packet):
            return False
        outcome = _path.any_of(test(packet, base, state, value) for value in values)
        return _path.negate(outcome) if op == "!=" else outcome
    return check


def verdict_action(statement):
    """The model action of a verdict statement ({"accept": null}, {"jump": {...}}, ...)."""
    kind = next(iter(statement))
    if kind == "accept":
        return (ACCEPT,)
    if kind in ("drop", "reject"):
        return (DROP,)
    if kind in ("jump", "goto"):
        return (kind, statement[kind].get("target"))
    if kind == "return":
        return ("return",)
    if kind == "continue":
        return ("continue",)
    return (UNKNOWN,)


def _vmap(statement, sets, maps):
    found = subject(statement.get("key"))
    data = statement.get("data")
    if isinstance(data, str) and data.startswith("@"):
        pairs = maps.get(data[1:])
    elif isinstance(data, dict) and "set" in data:
        pairs = data["set"]
    else:
        pairs = None
    if found is None or pairs is None:
        return (UNKNOWN,)
    guard, test = found
    elements = []
    for pair in pairs:
        key, value = pair if isinstance(pair, list) and len(pair) == 2 else (None, None)
        while isinstance(key, dict) and "elem" in key:
            key = key["elem"].get("val")
        if not isinstance(value, dict) or not value:
            return (UNKNOWN,)
        elements.append((key, verdict_action(value)))

    def key_test(packet, base, state, element):
        if guard is not None and not guard(packet):
            return False
        return test(packet, base, state, element)
    return ("vmap", key_test, elements)


def compile_rule(expr, sets, maps):
    """(match, action) of a rule's statements; ``sets`` and ``maps`` are the named
    sets' elements and the named verdict maps' pairs of its table."""
    checks = []
    action = ("continue",)
    mark = None
    for statement in expr:
        kind = next(iter(statement))
        if kind == "match":
            check = _match(statement["match"], sets)
            if check is _never:
                # a transport header match: no ICMP packet can match the rule, whatever else it says
                return _never, ("continue",)
            checks.append(check)
        elif kind in _VERDICTS:
            action = verdict_action(statement)
        elif kind == "vmap":
            action = _vmap(statement["vmap"], sets, maps)
        elif kind == "mangle":
            target = statement["mangle"]
            if target.get("key") == {"meta": {"key": "mark"}}:
                value = target.get("value")
                mark = (lambda old, value=value: value) if isinstance(value, int) else (lambda old: None)
        elif kind in _NEUTRAL:
            continue
        else:
            # a statement that may stop the rule (limit, quota, xt) or whose effect
            # is not followed: the rule may or may not apply
            checks.append(_unknown)
    if mark is not None:
        # the mark is set before the verdict ends the rule: later filters see it
        action = ("mark", mark) if action == ("continue",) else ("mark", mark, action)
    return _path.conjunction(checks), action
