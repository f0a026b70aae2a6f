"""Native nftables rules, as ``nft -j`` prints them, as the path model sees them.

The statements come from tests/unit/fixtures/nftables/cases.json (nft 1.0.6 captures
of cases.nft): each rule's match is True, False or None (cannot tell) for a probe
packet, and its verdict an action.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _path
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import AllowRule
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables_ruleset import parse_ruleset
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables_model import (
    compile_rule,
    subject,
    verdict_action,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._path import ACCEPT, DROP, UNKNOWN, State

CASES = json.loads((Path(__file__).parents[2] / "fixtures" / "nftables" / "cases.json").read_text())
INPUT = _path.Chain("input", hook="input", priority=0)


def packet(family="ipv4", direction="in", interface="gw0", message="echo-request", local=None):
    return _path.Packet.of(AllowRule(family, direction, interface, message),
                           local=None if local is None else [ipaddress.ip_address(address) for address in local])


def captured(case, chain, position):
    """(match, action) of the ``position``-th rule of ``chain`` ("name", or "table name"
    where two tables have one) in a captured case, with its table's named sets and maps."""
    ruleset = parse_ruleset(json.dumps(CASES[case]))
    native = next(one for one in ruleset.chains.values() if chain in (one.name, "%s %s" % (one.table, one.name)))
    key = (native.family, native.table)
    return compile_rule(native.rules[position - 1].expr, ruleset.sets.get(key, {}), ruleset.maps.get(key, {}))


def matches(case, chain, position, probe=None, base=INPUT, mark=0):
    match, _action = captured(case, chain, position)
    return match(probe or packet(), base, State(mark))


@pytest.mark.parametrize("case,chain,position,probe,expected", [
    # interface names, patterns and sets
    ("wildcards", "input", 1, {"interface": "eth1"}, True),          # iifname "eth*" icmp type echo-request
    ("wildcards", "input", 1, {"interface": "eth"}, True),
    ("wildcards", "input", 1, {}, False),
    ("wildcards", "input", 1, {"interface": "eth1", "direction": "out"}, False),
    ("wildcards", "input", 2, {"interface": "eth1", "message": "echo-reply"}, False),   # "eth\*": the name
    ("wildcards", "input", 2, {"interface": "eth*", "message": "echo-reply"}, True),
    ("wildcards", "output", 1, {"direction": "out"}, True),          # oifname { "gw0", "vxlan*" }
    ("wildcards", "output", 1, {"direction": "out", "interface": "vxlan7"}, True),
    ("wildcards", "output", 1, {"direction": "out", "interface": "eth1"}, False),
    ("negation", "input", 1, {}, True),                              # iifname != "lo" icmp type echo-request
    ("negation", "input", 1, {"interface": "lo"}, False),
    ("negation", "input", 2, {"message": "echo-reply"}, True),       # icmp type != echo-request
    ("negation", "input", 2, {}, False),
    ("negation", "input", 2, {"family": "ipv6", "message": "echo-reply"}, False),
    ("named-set", "input", 1, {}, True),                             # iifname @ifs icmp type echo-request
    ("named-set", "input", 1, {"interface": "eth2"}, False),
    ("more-shapes", "input", 1, {"interface": "eth1"}, True),        # @recent: elements with a timeout
    ("more-shapes", "input", 1, {}, False),
    ("more-shapes", "input", 2, {"interface": "lo"}, True),          # iif "lo"
    # protocols, ICMP types and codes
    ("more-shapes", "input", 3, {}, True),                           # meta protocol ip icmp code net-unreachable
    ("more-shapes", "input", 3, {"family": "ipv6"}, False),
    ("more-shapes", "input", 4, {"family": "ipv6"}, True),           # icmpv6 code no-route
    ("more-shapes", "input", 4, {}, False),
    ("more-shapes", "input", 5, {}, True),                           # meta pkttype host
    ("more-shapes", "input", 5, {"direction": "out"}, None),
    ("more-shapes", "input", 6, {}, True),                           # ip protocol icmp
    ("more-shapes", "input", 6, {"family": "ipv6"}, False),
    ("more-shapes", "input", 7, {"family": "ipv6"}, True),           # ip6 nexthdr ipv6-icmp
    ("more-shapes", "input", 7, {}, False),
    ("more-shapes", "input", 8, {"family": "ipv6"}, True),           # meta nfproto ipv6
    ("more-shapes", "input", 8, {}, False),
    ("more-shapes", "input", 9, {}, True),                           # icmp type 8, printed as echo-request
    ("inet-icmp-on-ipv6", "input", 4, {}, True),                     # meta l4proto icmp
    ("inet-icmp-on-ipv6", "input", 4, {"family": "ipv6"}, False),
    ("ct-state", "input", 3, {}, False),                             # iifname "lo" accept
    ("reject", "input", 2, {"family": "ipv6"}, True),               # icmpv6 type echo-request
    ("reject", "input", 2, {}, False),
    # transport headers: no ICMP packet has one, whatever the operator
    ("more-shapes", "input", 12, {}, False),                         # tcp dport 22
    # what is not understood cannot be told
    ("more-shapes", "input", 10, {}, None),                          # ct direction original
    ("more-shapes", "input", 11, {}, None),                          # socket transparent 1
    ("unknown", "input", 2, {}, None),                               # limit rate 10/second ...
    ("unknown", "input", 2, {"message": "echo-reply"}, False),
    ("unknown", "input", 3, {"message": "echo-reply"}, None),        # fib daddr type local ...
    # statements that only count or log match everything
    ("more-shapes", "input", 13, {}, True),
    # addresses: this node's when known, never the peer's
    ("addresses", "input", 1, {"local": ["198.18.0.1"]}, True),      # ip daddr 198.18.0.1
    ("addresses", "input", 1, {"local": ["198.18.0.2"]}, False),
    ("addresses", "input", 1, {}, None),
    ("addresses", "input", 1, {"family": "ipv6"}, False),
    ("addresses", "input", 2, {}, False),                            # ip saddr 127.0.0.0/8
    ("addresses", "input", 3, {"message": "echo-reply"}, None),      # ip saddr 198.18.5.0-198.18.5.9
    ("addresses", "output", 1, {"direction": "out", "message": "echo-reply"}, False),   # != 0.0.0.0/0
    ("addresses", "output", 2, {"direction": "out"}, False),         # ip daddr 224.0.0.0/4
    ("addresses", "t6 input", 1, {"family": "ipv6"}, False),         # ip6 saddr fe80::/10
    ("addresses", "t6 input", 2, {"family": "ipv6"}, False),         # ip6 saddr ::1
    ("addresses", "t6 input", 3, {"family": "ipv6", "message": "echo-reply", "local": ["2001:db8::1"]}, True),
    ("named-set", "input", 2, {"message": "echo-reply"}, None),      # ip saddr @peers
    ("named-set", "input", 3, {"local": ["198.18.1.1"]}, True),      # ip daddr @local
    ("named-set", "input", 3, {"local": ["198.18.1.2"]}, False),
])
def test_matches(case, chain, position, probe, expected):
    assert matches(case, chain, position, packet(**probe)) is expected


@pytest.mark.parametrize("probe,base,expected", [
    ({}, INPUT, False),                                              # ct state established,related: new
    ({"message": "echo-reply"}, INPUT, True),
    ({"message": "echo-reply"}, _path.Chain("pre", hook="prerouting", priority=-300), None),
    ({"message": "echo-reply"}, _path.Chain("pre", hook="prerouting", priority=-200), True),
])
def test_ct_state_is_new_for_a_request_established_for_a_reply_and_unknown_before_conntrack(probe, base, expected):
    assert matches("ct-state", "input", 1, packet(**probe), base=base) is expected


def test_ct_state_with_one_value_and_a_negation():
    raw = _path.Chain("raw", hook="prerouting", priority=-300)
    assert matches("ct-state", "raw", 1, packet(interface="eth1"), base=raw) is None   # ct state new, at raw
    assert matches("ct-state", "raw", 1, packet(interface="eth1")) is True
    assert matches("ct-state", "input", 2, packet(message="echo-reply")) is False      # ct state invalid
    expr = [{"match": {"op": "!=", "left": {"ct": {"key": "state"}}, "right": "established"}}, {"drop": None}]
    match, _action = compile_rule(expr, {}, {})
    assert (match(packet(), INPUT, State()), match(packet(message="echo-reply"), INPUT, State())) == (True, False)


@pytest.mark.parametrize("op,right,for_request,for_reply", [
    # nft 1.0.6 loads these as one comparison with the OR of the flags (cmp eq/neq 0x6),
    # and a packet carries exactly one state: "!=" matches both, "==" neither.
    ("!=", {"|": ["established", "related"]}, True, True),
    ("==", {"|": ["established", "related"]}, False, False),
    ("!=", {"|": [{"|": ["established", "related"]}, "new"]}, True, True),
    ("==", {"|": ["established"]}, False, True),
    # the implicit form is a test of each flag (bitwise and, cmp neq 0)
    ("in", ["established", "related"], False, True),
    ("!=", {"|": ["established", {"&": ["related", 1]}]}, None, None),
])
def test_ct_state_with_flags_compares_like_the_kernel(op, right, for_request, for_reply):
    expr = [{"match": {"op": op, "left": {"ct": {"key": "state"}}, "right": right}}, {"accept": None}]
    match, _action = compile_rule(expr, {}, {})
    assert (match(packet(), INPUT, State()), match(packet(message="echo-reply"), INPUT, State())) == (for_request, for_reply)


@pytest.mark.parametrize("position,mark,expected", [
    (1, 0x10, True),       # meta mark 0x10
    (1, 0x11, False),
    (1, None, None),
    (2, 0x1ff, True),      # meta mark & 0xff == 0xff
    (2, 0xf0, False),
    (2, None, None),
])
def test_mark_matches(position, mark, expected):
    assert matches("marks", "input", position, mark=mark) is expected


def test_mark_statements_set_the_mark_or_make_it_unknown():
    _match, action = captured("marks", "setmark", 1)            # meta mark set 0x10
    assert action[0] == "mark" and action[1](0x3) == 0x10
    _match, action = captured("marks", "setmark", 3)            # meta mark set meta mark | 0x10
    assert action[0] == "mark" and action[1](0x3) is None


def test_a_mark_set_with_a_verdict_is_still_set():
    tables = [_path.Table("nftables", "inet", "t")]
    rules = [[{"mangle": {"key": {"meta": {"key": "mark"}}, "value": 16}}, {"accept": None}]]
    checks = [[{"match": {"op": "==", "left": {"meta": {"key": "mark"}}, "right": 16}}, {"drop": None}]]
    for name, hook, priority, exprs in (("pre", "prerouting", -150, rules), ("input", "input", 0, checks)):
        compiled = [_path.Rule(*compile_rule(expr, {}, {}), text=name) for expr in exprs]
        tables[0].add(_path.Chain(name, compiled, hook=hook, priority=priority, policy=ACCEPT))
    assert _path.judge(_path.filters(tables, "ipv4", "in"), packet()).verdict == DROP


@pytest.mark.parametrize("statement,action", [
    ({"accept": None}, (ACCEPT,)),
    ({"drop": None}, (DROP,)),
    ({"reject": {"type": "icmp", "expr": "admin-prohibited"}}, (DROP,)),
    ({"reject": None}, (DROP,)),
    ({"jump": {"target": "sub"}}, ("jump", "sub")),
    ({"goto": {"target": "sub"}}, ("goto", "sub")),
    ({"return": None}, ("return",)),
    ({"continue": None}, ("continue",)),
    ({"queue": {"num": 1}}, (UNKNOWN,)),
])
def test_verdicts(statement, action):
    assert verdict_action(statement) == action
    assert compile_rule([statement], {}, {})[1] == action


def test_a_rule_without_a_verdict_continues():
    assert captured("more-shapes", "input", 13)[1] == ("continue",)       # log prefix "x " counter


def vmap_outcome(case, chain, position, probe):
    """The action a verdict map picks for ``probe``: None when no element matches."""
    _match, action = captured(case, chain, position)
    assert action[0] == "vmap"
    chosen = [element_action for element, element_action in action[2]
              if action[1](probe, INPUT, State(), element)]
    return chosen[0] if chosen else None


@pytest.mark.parametrize("case,chain,position,probe,expected", [
    ("vmap-inline", "input", 1, {}, (ACCEPT,)),                         # iifname vmap { gw0 : accept, ... }
    ("vmap-inline", "input", 1, {"interface": "eth1"}, (DROP,)),
    ("vmap-inline", "input", 1, {"interface": "eth2"}, None),
    ("vmap-named", "input", 1, {}, ("jump", "sub")),                    # iifname vmap @byif
    ("vmap-named", "input", 1, {"interface": "eth1"}, (DROP,)),
    ("vmap-named", "input", 2, {"message": "echo-reply"}, (DROP,)),     # icmp type vmap @bytype
    ("vmap-named", "input", 2, {}, None),
    ("vmap-named", "input", 2, {"family": "ipv6", "message": "echo-reply"}, None),
    ("ct-state", "output", 1, {"direction": "out"}, ("jump", "out-new")),   # ct state vmap { ... }
    ("ct-state", "output", 1, {"direction": "out", "message": "echo-reply"}, (ACCEPT,)),
])
def test_verdict_maps_inline_and_named(case, chain, position, probe, expected):
    assert vmap_outcome(case, chain, position, packet(**probe)) == expected


def test_an_unknown_named_set_or_map_cannot_be_told():
    set_rule = next(item["rule"]["expr"] for item in CASES["named-set"]["nftables"]
                    if "rule" in item and "@ifs" in json.dumps(item))
    match, _action = compile_rule(set_rule, {}, {})
    assert match(packet(), INPUT, State()) is None
    map_rule = next(item["rule"]["expr"] for item in CASES["vmap-named"]["nftables"]
                    if "rule" in item and "@byif" in json.dumps(item))
    assert compile_rule(map_rule, {}, {})[1] == (UNKNOWN,)


def test_a_statement_iptables_nft_leaves_in_its_tables_cannot_be_told():
    # nft 1.0.6 lists `iptables-nft -A INPUT -p icmp -m icmp --icmp-type 8 -m comment --comment hi -j ACCEPT` so
    expr = [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "icmp"}},
            {"xt": {"type": "match", "name": "icmp"}}, {"xt": {"type": "match", "name": "comment"}},
            {"counter": {"packets": 0, "bytes": 0}}, {"accept": None}]
    match, action = compile_rule(expr, {}, {})
    assert (match(packet(), INPUT, State()), action) == (None, (ACCEPT,))
    assert match(packet(family="ipv6"), INPUT, State()) is False


@pytest.mark.parametrize("left,understood", [
    ({"meta": {"key": "iifname"}}, True),
    ({"meta": {"key": "oif"}}, True),
    ({"meta": {"key": "skuid"}}, False),
    ({"payload": {"protocol": "icmp", "field": "type"}}, True),
    ({"payload": {"protocol": "icmp", "field": "id"}}, True),
    ({"payload": {"protocol": "ip", "field": "ttl"}}, True),
    ({"payload": {"protocol": "udp", "field": "dport"}}, True),
    ({"payload": {"protocol": "ether", "field": "saddr"}}, False),
    ({"ct": {"key": "state"}}, True),
    ({"ct": {"key": "state", "dir": "original"}}, False),
    ({"&": [{"meta": {"key": "mark"}}, 255]}, True),
    ({"&": [{"ct": {"key": "mark"}}, 255]}, False),
    ({"fib": {"result": "type", "flags": ["daddr"]}}, False),
    ({"fib": {"result": "oif", "flags": ["saddr", "iif"]}}, True),
    ({"fib": {"result": "oif", "flags": ["saddr", "mark", "iif"]}}, True),
    ({"fib": {"result": "oif", "flags": ["daddr", "iif"]}}, False),
    ("iifname", False),
])
def test_which_left_sides_are_understood(left, understood):
    assert (subject(left) is not None) is understood


@pytest.mark.parametrize("left,family,applies", [
    ({"payload": {"protocol": "icmp", "field": "type"}}, "ipv4", True),
    ({"payload": {"protocol": "icmp", "field": "type"}}, "ipv6", False),
    ({"payload": {"protocol": "icmpv6", "field": "type"}}, "ipv6", True),
    ({"payload": {"protocol": "ip", "field": "saddr"}}, "ipv6", False),
    ({"payload": {"protocol": "ip6", "field": "saddr"}}, "ipv6", True),
    ({"payload": {"protocol": "tcp", "field": "dport"}}, "ipv4", False),
])
def test_a_header_another_packet_has_never_applies(left, family, applies):
    guard, _test = subject(left)
    assert guard(packet(family=family)) is applies


@pytest.mark.parametrize("protocol,code,family,expected", [
    ("icmp", "net-unreachable", "ipv4", True),      # code 0, as nft names it for ICMP
    ("icmp", 0, "ipv4", True),
    ("icmp", "host-unreachable", "ipv4", False),
    ("icmp", 1, "ipv4", False),
    ("icmpv6", "no-route", "ipv6", True),           # code 0, as nft names it for ICMPv6
    ("icmpv6", "admin-prohibited", "ipv6", False),
])
def test_echo_messages_have_code_zero(protocol, code, family, expected):
    expr = [{"match": {"op": "==", "left": {"payload": {"protocol": protocol, "field": "code"}}, "right": code}},
            {"drop": None}]
    match, _action = compile_rule(expr, {}, {})
    assert match(packet(family=family), INPUT, State()) is expected


def test_an_unknown_part_of_a_known_header_cannot_be_told():
    expr = [{"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "id"}}, "right": 7}},
            {"drop": None}]
    match, _action = compile_rule(expr, {}, {})
    assert match(packet(), INPUT, State()) is None
    assert match(packet(family="ipv6"), INPUT, State()) is False


@pytest.mark.parametrize("direction,right,expected", [
    ("in", False, False),     # rpfilter's "missing": the route back leaves by the probe's interface
    ("in", True, True),
    ("out", False, None),     # no input device on the way out: not the reverse-path check
])
def test_the_strict_reverse_path_check_passes_an_incoming_probe(direction, right, expected):
    # as firewalld writes it: meta nfproto ipv6 fib saddr . mark . iif oif missing drop
    expr = [{"match": {"op": "==", "left": {"fib": {"result": "oif", "flags": ["saddr", "mark", "iif"]}},
                       "right": right}}, {"drop": None}]
    match, _action = compile_rule(expr, {}, {})
    assert match(packet(family="ipv6", direction=direction), INPUT, State()) is expected
