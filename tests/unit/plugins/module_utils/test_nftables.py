"""Parsing, judging, planning and rendering on real ``nft -j list ruleset`` output.

tests/unit/fixtures/nftables holds captures of nftables 1.0.6 (capture.sh regenerates
them; ruleset.txt is the same ruleset as ``nft -a list ruleset`` prints it, with the
handles the tests name): the lab's hardened ``inet filter`` table with owned rules
(one duplicated, one written with a type number, one wildcard, one tagged rule the
module would not write), foreign look-alikes, an ``ip6 extra`` table that rejects
ICMPv6 echo requests on eth1, and iptables-nft's own ``ip filter`` table.
"""

from __future__ import annotations

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import AllowRule, expected_rules
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables import Request
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables import (
    Ruleset,
    Transaction,
    allow_rule_of,
    in_use,
    inspect,
    needs,
    owned_lines,
    parse_ruleset,
    plan,
    render_statement,
    rule_expr,
    rule_matches,
    tables_with_chains,
    xtables_tables,
)

TAG = "nodelatency.monitor"
INPUT = ("inet", "filter", "input")
OUTPUT = ("inet", "filter", "output")
EXTRA = ("ip6", "extra", "out")


@pytest.fixture
def ruleset(fixture_text):
    """The native chains of the capture, as NftablesBackend.read finds them table by table."""
    xtables = xtables_tables({"iptables": fixture_text("nftables/iptables-nft-save.txt")})
    return Ruleset([chain for chain in parse_ruleset(fixture_text("nftables/ruleset.json")).chains.values()
                    if (chain.family, chain.table) not in xtables])


@pytest.fixture
def hardened(fixture_text):
    return parse_ruleset(fixture_text("nftables/empty.json"))


def rule_by_handle(ruleset, key, handle):
    return next(rule for rule in ruleset.chains[key].rules if rule.handle == handle)


def request(family, interfaces, state="present", placement="insert", enforce_order=False,
            roles=("responder", "prober")):
    expected = expected_rules(family, interfaces, roles) if state == "present" else []
    return Request(state, list(interfaces), expected, "dedicated", placement, enforce_order, TAG)


# --- parsing ------------------------------------------------------------------------------

def test_iptables_nft_tables_are_left_out(fixture_text, ruleset):
    assert xtables_tables({"iptables": fixture_text("nftables/iptables-nft-save.txt")}) == {("ip", "filter")}
    assert list(ruleset.chains) == [INPUT, ("inet", "filter", "forward"), OUTPUT, ("inet", "filter", "helper"),
                                    EXTRA]
    assert [chain.direction for chain in ruleset.chains.values()] == ["in", None, "out", None, "out"]
    assert [rule.handle for rule in ruleset.chains[INPUT].rules] == [18, 4, 6, 8, 10, 19, 20, 21, 22, 23]
    assert ruleset.chains[EXTRA].policy == "accept"


def test_the_tables_to_list_are_those_holding_a_chain_in_listed_order(fixture_text):
    assert tables_with_chains(fixture_text("nftables/ruleset.json")) == [
        ("inet", "filter"), ("ip6", "extra"), ("ip", "filter")]
    assert tables_with_chains('{"nftables": [{"metainfo": {"version": "1.0.6"}}, '
                              '{"table": {"family": "inet", "name": "empty", "handle": 1}}]}') == []


@pytest.mark.parametrize("parse", [parse_ruleset, tables_with_chains])
def test_output_that_is_not_json_is_a_clear_error(parse):
    with pytest.raises(NlmError, match="nft -j printed something that is not JSON"):
        parse("Error: syntax error")


# --- what a rule means -----------------------------------------------------------------------

def test_owned_rules_are_recognised_as_written_and_as_nft_prints_them(ruleset):
    chain = ruleset.chains[INPUT]
    recognised = [allow_rule_of(chain, rule) for rule in chain.rules]
    assert recognised == [
        AllowRule("ipv4", "in", "antrea-gw0", "echo-request"), None, None, None, None,
        AllowRule("ipv4", "in", "antrea-gw0", "echo-reply"), AllowRule("ipv4", "in", "antrea-gw0", "echo-reply"),
        AllowRule("ipv6", "in", "antrea-gw0", "echo-request"),   # written as icmpv6 type 128
        AllowRule("ipv4", "in", "eth+", "echo-request"),         # eth* is the iptables eth+
        None,                                                    # has an address match
    ]


def test_rendering_is_what_nft_prints(fixture_text, ruleset):
    rule = AllowRule("ipv4", "in", "antrea-gw0", "echo-request")
    assert rule_expr(rule) == rule_by_handle(ruleset, INPUT, 18).expr
    printed = 'iifname "antrea-gw0" icmp type echo-request accept comment "nodelatency.monitor" # handle 18'
    assert "\t\t" + printed + "\n" in fixture_text("nftables/ruleset.txt")
    assert render_statement(rule, TAG) + " # handle 18" == printed
    assert render_statement(AllowRule("ipv6", "out", "eth+", "echo-reply"), TAG) == (
        'oifname "eth*" icmpv6 type echo-reply accept comment "nodelatency.monitor"')


@pytest.mark.parametrize("handle,rule,expected", [
    (4, AllowRule("ipv4", "in", "antrea-gw0", "echo-request"), False),   # iifname "lo"
    (4, AllowRule("ipv4", "in", "lo", "echo-request"), True),
    (6, AllowRule("ipv4", "in", "lo", "echo-request"), False),           # l4proto { tcp, udp }
    (8, AllowRule("ipv4", "in", "lo", "echo-request"), False),           # other ICMP types
    (10, AllowRule("ipv4", "in", "lo", "echo-request"), False),          # icmpv6 implies IPv6
    (22, AllowRule("ipv4", "in", "eth0", "echo-request"), True),         # iifname "eth*"
    (22, AllowRule("ipv4", "in", "eth+", "echo-request"), True),
    (22, AllowRule("ipv4", "in", "e+", "echo-request"), None),           # covers part of e+
    (23, AllowRule("ipv4", "in", "antrea-gw0", "echo-request"), None),   # ip saddr: cannot tell
])
def test_a_match_is_true_false_or_unknown(ruleset, handle, rule, expected):
    assert rule_matches(rule_by_handle(ruleset, INPUT, handle).expr, rule) is expected


def test_a_base_chain_needs_a_rule_when_its_policy_or_a_drop_may_stop_the_traffic(ruleset):
    eth1_request = AllowRule("ipv6", "out", "eth1", "echo-request")
    gw_request = AllowRule("ipv6", "out", "antrea-gw0", "echo-request")
    assert needs(ruleset.chains[OUTPUT], gw_request)                          # policy drop
    assert not needs(ruleset.chains[OUTPUT], AllowRule("ipv6", "in", "antrea-gw0", "echo-request"))
    assert needs(ruleset.chains[EXTRA], eth1_request)                         # the reject matches
    assert not needs(ruleset.chains[EXTRA], gw_request)                       # tcp drop, eth1 reject: no
    assert not needs(ruleset.chains[EXTRA], AllowRule("ipv4", "out", "eth1", "echo-request"))   # ip6 table
    assert not needs(ruleset.chains[("inet", "filter", "helper")], gw_request)                  # no hook


def test_owned_lines_are_per_family(ruleset):
    assert owned_lines(ruleset, TAG, "ipv6") == [
        'inet filter input iifname "antrea-gw0" icmpv6 type echo-request accept comment "nodelatency.monitor"',
        'ip6 extra out oifname "antrea-gw0" icmpv6 type echo-reply accept comment "nodelatency.monitor"',
    ]
    ipv4 = owned_lines(ruleset, TAG, "ipv4")
    assert len(ipv4) == 5 and ipv4[-1].startswith('inet filter input handle 23 [{"match": ')


# --- planning --------------------------------------------------------------------------------

def test_present_keeps_one_copy_removes_the_rest_and_inserts_the_missing_at_the_top(ruleset):
    tx = plan(ruleset, "ipv4", request("ipv4", ["antrea-gw0"]))
    assert tx.restore_input() == (
        "delete rule inet filter input handle 20\n"
        "delete rule inet filter input handle 23\n"
        'insert rule inet filter output oifname "antrea-gw0" icmp type echo-reply accept comment "%s"\n'
        'insert rule inet filter output oifname "antrea-gw0" icmp type echo-request accept comment "%s"\n'
        % (TAG, TAG))
    # handle 22 (eth+) is another interface's and stays; foreign look-alikes stay
    assert [rule.handle for rule in tx.table.chains[INPUT].rules] == [18, 4, 6, 8, 10, 19, 21, 22]
    assert [rule.handle for rule in tx.table.chains[OUTPUT].rules] == [None, None, 11, 13, 15, 17, 24, 25]
    again = plan(tx.table, "ipv4", request("ipv4", ["antrea-gw0"]))
    assert again.restore_input() is None


def test_ipv6_goes_where_it_is_needed_and_leaves_a_chain_that_does_not_need_it(ruleset):
    tx = plan(ruleset, "ipv6", request("ipv6", ["antrea-gw0"]))
    assert tx.restore_input().splitlines() == [
        # ip6 extra out accepts echo replies on antrea-gw0 anyway: the owned rule there goes
        "delete rule ip6 extra out handle 4",
        'insert rule inet filter input iifname "antrea-gw0" icmpv6 type echo-reply accept comment "%s"' % TAG,
        'insert rule inet filter output oifname "antrea-gw0" icmpv6 type echo-reply accept comment "%s"' % TAG,
        'insert rule inet filter output oifname "antrea-gw0" icmpv6 type echo-request accept comment "%s"' % TAG,
    ]
    assert tx.removed == ['ip6 extra out oifname "antrea-gw0" icmpv6 type echo-reply accept comment "%s"' % TAG]


def test_append_goes_in_front_of_the_first_rule_that_may_drop_else_to_the_end(ruleset):
    tx = plan(ruleset, "ipv6", request("ipv6", ["eth1"], placement="append", roles=["prober"]))
    assert tx.restore_input().splitlines() == [
        'add rule inet filter input iifname "eth1" icmpv6 type echo-reply accept comment "%s"' % TAG,
        'add rule inet filter output oifname "eth1" icmpv6 type echo-request accept comment "%s"' % TAG,
        'insert rule ip6 extra out position 3 oifname "eth1" icmpv6 type echo-request accept comment "%s"' % TAG,
    ]
    assert [rule.handle for rule in tx.table.chains[EXTRA].rules] == [2, None, 3, 4]


def test_enforce_order_moves_an_owned_rule_that_a_reject_shadows(ruleset):
    shadowed = Transaction(ruleset)
    shadowed.add(ruleset.chains[EXTRA], AllowRule("ipv6", "out", "eth1", "echo-request"), TAG)
    table = shadowed.table
    table.chains[EXTRA].rules[-1] = table.chains[EXTRA].rules[-1]._replace(handle=5)
    wanted = request("ipv6", ["eth1"], roles=["prober"])
    assert "ip6 extra out" not in plan(table, "ipv6", wanted).restore_input()
    ordered = plan(table, "ipv6", wanted._replace(enforce_order=True)).restore_input().splitlines()
    assert ordered[0] == "delete rule ip6 extra out handle 5"
    assert ordered[-1] == ('insert rule ip6 extra out oifname "eth1" icmpv6 type echo-request accept comment "%s"'
                           % TAG)


def test_absent_removes_exactly_the_owned_rules_of_the_interfaces(ruleset):
    ipv4 = plan(ruleset, "ipv4", request("ipv4", ["antrea-gw0"], state="absent"))
    ipv6 = plan(ruleset, "ipv6", request("ipv6", ["antrea-gw0"], state="absent"))
    assert ipv4.restore_input().splitlines() == ["delete rule inet filter input handle %d" % handle
                                                 for handle in (18, 19, 20, 23)]
    assert ipv6.restore_input().splitlines() == ["delete rule inet filter input handle 21",
                                                 "delete rule ip6 extra out handle 4"]


def test_in_use_when_a_chain_needs_a_rule_or_an_owned_rule_exists(ruleset, hardened):
    gateway = expected_rules("ipv4", ["antrea-gw0"], ["responder"])
    assert in_use(hardened, ["ipv4"], gateway, TAG)
    assert not in_use(hardened, ["ipv4"], [], TAG)
    assert in_use(ruleset, ["ipv4"], [], TAG)


# --- inspecting --------------------------------------------------------------------------------

def test_inspect_names_the_policy_or_the_rule_that_drops(ruleset, hardened):
    (entry,) = [entry for entry in inspect(hardened, "ipv4", expected_rules("ipv4", ["antrea-gw0"], ["responder"]),
                                           TAG) if entry["direction"] == "in"]
    assert entry == {
        "interface": "antrea-gw0", "direction": "in", "message": "echo-request", "role": "responder",
        "icmp_type": 8, "backend": "nftables", "present": False, "chain": "inet filter input", "position": None,
        "handle": None, "copies": 0, "effective": False, "shadowed_by": "inet filter input policy drop"}
    report = inspect(ruleset, "ipv6", expected_rules("ipv6", ["eth1"], ["prober"]), TAG)
    assert [(entry["chain"], entry["message"], entry["effective"]) for entry in report] == [
        ("inet filter input", "echo-reply", False), ("inet filter output", "echo-request", False),
        ("ip6 extra out", "echo-request", False)]
    assert report[2]["shadowed_by"].startswith('ip6 extra out handle 3 [{"match": ')
    gateway = inspect(ruleset, "ipv4", expected_rules("ipv4", ["antrea-gw0"], ["responder", "prober"]), TAG)
    assert [(entry["present"], entry["position"], entry["copies"]) for entry in gateway] == [
        (True, 1, 1), (True, 6, 2), (False, None, 0), (False, None, 0)]
