"""The path model: what a probe packet meets on its way through every filter.

Each case is a small ruleset with the verdict the kernel gives the probe. Native
nftables rulesets come from tests/unit/fixtures/nftables/cases.nft, as nft 1.0.6
prints them with ``nft -j list ruleset`` (cases.json; capture-cases.sh regenerates
it); iptables rulesets are written here as iptables-save prints them.
"""

from __future__ import annotations

import ipaddress
import json
from collections import OrderedDict
from pathlib import Path

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _iptables_plan, _iptables_save, _nftables_plan, _nftables_ruleset, _path
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import AllowRule
from ansible_collections.nodelatency.monitor.plugins.module_utils._path import (
    ACCEPT,
    DROP,
    UNKNOWN,
    Chain,
    Packet,
    Rule,
    State,
    Table,
    Walk,
    address_match,
    all_of,
    any_of,
    describe_witness,
    filters,
    first_risk,
    judge,
    negate,
    walk,
)

TAG = "nodelatency.monitor"
CASES = json.loads((Path(__file__).parents[2] / "fixtures" / "nftables" / "cases.json").read_text())


def nft(case, family, texts=None):
    """The model Tables of a captured native ruleset, for ``family``."""
    return _nftables_plan.model(_nftables_ruleset.parse_ruleset(json.dumps(CASES[case])), family, TAG, texts)


def ipt(text, family="ipv4", flavour="iptables-nft"):
    """The model Tables of an iptables-save text."""
    return _iptables_plan.model(flavour, _iptables_save.parse_save(text), family, TAG)


def packet(family="ipv4", direction="in", interface="gw0", message="echo-request", local=None):
    return Packet.of(AllowRule(family, direction, interface, message),
                     local=None if local is None else [ipaddress.ip_address(address) for address in local])


def judged(tables, skip_owned=False, **kwargs):
    probe = packet(**kwargs)
    return judge(filters(tables, probe.family, probe.direction), probe, skip_owned=skip_owned)


def witness(judgement):
    return describe_witness(judgement.witness) if judgement.witness is not None else None


# --- three-valued logic -------------------------------------------------------------------------

@pytest.mark.parametrize("results,every,some", [
    ([], True, False),
    ([True, True], True, True),
    ([True, None], None, True),
    ([None, False], False, None),
    ([False, False], False, False),
    ([None, None], None, None),
    ([True, False, None], False, True),
])
def test_all_of_and_any_of(results, every, some):
    assert all_of(iter(results)) is every
    assert any_of(iter(results)) is some


def test_negate_keeps_cannot_tell():
    assert (negate(True), negate(False), negate(None)) == (False, True, None)


# --- the packet ---------------------------------------------------------------------------------

def test_a_packet_knows_its_type_state_interfaces_and_sides():
    request = packet(local=["198.18.0.1"])
    assert (request.icmp_type, request.ct_state) == (8, "new")
    assert request.local == frozenset([ipaddress.ip_address("198.18.0.1")]) and request.remote is None
    assert (request.interface_at("in"), request.interface_at("out")) == ("gw0", "")
    # an incoming packet comes from the peer and goes to this node
    assert request.addresses("saddr") == (None, True)
    assert request.addresses("daddr") == (request.local, False)
    reply = packet(family="ipv6", direction="out", message="echo-reply")
    assert (reply.icmp_type, reply.ct_state) == (129, "established")
    assert (reply.interface_at("in"), reply.interface_at("out")) == ("", "gw0")
    assert reply.addresses("daddr") == (None, True) and reply.addresses("saddr") == (None, False)


NETS = {name: [ipaddress.ip_network(net) for net in nets] for name, nets in {
    "all": ["0.0.0.0/0"], "loopback": ["127.0.0.0/8"], "multicast": ["224.0.0.0/4"],
    "lab": ["198.18.0.0/15"], "host": ["198.18.0.1/32"], "mixed": ["127.0.0.0/8", "198.18.0.0/15"],
    "v6-only": ["2001:db8::/32"], "v6-link": ["fe80::/10", "::1/128"], "v6-all": ["::/0"],
    "v6-never": ["::/96", "::ffff:0.0.0.0/96", "2002::/24", "2002:a00::/24", "2002:7f00::/24", "2002:a9fe::/32",
                 "2002:ac10::/28", "2002:c0a8::/32", "2002:e000::/19"],
    "v6-6to4": ["2002:c633:6400::/40", "2002:a00::/24"],
}.items()}


@pytest.mark.parametrize("family,side,local,nets,expected", [
    # the peer's address is never known: only what covers or excludes every peer decides
    ("ipv4", "saddr", None, "all", True),
    ("ipv4", "saddr", None, "loopback", False),
    ("ipv4", "saddr", None, "multicast", False),
    ("ipv4", "saddr", None, "lab", None),
    ("ipv4", "saddr", None, "mixed", None),
    ("ipv4", "saddr", None, "v6-only", False),   # another family's networks never match
    ("ipv6", "saddr", None, "v6-link", False),
    ("ipv6", "saddr", None, "v6-all", True),
    ("ipv6", "daddr", None, "v6-never", False),   # what firewalld rejects on the way out
    ("ipv6", "daddr", None, "v6-6to4", None),      # 6to4 of a global IPv4 address: a possible peer
    # this node's side: decided by its addresses when known
    ("ipv4", "daddr", None, "host", None),
    ("ipv4", "daddr", ["198.18.0.1"], "host", True),
    ("ipv4", "daddr", ["198.18.0.2"], "host", False),
    ("ipv4", "daddr", ["198.18.0.1", "198.18.0.2"], "host", None),
    ("ipv4", "daddr", ["198.18.0.1", "198.18.0.2"], "lab", True),
])
def test_address_match(family, side, local, nets, expected):
    probe = packet(family=family, local=local)
    assert address_match(probe, side, NETS[nets]) is expected


# --- which filters a packet meets ---------------------------------------------------------------

def labels(chains):
    return [(chain.table.flavour, chain.table.label, chain.name) for chain in chains]


def test_nat_forward_and_regular_chains_are_not_on_the_path():
    tables = nft("not-on-path", "ipv4")
    assert labels(filters(tables, "ipv4", "out")) == [("nftables", "ip n", "routed")]
    assert labels(filters(tables, "ipv4", "in")) == []
    # an ip6 table is seen by IPv6 packets only
    assert labels(filters(nft("not-on-path", "ipv6"), "ipv6", "in")) == [("nftables", "ip6 only6", "input")]
    assert judged(tables, direction="out").verdict == DROP
    assert judged(tables, direction="out", message="echo-reply").verdict == ACCEPT


def test_filters_are_in_hook_order_then_priority():
    tables = nft("priorities", "ipv4")
    assert labels(filters(tables, "ipv4", "in")) == [("nftables", "inet b", "pre"), ("nftables", "inet a", "input")]
    # postrouting comes after output, whatever its priority
    assert labels(filters(tables, "ipv4", "out")) == [
        ("nftables", "inet b", "out"), ("nftables", "inet a", "output"), ("nftables", "inet b", "post")]


MIXED_SAVE = """*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
COMMIT
"""


def test_every_flavour_is_on_one_path_legacy_then_nft_then_native_at_one_priority():
    tables = (nft("ct-state", "ipv4") + ipt(MIXED_SAVE, flavour="iptables-nft")
              + ipt(MIXED_SAVE, flavour="iptables-legacy"))
    assert [(flavour, label, name, chain.hook, chain.priority) for (flavour, label, name), chain in zip(
        labels(filters(tables, "ipv4", "in")), filters(tables, "ipv4", "in"))] == [
        ("nftables", "inet t", "raw", "prerouting", -300),
        ("iptables-legacy", "ip mangle", "PREROUTING", "prerouting", -150),
        ("iptables-nft", "ip mangle", "PREROUTING", "prerouting", -150),
        ("nftables", "inet t", "mangle", "prerouting", -150),
        ("iptables-legacy", "ip mangle", "INPUT", "input", -150),
        ("iptables-nft", "ip mangle", "INPUT", "input", -150),
        ("iptables-legacy", "ip filter", "INPUT", "input", 0),
        ("iptables-nft", "ip filter", "INPUT", "input", 0),
        ("nftables", "inet t", "input", "input", 0),
    ]
    # the IPv4 tables of iptables are not on an IPv6 path
    assert all(chain.table.flavour == "nftables" for chain in filters(tables, "ipv6", "in"))


# --- verdicts of native rulesets ------------------------------------------------------------------

# (case, packet, verdict, where the verdict comes from: (table, chain, position, rule text) or None)
NFT_VERDICTS = [
    ("policy-drop", dict(), DROP, ("inet t", "input", None, "policy drop")),
    ("policy-drop", dict(family="ipv6"), DROP, ("inet t", "input", None, "policy drop")),
    ("policy-drop", dict(direction="out"), ACCEPT, None),
    ("reject", dict(), DROP, ("inet t", "input", 1, None)),
    ("reject", dict(message="echo-reply"), ACCEPT, None),
    ("reject", dict(family="ipv6"), DROP, ("inet t", "input", 2, None)),
    # an accept ends one base chain: a later one still drops
    ("accept-then-drop", dict(), DROP, ("ip late", "input", None, "policy drop")),
    ("accept-then-drop", dict(family="ipv6"), ACCEPT, None),
    # the first filter on the path that drops is named
    ("priorities", dict(), DROP, ("inet b", "pre", 1, None)),
    ("priorities", dict(direction="out"), DROP, ("inet b", "out", 1, None)),
    ("priorities", dict(direction="out", interface="eth1"), DROP, ("inet a", "output", 1, None)),
    ("priorities", dict(direction="out", interface="eth1", message="echo-reply"), ACCEPT, None),
    # jump and return: the walk goes on after the jump
    ("jump-return", dict(), ACCEPT, None),
    ("jump-return", dict(message="echo-reply"), DROP, ("inet t", "input", 2, None)),
    ("jump-return", dict(interface="eth1"), DROP, ("inet t", "sub", 2, None)),
    # goto: the end of the chain gone to returns to the caller's caller, past mid's drop
    ("goto", dict(interface="eth1"), DROP, ("inet t", "input", 2, None)),
    ("goto", dict(interface="eth2"), ACCEPT, None),
    ("goto", dict(), ACCEPT, None),
    # goto from a base chain: falling off the end is the policy, the accept after it is never reached
    ("goto", dict(direction="out"), DROP, ("inet t", "output", None, "policy drop")),
    ("return-in-base", dict(), DROP, ("inet t", "input", None, "policy drop")),
    ("return-in-base", dict(message="echo-reply"), ACCEPT, None),
    ("vmap-inline", dict(interface="eth1"), DROP, ("inet t", "input", 1, None)),
    ("vmap-inline", dict(message="echo-reply"), ACCEPT, None),
    ("vmap-inline", dict(interface="eth2"), ACCEPT, None),
    ("vmap-inline", dict(interface="eth2", message="echo-reply"), DROP, ("inet t", "input", 2, None)),
    # named maps: gw0 jumps to sub, which drops requests; replies come back and meet @bytype
    ("vmap-named", dict(), DROP, ("inet t", "sub", 1, None)),
    ("vmap-named", dict(message="echo-reply"), DROP, ("inet t", "input", 2, None)),
    ("vmap-named", dict(interface="eth1", message="echo-reply"), DROP, ("inet t", "input", 1, None)),
    ("vmap-named", dict(interface="eth2"), ACCEPT, None),
    # an ICMP key never matches an IPv6 packet: nothing in sub or @bytype applies
    ("vmap-named", dict(family="ipv6"), ACCEPT, None),
    ("vmap-named", dict(family="ipv6", message="echo-reply"), ACCEPT, None),
    ("named-set", dict(), DROP, ("inet t", "input", 1, None)),
    ("named-set", dict(interface="eth2", local=["198.18.0.7"]), ACCEPT, None),
    ("named-set", dict(interface="eth2", local=["198.18.1.1"]), DROP, ("inet t", "input", 3, None)),
    ("named-set", dict(interface="eth2"), UNKNOWN, ("inet t", "input", 3, None)),
    # the peer may or may not be in @peers
    ("named-set", dict(interface="eth2", message="echo-reply", local=["198.18.0.7"]), UNKNOWN,
     ("inet t", "input", 2, None)),
    ("wildcards", dict(interface="eth1"), DROP, ("inet t", "input", 1, None)),
    ("wildcards", dict(), ACCEPT, None),
    # "eth\*" is the name eth*, not a pattern
    ("wildcards", dict(interface="eth1", message="echo-reply"), ACCEPT, None),
    ("wildcards", dict(direction="out", interface="vxlan0"), DROP, ("inet t", "output", 1, None)),
    ("wildcards", dict(direction="out"), DROP, ("inet t", "output", 1, None)),
    ("wildcards", dict(direction="out", interface="eth1"), ACCEPT, None),
    ("negation", dict(), DROP, ("inet t", "input", 1, None)),
    ("negation", dict(interface="lo"), ACCEPT, None),
    ("negation", dict(message="echo-reply"), DROP, ("inet t", "input", 2, None)),
    ("negation", dict(family="ipv6", message="echo-reply"), ACCEPT, None),
    # before conntrack (priority -200) the state is not known yet: the reply may be dropped
    ("ct-state", dict(interface="eth1", message="echo-reply"), UNKNOWN, ("inet t", "raw", 1, None)),
    # ... and whatever raw does, input drops the request: a certain drop is named before a doubt
    ("ct-state", dict(interface="eth1"), DROP, ("inet t", "input", None, "policy drop")),
    ("ct-state", dict(interface="eth2"), DROP, ("inet t", "mangle", 1, None)),
    ("ct-state", dict(interface="eth2", message="echo-reply"), ACCEPT, None),
    # a request is new, a reply established
    ("ct-state", dict(), DROP, ("inet t", "input", None, "policy drop")),
    ("ct-state", dict(message="echo-reply"), ACCEPT, None),
    ("ct-state", dict(direction="out", interface="eth1"), DROP, ("inet t", "out-new", 1, None)),
    ("ct-state", dict(direction="out", interface="eth2"), ACCEPT, None),
    ("ct-state", dict(direction="out", interface="eth1", message="echo-reply"), ACCEPT, None),
    # a mark set at prerouting is matched at input
    ("marks", dict(interface="eth1"), DROP, ("inet t", "input", 1, None)),
    ("marks", dict(interface="eth2"), DROP, ("inet t", "input", 2, None)),
    ("marks", dict(interface="eth3"), UNKNOWN, ("inet t", "input", 1, None)),
    ("marks", dict(), ACCEPT, None),
    ("addresses", dict(local=["198.18.0.1"]), DROP, ("ip t", "input", 1, None)),
    ("addresses", dict(local=["198.18.0.2"]), ACCEPT, None),
    ("addresses", dict(), UNKNOWN, ("ip t", "input", 1, None)),
    ("addresses", dict(local=["198.18.0.2"], message="echo-reply"), UNKNOWN, ("ip t", "input", 3, None)),
    # every peer is in 0.0.0.0/0; no peer is multicast, link-local or loopback
    ("addresses", dict(direction="out", message="echo-reply"), ACCEPT, None),
    ("addresses", dict(family="ipv6", local=["2001:db8::2"]), ACCEPT, None),
    ("addresses", dict(family="ipv6", local=["2001:db8::1"], message="echo-reply"), DROP,
     ("ip6 t6", "input", 3, None)),
    ("addresses", dict(family="ipv6", message="echo-reply"), UNKNOWN, ("ip6 t6", "input", 3, None)),
    # both outcomes of the rate limit drop the request; the fib match may drop the reply
    ("unknown", dict(), DROP, ("inet t", "input", 2, None)),
    ("unknown", dict(message="echo-reply"), UNKNOWN, ("inet t", "input", 3, None)),
    ("unknown", dict(interface="lo"), ACCEPT, None),
    # ICMP and IPv4 matches in an inet table never match an IPv6 packet, negated or not
    ("inet-icmp-on-ipv6", dict(family="ipv6"), ACCEPT, None),
    ("inet-icmp-on-ipv6", dict(family="ipv6", message="echo-reply"), ACCEPT, None),
    ("inet-icmp-on-ipv6", dict(), DROP, ("inet t", "input", 1, None)),
    ("inet-icmp-on-ipv6", dict(message="echo-reply"), DROP, ("inet t", "input", 3, None)),
]


@pytest.mark.parametrize("case,probe,verdict,where", NFT_VERDICTS,
                         ids=["%s-%d" % (case[0], index) for index, case in enumerate(NFT_VERDICTS)])
def test_native_ruleset_verdicts(case, probe, verdict, where):
    judgement = judged(nft(case, probe.get("family", "ipv4")), **probe)
    assert judgement.verdict == verdict
    if where is None:
        assert judgement.witness is None
        return
    described = witness(judgement)
    table, chain, position, text = where
    assert (described["flavour"], described["table"], described["chain"], described["position"]) == (
        "nftables", table, chain, position)
    if text is not None:
        assert described["rule"] == text


def test_a_native_witness_names_its_rule_by_handle_and_text():
    judgement = judged(nft("reject", "ipv4"))
    assert witness(judgement) == {
        "flavour": "nftables", "table": "inet t", "chain": "input", "hook": "input", "priority": 0,
        "position": 1, "handle": 2,
        "rule": 'inet t input handle 2 [{"match": {"left": {"payload": {"field": "type", "protocol": "icmp"}}, '
                '"op": "==", "right": "echo-request"}}, {"reject": {"expr": "admin-prohibited", "type": "icmp"}}]'}
    # with the nft -a text of the table, the rule is named as nft prints it
    texts = {("inet", "t"): {2: "icmp type echo-request reject with icmp admin-prohibited"}}
    assert witness(judged(nft("reject", "ipv4", texts)))["rule"] == (
        "icmp type echo-request reject with icmp admin-prohibited")
    assert witness(judged(nft("policy-drop", "ipv4"))) == {
        "flavour": "nftables", "table": "inet t", "chain": "input", "hook": "input", "priority": 0,
        "position": None, "handle": None, "rule": "policy drop"}


def test_every_filters_walk_is_in_the_judgement():
    judgement = judged(nft("priorities", "ipv4"), direction="out", interface="eth1")
    assert [(one.chain.name, one.verdict) for one in judgement.walks] == [
        ("out", ACCEPT), ("output", DROP), ("post", DROP)]
    assert judgement.witness is judgement.walks[1]


# --- verdicts of iptables rulesets ----------------------------------------------------------------

def save(*tables):
    """An iptables-save text of ``tables``: (name, {chain: policy}, [rule lines])."""
    lines = []
    for name, policies, rules in tables:
        lines.append("*" + name)
        lines.extend(":%s %s [0:0]" % (chain, policy) for chain, policy in policies.items())
        lines.extend(rules)
        lines.append("COMMIT")
    return "\n".join(lines) + "\n"


FILTER = OrderedDict([("INPUT", "ACCEPT"), ("FORWARD", "ACCEPT"), ("OUTPUT", "ACCEPT")])
FILTER_DROP = OrderedDict([("INPUT", "DROP"), ("FORWARD", "DROP"), ("OUTPUT", "DROP")])


def filter_table(rules, policies=None, user=()):
    policies = FILTER if policies is None else policies
    return ("filter", OrderedDict(list(policies.items()) + [(chain, "-") for chain in user]), rules)


IPT_VERDICTS = [
    ("policy", save(filter_table([], FILTER_DROP)), dict(), DROP, ("ip filter", "INPUT", None, "policy drop")),
    ("policy-out", save(filter_table([], FILTER_DROP)), dict(direction="out"), DROP,
     ("ip filter", "OUTPUT", None, "policy drop")),
    ("reject", save(filter_table(["-A INPUT -i lo -j ACCEPT",
                                  "-A INPUT -p icmp -j REJECT --reject-with icmp-host-prohibited"])),
     dict(), DROP, ("ip filter", "INPUT", 2, "-A INPUT -p icmp -j REJECT --reject-with icmp-host-prohibited")),
    ("sub-chain", save(filter_table(["-A INPUT -j HOST-IN", "-A INPUT -j ACCEPT", "-A HOST-IN -i eth1 -j DROP",
                                     "-A HOST-IN -j RETURN"], FILTER_DROP, ["HOST-IN"])),
     dict(interface="eth1"), DROP, ("ip filter", "HOST-IN", 1, "-A HOST-IN -i eth1 -j DROP")),
    ("sub-chain-returns", save(filter_table(["-A INPUT -j HOST-IN", "-A INPUT -j ACCEPT",
                                             "-A HOST-IN -i eth1 -j DROP", "-A HOST-IN -j RETURN"],
                                            FILTER_DROP, ["HOST-IN"])),
     dict(), ACCEPT, None),
    # -g: the end of LEAF returns past MID's drop, to INPUT
    ("goto", save(filter_table(["-A INPUT -j MID", "-A INPUT -i eth1 -j DROP", "-A LEAF -i gw0 -j ACCEPT",
                                "-A MID -g LEAF", "-A MID -j DROP"], FILTER, ["LEAF", "MID"])),
     dict(interface="eth2"), ACCEPT, None),
    ("goto-then-drop", save(filter_table(["-A INPUT -j MID", "-A INPUT -i eth1 -j DROP",
                                          "-A LEAF -i gw0 -j ACCEPT", "-A MID -g LEAF", "-A MID -j DROP"],
                                         FILTER, ["LEAF", "MID"])),
     dict(interface="eth1"), DROP, ("ip filter", "INPUT", 2, "-A INPUT -i eth1 -j DROP")),
    # RETURN in a built-in chain ends it with the policy
    ("return-in-base", save(filter_table(["-A INPUT -p icmp -m icmp --icmp-type 8 -j RETURN", "-A INPUT -j ACCEPT"],
                                         FILTER_DROP)),
     dict(), DROP, ("ip filter", "INPUT", None, "policy drop")),
    ("return-in-base-reply", save(filter_table(["-A INPUT -p icmp -m icmp --icmp-type 8 -j RETURN",
                                                "-A INPUT -j ACCEPT"], FILTER_DROP)),
     dict(message="echo-reply"), ACCEPT, None),
    # a foreign rule's interface pattern matches every interface it covers
    ("wildcard", save(filter_table(["-A INPUT -i eth+ -j DROP"])), dict(interface="eth1"), DROP,
     ("ip filter", "INPUT", 1, "-A INPUT -i eth+ -j DROP")),
    ("wildcard-other", save(filter_table(["-A INPUT -i eth+ -j DROP"])), dict(), ACCEPT, None),
    ("negation", save(filter_table(["-A INPUT ! -i lo -p icmp -j DROP"])), dict(), DROP,
     ("ip filter", "INPUT", 1, "-A INPUT ! -i lo -p icmp -j DROP")),
    ("negation-lo", save(filter_table(["-A INPUT ! -i lo -p icmp -j DROP"])), dict(interface="lo"), ACCEPT, None),
    ("ct-new", save(filter_table(["-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"], FILTER_DROP)),
     dict(), DROP, ("ip filter", "INPUT", None, "policy drop")),
    ("ct-established", save(filter_table(["-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"],
                                         FILTER_DROP)),
     dict(message="echo-reply"), ACCEPT, None),
    # the raw table comes before conntrack: its state matches cannot be decided
    ("ct-raw", save(("raw", OrderedDict([("PREROUTING", "ACCEPT"), ("OUTPUT", "ACCEPT")]),
                     ["-A PREROUTING -m conntrack --ctstate NEW -j DROP"])),
     dict(), UNKNOWN, ("ip raw", "PREROUTING", 1, "-A PREROUTING -m conntrack --ctstate NEW -j DROP")),
    ("ct-mangle", save(("mangle", OrderedDict([("PREROUTING", "ACCEPT"), ("INPUT", "ACCEPT")]),
                        ["-A PREROUTING -m state --state NEW -j DROP"])),
     dict(), DROP, ("ip mangle", "PREROUTING", 1, "-A PREROUTING -m state --state NEW -j DROP")),
    # a mark set in mangle is matched in filter; one restored from the connection is not known
    ("mark", save(("mangle", OrderedDict([("PREROUTING", "ACCEPT")]),
                   ["-A PREROUTING -i eth1 -j MARK --set-xmark 0x10/0xffffffff"]),
                  filter_table(["-A INPUT -m mark --mark 0x10/0xf0 -j DROP"])),
     dict(interface="eth1"), DROP, ("ip filter", "INPUT", 1, "-A INPUT -m mark --mark 0x10/0xf0 -j DROP")),
    ("mark-unset", save(("mangle", OrderedDict([("PREROUTING", "ACCEPT")]),
                         ["-A PREROUTING -i eth1 -j MARK --set-xmark 0x10/0xffffffff"]),
                        filter_table(["-A INPUT -m mark --mark 0x10/0xf0 -j DROP"])),
     dict(), ACCEPT, None),
    ("connmark", save(("mangle", OrderedDict([("PREROUTING", "ACCEPT")]),
                       ["-A PREROUTING -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff"]),
                      filter_table(["-A INPUT -m mark --mark 0x10 -j DROP"])),
     dict(), UNKNOWN, ("ip filter", "INPUT", 1, "-A INPUT -m mark --mark 0x10 -j DROP")),
    ("address-local", save(filter_table(["-A INPUT -d 198.18.0.1/32 -j DROP"])), dict(local=["198.18.0.1"]),
     DROP, ("ip filter", "INPUT", 1, "-A INPUT -d 198.18.0.1/32 -j DROP")),
    ("address-other", save(filter_table(["-A INPUT -d 198.18.0.1/32 -j DROP"])), dict(local=["198.18.0.2"]),
     ACCEPT, None),
    ("address-unknown", save(filter_table(["-A INPUT -d 198.18.0.1/32 -j DROP"])), dict(), UNKNOWN,
     ("ip filter", "INPUT", 1, "-A INPUT -d 198.18.0.1/32 -j DROP")),
    ("loopback", save(filter_table(["-A INPUT -s 127.0.0.0/8 -j DROP", "-A INPUT ! -s 127.0.0.0/8 -p icmp -m icmp "
                                    "--icmp-type 0 -j DROP"])), dict(), ACCEPT, None),
    ("loopback-negated", save(filter_table(["-A INPUT -s 127.0.0.0/8 -j DROP",
                                            "-A INPUT ! -s 127.0.0.0/8 -p icmp -m icmp --icmp-type 0 -j DROP"])),
     dict(message="echo-reply"), DROP, ("ip filter", "INPUT", 2, None)),
    # the probe's destination is this node's address: LOCAL to the kernel, not UNICAST
    ("addrtype", save(filter_table(["-A INPUT -m addrtype --dst-type UNICAST -j ACCEPT"], FILTER_DROP)), dict(),
     DROP, ("ip filter", "INPUT", None, "policy drop")),
    ("addrtype-local", save(filter_table(["-A INPUT -m addrtype --dst-type LOCAL -j ACCEPT"], FILTER_DROP)), dict(),
     ACCEPT, None),
    ("unknown-match", save(filter_table(["-A INPUT -p icmp -m limit --limit 5/sec -j DROP"])), dict(), UNKNOWN,
     ("ip filter", "INPUT", 1, "-A INPUT -p icmp -m limit --limit 5/sec -j DROP")),
    ("unknown-target", save(filter_table(["-A INPUT -p icmp -j NFQUEUE --queue-num 1"])), dict(), UNKNOWN,
     ("ip filter", "INPUT", 1, "-A INPUT -p icmp -j NFQUEUE --queue-num 1")),
    # drops in several tables: the one first on the path is named
    ("tables", save(("raw", OrderedDict([("PREROUTING", "ACCEPT"), ("OUTPUT", "ACCEPT")]),
                     ["-A PREROUTING -p icmp -j DROP"]),
                    ("mangle", OrderedDict([("PREROUTING", "ACCEPT"), ("INPUT", "DROP")]), []),
                    filter_table([], FILTER_DROP)),
     dict(), DROP, ("ip raw", "PREROUTING", 1, "-A PREROUTING -p icmp -j DROP")),
    ("tables-later", save(("raw", OrderedDict([("PREROUTING", "ACCEPT"), ("OUTPUT", "ACCEPT")]),
                           ["-A PREROUTING -i eth1 -p icmp -j DROP"]),
                          ("mangle", OrderedDict([("PREROUTING", "ACCEPT"), ("INPUT", "DROP")]), []),
                          filter_table([], FILTER_DROP)),
     dict(), DROP, ("ip mangle", "INPUT", None, "policy drop")),
    ("security", save(filter_table(["-A INPUT -j ACCEPT"]),
                      ("security", OrderedDict([("INPUT", "ACCEPT"), ("OUTPUT", "ACCEPT")]),
                       ["-A OUTPUT -o gw0 -j DROP"])),
     dict(direction="out"), DROP, ("ip security", "OUTPUT", 1, "-A OUTPUT -o gw0 -j DROP")),
]


@pytest.mark.parametrize("text,probe,verdict,where", [case[1:] for case in IPT_VERDICTS],
                         ids=[case[0] for case in IPT_VERDICTS])
def test_iptables_ruleset_verdicts(text, probe, verdict, where):
    judgement = judged(ipt(text), **probe)
    assert judgement.verdict == verdict
    if where is None:
        assert judgement.witness is None
        return
    described = witness(judgement)
    table, chain, position, rule = where
    assert (described["flavour"], described["table"], described["chain"], described["position"],
            described["handle"]) == ("iptables-nft", table, chain, position, None)
    if rule is not None:
        assert described["rule"] == rule


def test_an_accept_in_one_flavour_does_not_stop_a_drop_in_another():
    accepting = save(filter_table(["-A INPUT -p icmp -j ACCEPT"]))
    dropping = save(filter_table([], FILTER_DROP))
    tables = ipt(accepting, flavour="iptables-legacy") + ipt(dropping) + nft("accept-then-drop", "ipv4")
    judgement = judged(tables)
    assert judgement.verdict == DROP
    # the first drop on the path: iptables-nft's filter INPUT before native ip late at priority 10
    assert witness(judgement)["flavour"] == "iptables-nft"
    assert [(one.chain.table.flavour, one.verdict) for one in judgement.walks] == [
        ("nftables", ACCEPT), ("iptables-legacy", ACCEPT), ("iptables-nft", DROP), ("nftables", DROP)]
    assert judged(ipt(accepting, flavour="iptables-legacy") + nft("accept-then-drop", "ipv4")).verdict == DROP
    assert judged(ipt(accepting, flavour="iptables-legacy")).verdict == ACCEPT


def test_an_ipv6_rule_set_is_read_as_ip6_tables():
    text = save(filter_table(["-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j DROP"]))
    judgement = judged(ipt(text, family="ipv6"), family="ipv6")
    assert (judgement.verdict, witness(judgement)["table"]) == (DROP, "ip6 filter")
    assert judged(ipt(text, family="ipv6"), family="ipv6", message="echo-reply").verdict == ACCEPT


# --- owned rules ------------------------------------------------------------------------------------

OWNED = save(filter_table([
    '-A INPUT -p icmp -m comment --comment "%s" -j NLM-INPUT' % TAG,
    "-A INPUT -j DROP",
    '-A NLM-INPUT -i gw0 -p icmp -m icmp --icmp-type 8 -m comment --comment "%s" -j ACCEPT' % TAG,
], FILTER, ["NLM-INPUT"]))


def test_owned_rules_count_unless_skipped():
    tables = ipt(OWNED)
    assert judged(tables).verdict == ACCEPT
    skipped = judged(tables, skip_owned=True)
    assert (skipped.verdict, witness(skipped)["rule"]) == (DROP, "-A INPUT -j DROP")
    # another interface's packet gets nothing from the owned rule
    assert judged(tables, interface="eth1").verdict == DROP


# --- first_risk: where an appended rule still takes effect ---------------------------------------------

RISKY = save(filter_table([
    "-A INPUT -i lo -j ACCEPT",
    "-A INPUT -p tcp -j ACCEPT",
    "-A INPUT -j HOST-IN",
    "-A INPUT -p icmp -m limit --limit 5/sec -j DROP",
    "-A INPUT -p icmp -j REJECT --reject-with icmp-host-prohibited",
    "-A HOST-IN -i eth1 -j DROP",
    "-A HOST-IN -i eth2 -j RETURN",
    "-A HOST-IN -i eth3 -j ACCEPT",
], FILTER, ["HOST-IN"]))


@pytest.mark.parametrize("interface,position", [
    ("gw0", 4),     # the rate limit may drop it
    ("eth1", 3),    # the jump leads to a drop
    ("eth2", 4),
    ("eth3", None),  # HOST-IN accepts it before anything may drop it
    ("lo", None),
])
def test_first_risk_is_the_first_rule_that_may_keep_the_packet_from_being_accepted(interface, position):
    chain = next(table for table in ipt(RISKY) if table.name == "filter").chains["INPUT"]
    risk = first_risk(chain, packet(interface=interface))
    assert (risk.position if risk is not None else None) == position


def test_first_risk_of_a_return_to_a_drop_policy_and_of_owned_rules():
    text = save(filter_table([
        '-A INPUT -i gw0 -p icmp -m icmp --icmp-type 8 -m comment --comment "%s" -j ACCEPT' % TAG,
        "-A INPUT -p icmp -m icmp --icmp-type 8 -j RETURN",
        "-A INPUT -j ACCEPT",
    ], FILTER_DROP))
    chain = next(table for table in ipt(text) if table.name == "filter").chains["INPUT"]
    # owned rules are not there for the placement of owned rules
    assert first_risk(chain, packet()).position == 2
    assert first_risk(chain, packet(), skip_owned=False) is None
    # a chain that ends in its drop policy: an appended rule at its end takes effect
    assert first_risk(next(table for table in ipt(save(filter_table([], FILTER_DROP)))
                           if table.name == "filter").chains["INPUT"], packet()) is None


def test_first_risk_looks_past_an_accept_that_may_not_apply():
    text = save(filter_table(["-A INPUT -p icmp -m limit --limit 1/sec -j ACCEPT", "-A INPUT -j DROP"]))
    chain = next(table for table in ipt(text) if table.name == "filter").chains["INPUT"]
    assert first_risk(chain, packet()).position == 2


def test_first_risk_of_native_chains():
    (table,) = nft("unknown", "ipv4")
    assert first_risk(table.chains["input"], packet()).handle == 3
    assert first_risk(table.chains["input"], packet(message="echo-reply")).handle == 4
    assert first_risk(table.chains["input"], packet(interface="lo")) is None
    (table,) = nft("vmap-named", "ipv4")
    assert first_risk(table.chains["input"], packet()).position == 1
    assert first_risk(table.chains["input"], packet(interface="eth2")) is None


# --- the walk itself ---------------------------------------------------------------------------------

def always(packet, base, state):
    return True


def maybe(packet, base, state):
    return None


def chain_of(rules, policy=ACCEPT, user=()):
    table = Table("nftables", "inet", "t")
    table.add(Chain("input", rules, hook="input", priority=0, policy=policy))
    for chain in user:
        table.add(chain)
    return table.chains["input"]


def test_a_loop_of_jumps_is_a_verdict_that_cannot_be_foreseen():
    loop = Chain("loop", [Rule(always, ("jump", "loop"), "jump loop")])
    result = walk(chain_of([Rule(always, ("jump", "loop"), "jump loop")], user=[loop]), packet())
    assert result.verdict == UNKNOWN and set(result.verdicts) == {UNKNOWN}
    missing = walk(chain_of([Rule(always, ("jump", "nowhere"), "jump nowhere")]), packet())
    assert missing.verdict == UNKNOWN and missing.witness.text == "jump nowhere"


def test_an_uncertain_rule_leads_both_ways_and_the_witness_is_the_first_that_may_drop():
    accept_first = walk(chain_of([Rule(maybe, (ACCEPT,), "maybe accept"), Rule(maybe, (DROP,), "maybe drop")]),
                        packet())
    assert accept_first.verdict == UNKNOWN
    assert set(accept_first.verdicts) == {ACCEPT, DROP}
    assert accept_first.witness.text == "maybe drop"
    unforeseen = walk(chain_of([Rule(maybe, (UNKNOWN,), "queue")]), packet())
    assert (unforeseen.verdict, unforeseen.witness.text) == (UNKNOWN, "queue")
    certain = walk(chain_of([Rule(maybe, (DROP,), "maybe"), Rule(always, (DROP,), "drop")]), packet())
    assert (certain.verdict, certain.witness.text) == (DROP, "maybe")


def test_an_uncertain_mark_is_unknown_afterwards():
    def marked(packet, base, state):
        return None if state.mark is None else state.mark == 7
    rules = [Rule(maybe, ("mark", lambda old: 7), "maybe mark"), Rule(marked, (DROP,), "drop marked")]
    assert walk(chain_of(rules), packet()).verdict == UNKNOWN
    certain = [Rule(always, ("mark", lambda old: 7), "mark"), Rule(marked, (DROP,), "drop marked")]
    assert walk(chain_of(certain), packet()).verdict == DROP
    state = State()
    walk(chain_of(certain), packet(), state)
    assert state.mark == 7


def test_walk_without_a_chain_is_an_empty_walk():
    empty = Walk(chain_of([]))
    assert empty.verdict == UNKNOWN and empty.witness is None
    assert judge([], packet()) == (ACCEPT, None, [])


def _tie_table(flavour, name, rules, priority=-150):
    table = _path.Table(flavour, "ip", name)
    table.add(_path.Chain("PREROUTING", rules, hook="prerouting", priority=priority, policy=_path.ACCEPT))
    return table


def test_a_mark_set_at_a_priority_another_table_shares_is_undecided_for_that_table():
    """Base chains at one hook and priority run in registration order, which nothing
    reports: a mark one of them sets may or may not be there when the other looks."""
    packet = _path.Packet.of(AllowRule("ipv4", "in", "gw0", "echo-reply"))

    def marked(packet, base, state):
        return None if state.mark is None else state.mark == 1

    setter = _tie_table("nftables", "marks", [_path.Rule(lambda *args: True, ("mark", lambda old: 1), "set")])
    reader = _tie_table("iptables-legacy", "mangle", [_path.Rule(marked, (_path.DROP,), "drop marked")])
    judged = _path.judge(_path.filters([setter, reader], "ipv4", "in"), packet)
    assert judged.verdict == _path.UNKNOWN
    assert judged.witness.chain.table is reader
    # at a later priority the order is known, and so is the mark
    later = _tie_table("iptables-legacy", "filter", [_path.Rule(marked, (_path.DROP,), "drop marked")], priority=0)
    assert _path.judge(_path.filters([setter, later], "ipv4", "in"), packet).verdict == _path.DROP
    # the setter's own later rules still see what it set
    own = _tie_table("nftables", "marks", [_path.Rule(lambda *args: True, ("mark", lambda old: 1), "set"),
                                           _path.Rule(marked, (_path.DROP,), "drop marked")])
    quiet = _tie_table("iptables-legacy", "mangle", [])
    assert _path.judge(_path.filters([own, quiet], "ipv4", "in"), packet).verdict == _path.DROP
