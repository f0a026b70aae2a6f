"""iptables rule specs as the path model sees them: each match True, False or None
(cannot tell) for a probe packet, each target an action."""

from __future__ import annotations

import ipaddress
from collections import OrderedDict

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _path
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import AllowRule
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_model import (
    BUILTIN_HOOKS,
    TABLE_PRIORITIES,
    action_of,
    compile_spec,
    model_table,
    tokens,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._path import ACCEPT, DROP, UNKNOWN, State

FILTER_INPUT = _path.Chain("INPUT", hook="input", priority=0)
RAW_PREROUTING = _path.Chain("PREROUTING", hook="prerouting", priority=-300)


def packet(family="ipv4", direction="in", interface="gw0", message="echo-request", local=None):
    return _path.Packet.of(AllowRule(family, direction, interface, message),
                           local=None if local is None else [ipaddress.ip_address(address) for address in local])


def matches(spec, probe=None, base=FILTER_INPUT, mark=0):
    match, _target, _arguments, _goto = compile_spec(spec)
    return match(probe or packet(), base, State(mark))


@pytest.mark.parametrize("spec,probe,expected", [
    # interfaces, with the + wildcard, on the packet's side only
    ("-i gw0", {}, True),
    ("--in-interface gw0", {}, True),
    ("-i gw+", {}, True),
    ("-i eth+", {}, False),
    ("-i gw", {}, False),
    ("! -i gw0", {}, False),
    ("! -i lo", {}, True),
    ("-o gw0", {}, False),
    ("-o gw0", {"direction": "out"}, True),
    ("-i gw0", {"direction": "out"}, False),
    # protocols by name, number and alias
    ("-p icmp", {}, True),
    ("-p 1", {}, True),
    ("-p ICMP", {}, True),
    ("--protocol icmp", {}, True),
    ("-p all", {}, True),
    ("-p ipv6-icmp", {}, False),
    ("-p ipv6-icmp", {"family": "ipv6"}, True),
    ("-p 58", {"family": "ipv6"}, True),
    ("-p icmpv6", {"family": "ipv6"}, True),
    ("-p icmp", {"family": "ipv6"}, False),
    ("-p tcp", {}, False),
    ("! -p tcp", {}, True),
    ("! -p icmp", {}, False),
    # ICMP types: numbers, names, codes, any
    ("-p icmp -m icmp --icmp-type 8", {}, True),
    ("-p icmp -m icmp --icmp-type echo-request", {}, True),
    ("-p icmp -m icmp --icmp-type ping", {}, True),
    ("-p icmp -m icmp --icmp-type 8/0", {}, True),
    ("-p icmp -m icmp --icmp-type 8/1", {}, False),
    ("-p icmp -m icmp --icmp-type 0", {}, False),
    ("-p icmp -m icmp --icmp-type 0", {"message": "echo-reply"}, True),
    ("-p icmp -m icmp --icmp-type 3", {}, False),
    ("-p icmp -m icmp --icmp-type any", {}, True),
    ("-p icmp -m icmp ! --icmp-type 8", {}, False),
    ("-p icmp -m icmp ! --icmp-type 8", {"message": "echo-reply"}, True),
    ("-p ipv6-icmp -m icmp6 --icmpv6-type 128", {"family": "ipv6"}, True),
    ("-p ipv6-icmp -m icmp6 --icmpv6-type pong", {"family": "ipv6", "message": "echo-reply"}, True),
    ("-p ipv6-icmp -m icmp6 --icmpv6-type 129", {"family": "ipv6"}, False),
    ("-p icmp -m icmp --icmp-type bogus-name", {}, None),
    # addresses: the peer's is never known, this node's when given
    ("-s 198.18.0.0/15", {}, None),
    ("-s 0.0.0.0/0", {}, True),
    ("-s 127.0.0.0/8", {}, False),
    ("! -s 127.0.0.0/8", {}, True),
    ("-s 198.18.0.1/32,198.18.0.2/32", {}, None),
    ("-d 198.18.0.1/32", {}, None),
    ("-d 198.18.0.1/32", {"local": ["198.18.0.1"]}, True),
    ("--destination 198.18.0.1/32", {"local": ["198.18.0.2"]}, False),
    ("-s 198.18.0.1/32", {"direction": "out", "local": ["198.18.0.1"]}, True),
    ("-d 198.18.0.1/32", {"direction": "out", "local": ["198.18.0.1"]}, None),
    ("-s not-an-address", {}, None),
    ("-s fe80::/10", {"family": "ipv6"}, False),
    # conntrack: a request is new, a reply established
    ("-m conntrack --ctstate NEW", {}, True),
    ("-m conntrack --ctstate RELATED,ESTABLISHED", {}, False),
    ("-m conntrack --ctstate RELATED,ESTABLISHED", {"message": "echo-reply"}, True),
    ("-m conntrack ! --ctstate INVALID", {}, True),
    ("-m conntrack --ctstate INVALID", {"message": "echo-reply"}, False),
    ("-m state --state NEW,ESTABLISHED", {}, True),
    # address types, as the kernel counted them on an echo exchange over veth: this
    # node's addresses are LOCAL and not UNICAST, the peer's UNICAST
    ("-m addrtype --dst-type LOCAL", {}, True),
    ("-m addrtype --dst-type UNICAST", {}, False),
    ("-m addrtype ! --dst-type UNICAST", {}, True),
    ("-m addrtype --src-type UNICAST", {}, True),
    ("-m addrtype --src-type LOCAL", {}, False),
    ("-m addrtype --dst-type LOCAL", {"direction": "out"}, False),
    ("-m addrtype --dst-type UNICAST", {"direction": "out"}, True),
    ("-m addrtype --src-type LOCAL", {"direction": "out"}, True),
    ("-m addrtype --src-type UNICAST", {"direction": "out"}, False),
    ("-m addrtype --src-type BROADCAST,MULTICAST", {}, False),
    ("-m addrtype --src-type BOGUS", {}, None),
    ("-m pkttype --pkt-type unicast", {}, True),
    ("-m pkttype --pkt-type broadcast", {}, False),
    # fragments: an echo packet is not one
    ("-f", {}, False),
    ("! -f", {}, True),
    ("--fragment", {}, False),
    ("! --fragment -p icmp", {}, True),
    # comments are no match, whatever they say
    ('-m comment --comment "-p tcp -i eth9"', {}, True),
    ("-m comment --comment x -p icmp", {}, True),
    # what is not understood cannot be told, and its values are skipped
    ("-m limit --limit 5/sec", {}, None),
    ("-m set --match-set peers src", {}, None),
    ("-m set --match-set peers src -i eth1", {}, False),
    ("-m physdev --physdev-is-in -i gw0", {}, None),
    ("-m limit --limit 5/sec -p icmp -m icmp --icmp-type 0", {}, False),
    ("-m owner --uid-owner 0", {"direction": "out"}, None),
    ("", {}, True),
])
def test_matches(spec, probe, expected):
    assert matches(spec, packet(**probe)) is expected


def test_conntrack_state_is_undecided_before_conntrack():
    assert matches("-m conntrack --ctstate NEW", base=RAW_PREROUTING) is None
    assert matches("-m state --state ESTABLISHED", packet(message="echo-reply"), base=RAW_PREROUTING) is None
    mangle = _path.Chain("PREROUTING", hook="prerouting", priority=TABLE_PRIORITIES["mangle"])
    assert matches("-m conntrack --ctstate NEW", base=mangle) is True


@pytest.mark.parametrize("spec,mark,expected", [
    ("-m mark --mark 0x10", 0x10, True),
    ("-m mark --mark 0x10", 0, False),
    ("-m mark --mark 16", 0x10, True),
    ("-m mark --mark 0x10/0xf0", 0x1f, True),
    ("-m mark --mark 0x10/0xf0", 0x20, False),
    ("-m mark ! --mark 0x10", 0, True),
    ("-m mark --mark 0x10", None, None),
    ("-m mark --mark bogus", 0, None),
])
def test_mark_matches_read_the_mark_earlier_rules_set(spec, mark, expected):
    assert matches(spec, mark=mark) is expected


@pytest.mark.parametrize("spec", [
    "-s 198.18.0.1/32 -p tcp -m tcp --dport 22 -j ACCEPT",
    '-d 198.18.128.3/32 -p udp -m udp --dport 1026 -m comment --comment "bench 2" -j ACCEPT',
    "-p sctp -j DROP",
    "-p 6 -j DROP",
])
def test_rules_of_another_protocol_are_screened_out_without_parsing(spec):
    match, target, _arguments, _goto = compile_spec(spec)
    assert target is None
    for probe in (packet(), packet(family="ipv6", direction="out", message="echo-reply")):
        assert match(probe, FILTER_INPUT, State()) is False


@pytest.mark.parametrize("spec,target,arguments,goto", [
    ("-p icmp -j REJECT --reject-with icmp-host-prohibited", "REJECT", ("--reject-with", "icmp-host-prohibited"),
     False),
    ("-j HOST-IN", "HOST-IN", (), False),
    ("-g HOST-IN", "HOST-IN", (), True),
    ("--goto HOST-IN", "HOST-IN", (), True),
    ('-j LOG --log-prefix "a b "', "LOG", ("--log-prefix", "a b "), False),
    ("! -p tcp -j DROP", "DROP", (), False),
    ('-m comment --comment "drop -j ACCEPT" -j DROP', "DROP", (), False),
    ("-i gw0", None, (), False),
])
def test_the_target_and_its_arguments(spec, target, arguments, goto):
    assert compile_spec(spec)[1:] == (target, arguments, goto)


def test_tokens_split_quoted_values_only_where_needed():
    assert tokens('-m comment --comment "say \\"hi\\"" -j ACCEPT') == [
        "-m", "comment", "--comment", 'say "hi"', "-j", "ACCEPT"]
    assert tokens("-i gw0  -j ACCEPT") == ["-i", "gw0", "-j", "ACCEPT"]


USER = {"HOST-IN"}


@pytest.mark.parametrize("target,arguments,goto,kind", [
    (None, (), False, "continue"),
    ("ACCEPT", (), False, ACCEPT),
    ("DROP", (), False, DROP),
    ("REJECT", ("--reject-with", "icmp-host-prohibited"), False, DROP),
    ("RETURN", (), False, "return"),
    ("HOST-IN", (), False, "jump"),
    ("HOST-IN", (), True, "goto"),
    ("LOG", ("--log-prefix", "x"), False, "continue"),
    ("NFLOG", (), False, "continue"),
    ("CT", ("--notrack",), False, "continue"),
    ("CONNMARK", ("--save-mark",), False, "continue"),
    ("CONNMARK", ("--restore-mark",), False, "mark"),
    ("MARK", ("--set-xmark", "0x1/0xffffffff"), False, "mark"),
    ("NFQUEUE", ("--queue-num", "1"), False, UNKNOWN),
    ("TPROXY", (), False, UNKNOWN),
    ("NO-SUCH-CHAIN", (), False, UNKNOWN),
])
def test_targets_become_actions(target, arguments, goto, kind):
    action = action_of(target, arguments, goto, USER)
    assert action[0] == kind
    if kind in ("jump", "goto"):
        assert action[1] == "HOST-IN"


@pytest.mark.parametrize("arguments,old,new", [
    (("--set-xmark", "0x10/0xffffffff"), 0x5, 0x10),
    (("--set-xmark", "0x1/0x1"), 0x10, 0x11),
    (("--set-xmark", "0x1"), 0x10, 0x1),
    (("--set-mark", "0x1/0x3"), 0x12, 0x11),
    (("--or-mark", "0x100"), 0x1, 0x101),
    (("--and-mark", "0xf"), 0x1f, 0xf),
    (("--xor-mark", "0x3"), 0x1, 0x2),
    (("--set-mark", "bogus"), 0x1, None),
    (("--set-mark",), 0x1, None),
    (("--restore-mark",), 0x1, None),
])
def test_mark_targets_change_the_mark(arguments, old, new):
    kind, change = action_of("MARK", arguments, False, USER)
    assert kind == "mark" and change(old) == new


def test_connmark_restore_makes_the_mark_unknown():
    kind, change = action_of("CONNMARK", ("--restore-mark", "--nfmask", "0xffffffff"), False, USER)
    assert kind == "mark" and change(0) is None


def owned_by_tag(chain, spec):
    return "owned" in spec


def test_model_table_places_built_in_chains_at_their_hooks_and_priorities():
    chains = OrderedDict([
        ("PREROUTING", ("ACCEPT", ["-p icmp -j MARK --set-xmark 0x1/0xffffffff"])),
        ("INPUT", ("DROP", ["-j HOST-IN", '-m comment --comment "owned" -j ACCEPT'])),
        ("FORWARD", ("DROP", [])),
        ("OUTPUT", ("ACCEPT", [])),
        ("POSTROUTING", ("ACCEPT", [])),
        ("HOST-IN", ("-", ["-g HOST-IN2"])),
        ("HOST-IN2", ("-", [])),
    ])
    table = model_table("iptables-legacy", "ipv6", "mangle", chains, owned_by_tag)
    assert (table.flavour, table.family, table.name, table.label) == (
        "iptables-legacy", "ip6", "mangle", "ip6 mangle")
    assert [(chain.name, chain.hook, chain.priority, chain.policy) for chain in table.chains.values()] == [
        ("PREROUTING", "prerouting", -150, ACCEPT),
        ("INPUT", "input", -150, DROP),
        ("FORWARD", None, None, None),
        ("OUTPUT", "output", -150, ACCEPT),
        ("POSTROUTING", "postrouting", -150, ACCEPT),
        ("HOST-IN", None, None, None),
        ("HOST-IN2", None, None, None),
    ]
    rules = table.chains["INPUT"].rules
    assert [(rule.position, rule.text, rule.owned, rule.action) for rule in rules] == [
        (1, "-A INPUT -j HOST-IN", False, ("jump", "HOST-IN")),
        (2, '-A INPUT -m comment --comment "owned" -j ACCEPT', True, (ACCEPT,)),
    ]
    assert table.chains["HOST-IN"].rules[0].action == ("goto", "HOST-IN2")
    assert rules[0].chain is table.chains["INPUT"] and table.chains["INPUT"].table is table


@pytest.mark.parametrize("name,hooks,priority", [
    ("raw", ["PREROUTING", "OUTPUT"], -300),
    ("mangle", ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"], -150),
    ("filter", ["INPUT", "OUTPUT"], 0),
    ("security", ["INPUT", "OUTPUT"], 50),
])
def test_each_filtering_table_has_its_hooks(name, hooks, priority):
    names = ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")
    chains = OrderedDict((chain, ("ACCEPT", [])) for chain in names)
    table = model_table("iptables-nft", "ipv4", name, chains, owned_by_tag)
    assert [chain.name for chain in table.base_chains()] == hooks
    assert {chain.priority for chain in table.base_chains()} == {priority}


def test_the_nat_table_is_not_on_the_path():
    assert "nat" not in BUILTIN_HOOKS
    chains = OrderedDict([("PREROUTING", ("ACCEPT", [])), ("POSTROUTING", ("ACCEPT", ["-o eth0 -j MASQUERADE"]))])
    assert model_table("iptables-nft", "ipv4", "nat", chains, owned_by_tag).base_chains() == []
