"""Parsing, normalising, ownership, rendering and planning on real iptables-save output.

The fixtures in tests/unit/fixtures/iptables come from iptables 1.8.9, nft and legacy
backends, IPv4 and IPv6 (capture.sh regenerates them). They hold a hardened ruleset
(INPUT drops by policy, accepts established traffic, rejects the rest of ICMP; OUTPUT
accepts) plus owned rules in the NLM chains (one duplicated), a direct owned rule for
eth1 and a foreign look-alike without the tag.

The plans are asked for as nlm_icmp_allow asks: the filters that need a rule come from
``needed_filters``, the path model's judgement of every base chain without the owned
rules, and every plan is checked by judging the probe packets on the planned tables.
"""

from __future__ import annotations

from collections import OrderedDict

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _path
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_allow import needed_filters
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import AllowRule, Request, expected_rules
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables import (
    IptablesLegacyBackend,
    IptablesNftBackend,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_plan import model, owned_copies, plan
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_rules import (
    allow_rule_of,
    fields_of,
    is_owned,
    owned_lines,
    render_jump,
    render_rule,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables_save import (
    Chain,
    incompatible_tables,
    normalise_save,
    parse_save,
    variant_of_version,
)

TAG = "nodelatency.monitor"
BACKENDS = ("nft", "legacy")
FAMILIES = ("ipv4", "ipv6")
CASES = [(backend, family) for backend in BACKENDS for family in FAMILIES]
PROTO = {"ipv4": "icmp", "ipv6": "ipv6-icmp"}
MATCH = {"ipv4": "-m icmp --icmp-type", "ipv6": "-m icmp6 --icmpv6-type"}
TYPES = {"ipv4": (8, 0), "ipv6": (128, 129)}
BOTH = ("responder", "prober")


def saved(fixture_text, backend, family, counters=False):
    return fixture_text("iptables/%s-%s%s.save" % (backend, family, "-counters" if counters else ""))


class Node(object):
    """What _icmp_allow.Firewall gives needed_filters: the packet of each rule."""

    def packet(self, rule):
        return _path.Packet.of(rule)


def request(tables, family, interfaces, state="present", chain_mode="dedicated", placement="insert",
            enforce_order=False, roles=BOTH, flavour="iptables-nft"):
    """The Request nlm_icmp_allow makes for ``tables``: ``needed`` from the path model."""
    expected = expected_rules(family, interfaces, roles) if state == "present" else []
    needed = needed_filters(Node(), model(flavour, tables, family, TAG), family, expected)[flavour]
    packets = {rule: Node().packet(rule) for rule in expected}
    return Request(state, list(interfaces), expected, chain_mode, placement, enforce_order, TAG, needed, packets)


def planned(tables, family, interfaces, **kwargs):
    return plan(tables, family, request(tables, family, interfaces, **kwargs))


def verdicts(tables, family, interfaces, roles=BOTH):
    """{(direction, message): verdict} of the probes of ``interfaces`` through ``tables``."""
    chains = model("iptables-nft", tables, family, TAG)
    found = {}
    for rule in expected_rules(family, interfaces, roles):
        judgement = _path.judge(_path.filters(chains, family, rule.direction), Node().packet(rule))
        found[(rule.interface, rule.direction, rule.message)] = judgement.verdict
    return found


def all_accepted(tables, family, interfaces, roles=BOTH):
    return set(verdicts(tables, family, interfaces, roles).values()) == {_path.ACCEPT}


def foreign_lines(tables):
    """Every rule not owned, with its table and chain, in order: what must never change."""
    return [(table.name, chain.name, spec) for table in tables.values() for chain in table.chains.values()
            for spec in chain.rules if not is_owned(chain.name, spec, TAG)]


def foreign_chains(tables):
    return [(table.name, chain.name, chain.policy) for table in tables.values() for chain in table.chains.values()
            if not chain.name.startswith("NLM-")]


def commands(tx):
    """The restore commands of a transaction, without table and chain declarations."""
    text = tx.restore_input() or ""
    return [line for line in text.splitlines() if line[:1] == "-"]


# --- parsing and normalising --------------------------------------------------------------

@pytest.mark.parametrize("backend,family", CASES)
def test_counters_and_timestamps_do_not_count(fixture_text, backend, family):
    plain = saved(fixture_text, backend, family)
    counted = saved(fixture_text, backend, family, counters=True)
    assert "[4:336]" in counted or "[4:416]" in counted
    assert normalise_save(plain) == normalise_save(counted)
    assert "#" not in normalise_save(plain) and "[0:0]" not in normalise_save(plain)


@pytest.mark.parametrize("family", FAMILIES)
def test_both_backends_print_the_same_tables(fixture_text, family):
    nft = parse_save(saved(fixture_text, "nft", family))
    legacy = parse_save(saved(fixture_text, "legacy", family))
    # in another order: legacy prints nat first
    assert list(nft) == ["filter", "nat"] and list(legacy) == ["nat", "filter"]
    for name in ("filter", "nat"):
        assert nft[name].lines() == legacy[name].lines()


@pytest.mark.parametrize("backend,family", CASES)
def test_parse_keeps_tables_chains_policies_and_rule_text(fixture_text, backend, family):
    tables = parse_save(saved(fixture_text, backend, family))
    table = tables["filter"]
    assert list(table.chains) == ["INPUT", "FORWARD", "OUTPUT", "HOST-IN", "NLM-INPUT", "NLM-OUTPUT"]
    assert [table.chains[name].policy for name in ("INPUT", "FORWARD", "OUTPUT", "HOST-IN")] == \
        ["DROP", "DROP", "ACCEPT", "-"]
    assert table.rules("INPUT")[0] == '-p %s -m comment --comment "%s" -j NLM-INPUT' % (PROTO[family], TAG)
    assert '-p udp -m comment --comment "say \\"hi\\"" -m udp --dport 53 -j ACCEPT' in table.rules("INPUT")
    assert table.rules("NO-SUCH-CHAIN") == []
    assert tables["nat"].rules("POSTROUTING") == ["-o eth0 -j MASQUERADE"]
    # lines() gives back what iptables-save printed, counters and comments aside
    assert "\n".join(table.lines()) in normalise_save(saved(fixture_text, backend, family))
    assert not table.is_empty() and not tables["nat"].is_empty()


def test_a_table_with_accepting_policies_and_no_rules_is_empty():
    tables = parse_save("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\nCOMMIT\n"
                        "*raw\n:PREROUTING DROP [0:0]\nCOMMIT\n")
    assert tables["mangle"].is_empty() and not tables["raw"].is_empty()


def test_a_fresh_namespace_saves_nothing_and_nothing_is_planned_there(fixture_text):
    text = fixture_text("iptables/nft-ipv4-empty.save")
    assert text == "" and parse_save(text) == {}
    tx = planned(parse_save(text), "ipv4", ["antrea-gw0"])
    assert tx.restore_input() is None and tx.added == []


@pytest.mark.parametrize("text", ["-A INPUT -j ACCEPT\n", "*filter\n:INPUT\n", "*filter\n-I INPUT -j DROP\n"])
def test_malformed_save_output_is_an_error(text):
    with pytest.raises(NlmError, match="saved ruleset"):
        parse_save(text)


# iptables-nft-save 1.8.9 about tables nft wrote: one it cannot show at all (a rule with
# a fib expression), one with a base chain of its own (a second input chain)
INCOMPATIBLE = """# Table `mangle' is incompatible, use 'nft' tool.
# Table `filter' contains incompatible base-chains, use 'nft' tool to list them.
# Generated by iptables-nft-save v1.8.9 (nf_tables) on Tue Dec  1 13:28:42 2026
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
COMMIT
# Completed on Tue Dec  1 13:28:42 2026
"""


def test_tables_iptables_nft_save_calls_incompatible():
    assert incompatible_tables(INCOMPATIBLE) == ["mangle", "filter"]
    assert list(parse_save(INCOMPATIBLE)) == ["filter"]
    assert incompatible_tables("# Generated by iptables-nft-save v1.8.9\n*filter\nCOMMIT\n") == []


# --- what a rule means ---------------------------------------------------------------------

@pytest.mark.parametrize("spec", [
    '-i gw0 -p icmp -m icmp --icmp-type 8 -m comment --comment "x" -j ACCEPT',
    '-i gw0 -p icmp -m comment --comment "x" -m icmp --icmp-type 8 -j ACCEPT',
    "-i gw0 -p icmp -m icmp --icmp-type 8 -m comment --comment x -j ACCEPT",
])
def test_the_orders_iptables_save_prints_an_ipv4_rule_in_are_one_allow_rule(spec):
    assert fields_of(spec) == fields_of('-i gw0 -p icmp -m icmp --icmp-type 8 -m comment --comment x -j ACCEPT')
    assert fields_of(spec).comment == "x"
    for chain in ("INPUT", "PREROUTING", "NLM-INPUT", "NLM-PREROUTING"):
        assert allow_rule_of(chain, spec, "ipv4") == AllowRule("ipv4", "in", "gw0", "echo-request")


@pytest.mark.parametrize("chain", ["OUTPUT", "POSTROUTING", "NLM-OUTPUT", "NLM-POSTROUTING"])
def test_an_ipv6_reply_rule_in_every_outgoing_chain(chain):
    spec = '-o gw0 -p ipv6-icmp -m comment --comment "x" -m icmp6 --icmpv6-type 129 -j ACCEPT'
    assert allow_rule_of(chain, spec, "ipv6") == AllowRule("ipv6", "out", "gw0", "echo-reply")


@pytest.mark.parametrize("chain,spec", [
    ("INPUT", "-i gw0 -p icmp -m icmp --icmp-type 8 -j DROP"),            # not an ACCEPT
    ("INPUT", "! -i gw0 -p icmp -m icmp --icmp-type 8 -j ACCEPT"),        # negated interface
    ("INPUT", "-s 198.18.0.1/32 -i gw0 -p icmp -m icmp --icmp-type 8 -j ACCEPT"),  # narrower
    ("INPUT", "-p icmp -m icmp --icmp-type 8 -j ACCEPT"),                 # every interface
    ("INPUT", "-o gw0 -p icmp -m icmp --icmp-type 8 -j ACCEPT"),          # wrong side
    ("INPUT", "-i gw0 -p icmp -m icmp --icmp-type 3 -j ACCEPT"),          # not echo
    ("INPUT", "-i gw0 -p icmp -m icmp ! --icmp-type 8 -j ACCEPT"),
    ("INPUT", "-i gw0 -p icmp -j ACCEPT"),                                # every ICMP type
    ("INPUT", "-i gw0 -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT"),  # other family
    ("INPUT", "-i gw0 -p icmp -m icmp --icmp-type 8 -m limit --limit 1/sec -j ACCEPT"),
    ("INPUT", "-i gw0 -p icmp -m icmp --icmp-type 8 -g HOST-IN"),
    ("FORWARD", "-i gw0 -p icmp -m icmp --icmp-type 8 -j ACCEPT"),        # not on the path
    ("HOST-IN", "-i gw0 -p icmp -m icmp --icmp-type 8 -j ACCEPT"),
])
def test_rules_that_are_not_exactly_an_allow_rule(chain, spec):
    assert allow_rule_of(chain, spec, "ipv4") is None


@pytest.mark.parametrize("chain,spec,owned", [
    ("NLM-INPUT", "-j DROP", True),                  # everything in an owned chain
    ("NLM-POSTROUTING", "-o gw0 -j ACCEPT", True),
    ("INPUT", "-p icmp -j NLM-INPUT", True),         # every jump into one
    ("HOST-IN", "-j NLM-OUTPUT", True),
    ("PREROUTING", '-i gw0 -p icmp -m comment --comment "%s" -j ACCEPT' % TAG, True),
    ("INPUT", '-i gw0 -p icmp -m comment --comment "%s" -j ACCEPT' % TAG, True),
    # a tagged rule outside the built-in chains on the path is someone else's copy
    ("FORWARD", '-i gw0 -p icmp -m comment --comment "%s" -j ACCEPT' % TAG, False),
    ("HOST-IN", '-i gw0 -p icmp -m comment --comment "%s" -j ACCEPT' % TAG, False),
    # look-alikes
    ("INPUT", "-i gw0 -p icmp -m icmp --icmp-type 8 -j ACCEPT", False),
    ("INPUT", '-i gw0 -p icmp -m comment --comment "%s-old" -j ACCEPT' % TAG, False),
    ("INPUT", '-i gw0 -p icmp -m comment --comment "not %s" -j ACCEPT' % TAG, False),
    ("INPUT", "-p icmp -j NLM-INPUT-LEGACY", False),
    ("NLM-INPUT-LEGACY", "-j ACCEPT", False),
])
def test_ownership(chain, spec, owned):
    assert is_owned(chain, spec, TAG) is owned


# --- rendering --------------------------------------------------------------------------------

@pytest.mark.parametrize("backend,family", CASES)
def test_rendered_rules_and_jumps_are_what_iptables_save_prints(fixture_text, backend, family):
    """The fixtures' first NLM-INPUT/NLM-OUTPUT rules and jumps were written by the
    capture script with iptables; rendering the same rules must give the same text."""
    table = parse_save(saved(fixture_text, backend, family))["filter"]
    assert render_rule(AllowRule(family, "in", "antrea-gw0", "echo-request"), TAG) == table.rules("NLM-INPUT")[0]
    assert render_rule(AllowRule(family, "out", "antrea-gw0", "echo-request"), TAG) == table.rules("NLM-OUTPUT")[0]
    assert render_jump(family, "INPUT", TAG) == table.rules("INPUT")[0]
    assert render_jump(family, "OUTPUT", TAG) == table.rules("OUTPUT")[0]


def test_rendered_texts():
    assert render_rule(AllowRule("ipv6", "out", "antrea-gw0", "echo-reply"), "tag with space") == (
        '-o antrea-gw0 -p ipv6-icmp -m icmp6 --icmpv6-type 129 -m comment --comment "tag with space" -j ACCEPT')
    assert render_jump("ipv4", "PREROUTING", TAG) == '-p icmp -m comment --comment "%s" -j NLM-PREROUTING' % TAG
    assert render_jump("ipv6", "POSTROUTING", TAG) == (
        '-p ipv6-icmp -m comment --comment "%s" -j NLM-POSTROUTING' % TAG)


# --- ownership of a saved ruleset ------------------------------------------------------------------

@pytest.mark.parametrize("backend,family", CASES)
def test_owned_lines_are_the_nlm_chains_their_jumps_and_tagged_rules(fixture_text, backend, family):
    tables = parse_save(saved(fixture_text, backend, family))
    request_type, reply_type = TYPES[family]
    proto, match = PROTO[family], MATCH[family]
    tag = '-m comment --comment "%s"' % TAG
    assert owned_lines(tables, TAG) == [
        ":NLM-INPUT -",
        ":NLM-OUTPUT -",
        "-A INPUT -p %s %s -j NLM-INPUT" % (proto, tag),
        "-A INPUT -i eth1 -p %s %s %d %s -j ACCEPT" % (proto, match, request_type, tag),
        "-A OUTPUT -p %s %s -j NLM-OUTPUT" % (proto, tag),
        "-A NLM-INPUT -i antrea-gw0 -p %s %s %d %s -j ACCEPT" % (proto, match, request_type, tag),
        "-A NLM-INPUT -i antrea-gw0 -p %s %s %d %s -j ACCEPT" % (proto, match, reply_type, tag),
        "-A NLM-INPUT -i antrea-gw0 -p %s %s %d %s -j ACCEPT" % (proto, match, reply_type, tag),
        "-A NLM-OUTPUT -o antrea-gw0 -p %s %s %d %s -j ACCEPT" % (proto, match, request_type, tag),
        "-A NLM-OUTPUT -o antrea-gw0 -p %s %s %s %s %d -j ACCEPT" % (proto, tag, match.split(" --")[0],
                                                                     "--" + match.split(" --")[1], reply_type),
    ]


@pytest.mark.parametrize("backend,family", CASES)
def test_owned_copies_are_found_where_they_serve_a_chain(fixture_text, backend, family):
    tables = parse_save(saved(fixture_text, backend, family))
    request_rule = AllowRule(family, "in", "antrea-gw0", "echo-request")
    assert owned_copies(tables, family, "filter", "INPUT", request_rule, TAG) == [("NLM-INPUT", 1)]
    assert owned_copies(tables, family, "filter", "INPUT", request_rule._replace(message="echo-reply"), TAG) == [
        ("NLM-INPUT", 2), ("NLM-INPUT", 3)]
    assert owned_copies(tables, family, "filter", "INPUT", request_rule._replace(interface="eth1"), TAG) == [
        ("INPUT", 2)]
    assert owned_copies(tables, family, "filter", "OUTPUT", request_rule, TAG) == []
    assert owned_copies(tables, family, "raw", "PREROUTING", request_rule, TAG) == []


def test_the_model_holds_the_tables_that_filter_with_their_owned_rules(fixture_text):
    tables = model("iptables-legacy", parse_save(saved(fixture_text, "legacy", "ipv6")), "ipv6", TAG)
    assert [(table.flavour, table.label) for table in tables] == [("iptables-legacy", "ip6 filter")]
    (table,) = tables
    assert [chain.name for chain in table.base_chains()] == ["INPUT", "OUTPUT"]
    assert [rule.owned for rule in table.chains["INPUT"].rules] == [True, True] + [False] * 8
    assert all(rule.owned for rule in table.chains["NLM-INPUT"].rules)


# --- planning on the fixtures -------------------------------------------------------------------

@pytest.mark.parametrize("backend,family", CASES)
def test_present_keeps_one_copy_where_a_filter_needs_it_and_removes_the_rest(fixture_text, backend, family):
    """INPUT drops echo requests (REJECT) but accepts replies (conntrack: established);
    OUTPUT accepts everything by policy. So NLM-INPUT keeps its request rule, its two
    reply rules go, and NLM-OUTPUT goes with its jump."""
    tables = parse_save(saved(fixture_text, backend, family))
    assert verdicts(tables, family, ["antrea-gw0"]) == {
        ("antrea-gw0", "in", "echo-request"): _path.ACCEPT, ("antrea-gw0", "in", "echo-reply"): _path.ACCEPT,
        ("antrea-gw0", "out", "echo-request"): _path.ACCEPT, ("antrea-gw0", "out", "echo-reply"): _path.ACCEPT}
    wanted = request(tables, family, ["antrea-gw0"])
    assert wanted.needed == {("%s filter" % _path.TABLE_FAMILY_OF[family], "INPUT",
                              AllowRule(family, "in", "antrea-gw0", "echo-request"))}
    tx = plan(tables, family, wanted)
    rules = {(rule.direction, rule.message): render_rule(rule, TAG)
             for rule in expected_rules(family, ["antrea-gw0"], BOTH)}
    assert tx.restore_input() == "\n".join([
        "*filter",
        "-D NLM-INPUT " + rules[("in", "echo-reply")],
        "-D NLM-INPUT " + rules[("in", "echo-reply")],
        "-D NLM-OUTPUT " + rules[("out", "echo-request")],
        "-D NLM-OUTPUT " + tables["filter"].rules("NLM-OUTPUT")[1],
        "-D OUTPUT " + render_jump(family, "OUTPUT", TAG),
        "-X NLM-OUTPUT",
        "COMMIT"]) + "\n"
    assert tx.table["filter"].rules("NLM-INPUT") == [rules[("in", "echo-request")]]
    assert tx.added == []
    assert foreign_lines(tx.table) == foreign_lines(tables)
    assert foreign_chains(tx.table) == foreign_chains(tables)
    # the other interface's direct rule stays, and nothing owned is needed anywhere else
    assert "-A INPUT -i eth1 -p %s %s %d -m comment --comment \"%s\" -j ACCEPT" % (
        PROTO[family], MATCH[family], TYPES[family][0], TAG) in owned_lines(tx.table, TAG)
    assert all_accepted(tx.table, family, ["antrea-gw0"])
    assert plan(tx.table, family, request(tx.table, family, ["antrea-gw0"])).restore_input() is None


@pytest.mark.parametrize("backend,family", CASES)
def test_without_the_owned_rules_the_requests_are_rejected(fixture_text, backend, family):
    tables = parse_save(saved(fixture_text, backend, family))
    absent = plan(tables, family, request(tables, family, ["antrea-gw0"], state="absent"))
    assert verdicts(absent.table, family, ["antrea-gw0"], ["responder"]) == {
        ("antrea-gw0", "in", "echo-request"): _path.DROP, ("antrea-gw0", "out", "echo-reply"): _path.ACCEPT}


@pytest.mark.parametrize("backend,family", CASES)
def test_absent_removes_chains_and_jumps_but_keeps_other_interfaces(fixture_text, backend, family):
    tables = parse_save(saved(fixture_text, backend, family))
    tx = plan(tables, family, request(tables, family, ["antrea-gw0"], state="absent"))
    assert "NLM-INPUT" not in tx.table["filter"].chains and "NLM-OUTPUT" not in tx.table["filter"].chains
    lines = commands(tx)
    assert [line for line in lines if line.startswith("-X")] == ["-X NLM-INPUT", "-X NLM-OUTPUT"]
    assert len([line for line in lines if line.startswith("-D NLM-")]) == 5
    assert owned_lines(tx.table, TAG) == [
        '-A INPUT -i eth1 -p %s %s %d -m comment --comment "%s" -j ACCEPT' % (
            PROTO[family], MATCH[family], TYPES[family][0], TAG)]
    assert foreign_lines(tx.table) == foreign_lines(tables)
    assert foreign_chains(tx.table) == foreign_chains(tables)
    # jumps go before the chains they point to
    assert lines.index("-X NLM-INPUT") > max(
        index for index, line in enumerate(lines) if line.endswith("-j NLM-INPUT"))
    assert plan(tx.table, family, request(tx.table, family, ["antrea-gw0"], state="absent")).restore_input() is None
    everything = plan(tx.table, family, request(tx.table, family, ["eth1"], state="absent"))
    assert owned_lines(everything.table, TAG) == []


@pytest.mark.parametrize("backend,family", CASES)
def test_switching_to_direct_mode_moves_the_needed_rule_and_drops_the_chains(fixture_text, backend, family):
    tables = parse_save(saved(fixture_text, backend, family))
    tx = plan(tables, family, request(tables, family, ["antrea-gw0"], chain_mode="direct"))
    assert tx.table["filter"].rules("INPUT")[0] == render_rule(AllowRule(family, "in", "antrea-gw0",
                                                                         "echo-request"), TAG)
    assert "NLM-INPUT" not in tx.table["filter"].chains and "NLM-OUTPUT" not in tx.table["filter"].chains
    assert [line for line in owned_lines(tx.table, TAG) if "antrea-gw0" in line] == [
        "-A INPUT " + render_rule(AllowRule(family, "in", "antrea-gw0", "echo-request"), TAG)]
    assert foreign_lines(tx.table) == foreign_lines(tables)
    assert all_accepted(tx.table, family, ["antrea-gw0"])
    again = plan(tx.table, family, request(tx.table, family, ["antrea-gw0"], chain_mode="direct"))
    assert again.restore_input() is None


# --- planning on small rulesets -------------------------------------------------------------------

HARDENED = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\nCOMMIT\n"


@pytest.mark.parametrize("family", FAMILIES)
def test_present_on_a_dropping_table_creates_chains_and_jumps(family):
    tables = parse_save(HARDENED)
    tx = planned(tables, family, ["antrea-gw0"])
    rules = [render_rule(rule, TAG) for rule in expected_rules(family, ["antrea-gw0"], BOTH)]
    assert tx.restore_input() == "\n".join(
        ["*filter", ":NLM-INPUT - [0:0]", ":NLM-OUTPUT - [0:0]"]
        + ["-A NLM-INPUT " + rule for rule in rules[:2]] + ["-I INPUT 1 " + render_jump(family, "INPUT", TAG)]
        + ["-A NLM-OUTPUT " + rule for rule in rules[2:]] + ["-I OUTPUT 1 " + render_jump(family, "OUTPUT", TAG)]
        + ["COMMIT"]) + "\n"
    assert tx.added == ([":NLM-INPUT -"] + ["-A NLM-INPUT " + rule for rule in rules[:2]]
                        + ["-A INPUT " + render_jump(family, "INPUT", TAG), ":NLM-OUTPUT -"]
                        + ["-A NLM-OUTPUT " + rule for rule in rules[2:]]
                        + ["-A OUTPUT " + render_jump(family, "OUTPUT", TAG)])
    assert tx.removed == []
    assert verdicts(tables, family, ["antrea-gw0"]) == dict.fromkeys(verdicts(tables, family, ["antrea-gw0"]),
                                                                     _path.DROP)
    assert all_accepted(tx.table, family, ["antrea-gw0"])
    assert planned(tx.table, family, ["antrea-gw0"]).restore_input() is None


def test_a_filter_that_may_drop_needs_a_rule_too():
    tables = parse_save("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                        "-A INPUT -p icmp -m limit --limit 5/sec -j DROP\nCOMMIT\n")
    assert set(verdicts(tables, "ipv4", ["gw0"], ["responder"]).values()) == {_path.UNKNOWN, _path.ACCEPT}
    tx = planned(tables, "ipv4", ["gw0"], roles=("responder",), chain_mode="direct")
    assert commands(tx) == ["-I INPUT 1 " + render_rule(AllowRule("ipv4", "in", "gw0", "echo-request"), TAG)]
    assert all_accepted(tx.table, "ipv4", ["gw0"], ["responder"])


def test_only_the_filters_that_drop_get_rules():
    tables = parse_save("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                        "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n")
    tx = planned(tables, "ipv4", ["gw0"])
    assert "NLM-OUTPUT" not in tx.table["filter"].chains
    assert tx.table["filter"].rules("NLM-INPUT") == [render_rule(AllowRule("ipv4", "in", "gw0", "echo-request"),
                                                                 TAG)]
    assert all_accepted(tx.table, "ipv4", ["gw0"])


@pytest.mark.parametrize("chain_mode", ["dedicated", "direct"])
def test_an_interface_named_twice_is_idempotent(chain_mode):
    tables = parse_save(HARDENED)
    tx = planned(tables, "ipv4", ["gw0", "gw0"], chain_mode=chain_mode)
    assert len([line for line in tx.added if line.endswith(" -j ACCEPT")]) == 4
    assert planned(tx.table, "ipv4", ["gw0", "gw0"], chain_mode=chain_mode).restore_input() is None


@pytest.mark.parametrize("lost", range(4))
def test_a_rule_deleted_by_hand_goes_back_where_it_was_in_its_chain(lost):
    whole = planned(parse_save(HARDENED), "ipv4", ["gw0", "eth1"]).table
    chain = "NLM-INPUT" if lost < 2 else "NLM-OUTPUT"
    kept = planned(parse_save(HARDENED), "ipv4", ["gw0", "eth1"]).table
    gone = [spec for spec in kept["filter"].rules(chain)
            if allow_rule_of(chain, spec, "ipv4") == expected_rules("ipv4", ["gw0"], BOTH)[lost]]
    kept["filter"].chains[chain].rules.remove(gone[0])
    tx = planned(kept, "ipv4", ["gw0"])
    assert len(tx.added) == 1 and tx.removed == []
    assert tx.table["filter"].rules(chain) == whole["filter"].rules(chain)


def test_responder_only_removes_the_prober_rules_of_the_interface():
    both = planned(parse_save(HARDENED), "ipv4", ["gw0"]).table
    tx = planned(both, "ipv4", ["gw0"], roles=("responder",))
    assert [allow_rule_of(chain, spec, "ipv4").message
            for chain in ("NLM-INPUT", "NLM-OUTPUT") for spec in tx.table["filter"].rules(chain)] == \
        ["echo-request", "echo-reply"]
    assert len(tx.removed) == 2 and tx.added == []


def test_other_interfaces_owned_rules_stay():
    both = planned(parse_save(HARDENED), "ipv4", ["gw0", "eth1"]).table
    tx = planned(both, "ipv4", ["gw0"], state="absent")
    assert [allow_rule_of(chain, spec, "ipv4") for chain in ("NLM-INPUT", "NLM-OUTPUT")
            for spec in tx.table["filter"].rules(chain)] == expected_rules("ipv4", ["eth1"], BOTH)
    assert len(tx.removed) == 4 and tx.added == []
    assert all_accepted(tx.table, "ipv4", ["eth1"])
    assert set(verdicts(tx.table, "ipv4", ["gw0"]).values()) == {_path.DROP}


REJECT_TAIL = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -j ACCEPT
-A INPUT -j REJECT --reject-with icmp-host-prohibited
-A OUTPUT -o lo -j ACCEPT
-A OUTPUT -j REJECT --reject-with icmp-host-prohibited
COMMIT
"""
REJECT = "-j REJECT --reject-with icmp-host-prohibited"


def test_append_goes_just_before_the_first_rule_that_may_drop_in_dedicated_mode():
    tx = planned(parse_save(REJECT_TAIL), "ipv4", ["gw0"], placement="append")
    assert tx.table["filter"].rules("INPUT") == ["-i lo -j ACCEPT", "-p tcp -j ACCEPT",
                                                 render_jump("ipv4", "INPUT", TAG), REJECT]
    assert tx.table["filter"].rules("OUTPUT") == ["-o lo -j ACCEPT", render_jump("ipv4", "OUTPUT", TAG), REJECT]
    assert "-I INPUT 3 " + render_jump("ipv4", "INPUT", TAG) in commands(tx)
    assert all_accepted(tx.table, "ipv4", ["gw0"])


def test_append_goes_just_before_the_first_rule_that_may_drop_in_direct_mode_in_order():
    tx = planned(parse_save(REJECT_TAIL), "ipv4", ["gw0"], placement="append", chain_mode="direct")
    rules = [render_rule(rule, TAG) for rule in expected_rules("ipv4", ["gw0"], BOTH)]
    assert tx.table["filter"].rules("INPUT") == ["-i lo -j ACCEPT", "-p tcp -j ACCEPT"] + rules[:2] + [REJECT]
    assert tx.table["filter"].rules("OUTPUT") == ["-o lo -j ACCEPT"] + rules[2:] + [REJECT]
    assert commands(tx) == ["-I INPUT 3 " + rules[0], "-I INPUT 4 " + rules[1],
                            "-I OUTPUT 2 " + rules[2], "-I OUTPUT 3 " + rules[3]]
    assert all_accepted(tx.table, "ipv4", ["gw0"])


def test_append_goes_to_the_end_when_nothing_may_drop_and_only_the_policy_does():
    tables = parse_save("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                        "-A INPUT -i lo -j ACCEPT\nCOMMIT\n")
    tx = planned(tables, "ipv4", ["gw0"], placement="append", chain_mode="direct", roles=("responder",))
    assert commands(tx) == ["-A INPUT " + render_rule(AllowRule("ipv4", "in", "gw0", "echo-request"), TAG)]


def shadowed(chain_mode):
    """REJECT_TAIL with the owned rules added behind the REJECTs, as an append that
    only looks at the end of the chain leaves them."""
    text = REJECT_TAIL.replace("COMMIT\n", "")
    rules = expected_rules("ipv4", ["gw0"], BOTH)
    if chain_mode == "direct":
        lines = ["-A %s %s" % ("INPUT" if rule.direction == "in" else "OUTPUT", render_rule(rule, TAG))
                 for rule in rules]
    else:
        text = text.replace(":OUTPUT ACCEPT [0:0]\n",
                            ":OUTPUT ACCEPT [0:0]\n:NLM-INPUT - [0:0]\n:NLM-OUTPUT - [0:0]\n")
        lines = ["-A INPUT " + render_jump("ipv4", "INPUT", TAG), "-A OUTPUT " + render_jump("ipv4", "OUTPUT", TAG)]
        lines += ["-A %s %s" % ("NLM-INPUT" if rule.direction == "in" else "NLM-OUTPUT", render_rule(rule, TAG))
                  for rule in rules]
    return parse_save(text + "\n".join(lines) + "\nCOMMIT\n")


@pytest.mark.parametrize("chain_mode", ["dedicated", "direct"])
@pytest.mark.parametrize("placement", ["insert", "append"])
def test_enforce_order_moves_owned_rules_a_reject_shadows(chain_mode, placement):
    tables = shadowed(chain_mode)
    assert set(verdicts(tables, "ipv4", ["gw0"]).values()) == {_path.DROP}
    # presence is enough by default
    assert planned(tables, "ipv4", ["gw0"], chain_mode=chain_mode, placement=placement).restore_input() is None
    ordered = planned(tables, "ipv4", ["gw0"], chain_mode=chain_mode, placement=placement, enforce_order=True)
    kinds = [line.split()[0] for line in commands(ordered)]
    assert kinds == (["-D", "-I"] * 2 if chain_mode == "dedicated" else ["-D", "-D", "-I", "-I"] * 2)
    # a move: what goes out comes back in
    assert sorted(ordered.added) == sorted(ordered.removed) and ordered.added
    assert foreign_lines(ordered.table) == foreign_lines(tables)
    assert all_accepted(ordered.table, "ipv4", ["gw0"])
    first = ordered.table["filter"].rules("INPUT")[0 if placement == "insert" else 2]
    assert first == (render_jump("ipv4", "INPUT", TAG) if chain_mode == "dedicated"
                     else render_rule(AllowRule("ipv4", "in", "gw0", "echo-request"), TAG))
    again = planned(ordered.table, "ipv4", ["gw0"], chain_mode=chain_mode, placement=placement,
                    enforce_order=True)
    assert again.restore_input() is None


# --- several tables --------------------------------------------------------------------------------

SEVERAL_TABLES = """*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p icmp -m icmp --icmp-type 8 -j DROP
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o gw0 -p icmp -m icmp --icmp-type 0 -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o eth0 -j MASQUERADE
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
"""


def test_each_table_that_drops_gets_its_own_rules():
    """An accept ends one base chain only: raw's PREROUTING drops requests, mangle's
    POSTROUTING replies, filter's INPUT everything coming in; each needs its own rule."""
    tables = parse_save(SEVERAL_TABLES)
    tx = planned(tables, "ipv4", ["gw0"])
    request_rule, reply_rule, out_request, out_reply = (
        render_rule(rule, TAG) for rule in expected_rules("ipv4", ["gw0"], BOTH))
    assert tx.restore_input() == "\n".join([
        "*raw", ":NLM-PREROUTING - [0:0]",
        "-A NLM-PREROUTING " + request_rule,
        "-I PREROUTING 1 " + render_jump("ipv4", "PREROUTING", TAG),
        "COMMIT",
        "*mangle", ":NLM-POSTROUTING - [0:0]",
        "-A NLM-POSTROUTING " + out_reply,
        "-I POSTROUTING 1 " + render_jump("ipv4", "POSTROUTING", TAG),
        "COMMIT",
        "*filter", ":NLM-INPUT - [0:0]",
        "-A NLM-INPUT " + request_rule,
        "-A NLM-INPUT " + reply_rule,
        "-I INPUT 1 " + render_jump("ipv4", "INPUT", TAG),
        "COMMIT"]) + "\n"
    assert owned_lines(tx.table, TAG) == [
        "-t raw :NLM-PREROUTING -",
        "-t raw -A PREROUTING " + render_jump("ipv4", "PREROUTING", TAG),
        "-t raw -A NLM-PREROUTING " + request_rule,
        "-t mangle :NLM-POSTROUTING -",
        "-t mangle -A POSTROUTING " + render_jump("ipv4", "POSTROUTING", TAG),
        "-t mangle -A NLM-POSTROUTING " + out_reply,
        ":NLM-INPUT -",
        "-A INPUT " + render_jump("ipv4", "INPUT", TAG),
        "-A NLM-INPUT " + request_rule,
        "-A NLM-INPUT " + reply_rule,
    ]
    assert tx.added[0] == "-t raw :NLM-PREROUTING -"
    assert foreign_lines(tx.table) == foreign_lines(tables)
    assert all_accepted(tx.table, "ipv4", ["gw0"])
    assert planned(tx.table, "ipv4", ["gw0"]).restore_input() is None
    gone = planned(tx.table, "ipv4", ["gw0"], state="absent")
    assert owned_lines(gone.table, TAG) == [] and normalise_save(
        "\n".join(line for table in gone.table.values() for line in table.lines()) + "\n") == normalise_save(
        SEVERAL_TABLES)


def test_direct_rules_in_another_table():
    tx = planned(parse_save(SEVERAL_TABLES), "ipv4", ["gw0"], chain_mode="direct", roles=("responder",))
    assert "-t raw -A PREROUTING " + render_rule(AllowRule("ipv4", "in", "gw0", "echo-request"), TAG) in tx.added
    assert "-t mangle -A POSTROUTING " + render_rule(AllowRule("ipv4", "out", "gw0", "echo-reply"), TAG) in tx.added
    assert all_accepted(tx.table, "ipv4", ["gw0"], ["responder"])


# --- many foreign rules -------------------------------------------------------------------------------

def busy(rules_before, rules_after=()):
    """An IPv4 filter table with 1,000 address and port rules per built-in chain (half of
    them with a comment), ``rules_before``/``rules_after`` around the INPUT ones."""
    lines = ["*filter", ":INPUT DROP [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    lines.extend("-A INPUT %s" % spec for spec in rules_before)
    for number in range(1000):
        lines.append("-A INPUT -s 198.18.%d.%d/32 -p tcp -m tcp --dport %d -j ACCEPT"
                     % (number // 250, 1 + number % 250, 1024 + number))
        lines.append('-A OUTPUT -d 198.18.%d.%d/32 -p udp -m udp --dport %d -m comment --comment "bench %d" -j DROP'
                     % (number // 250, 1 + number % 250, 1024 + number, number))
    lines.extend("-A INPUT %s" % spec for spec in rules_after)
    return parse_save("\n".join(lines + ["COMMIT"]) + "\n")


LOOK_ALIKES = [
    # ours but for the tag: another tool's, or the tag with a suffix
    "-i gw0 -p icmp -m icmp --icmp-type 8 -j ACCEPT",
    '-i gw0 -p icmp -m icmp --icmp-type 8 -m comment --comment "%s-old" -j ACCEPT' % TAG,
    '-i gw0 -p icmp -m icmp --icmp-type 0 -m comment --comment "not %s" -j ACCEPT' % TAG,
    # a jump into a chain whose name starts like ours
    "-p icmp -j NLM-INPUT-LEGACY",
]


def with_legacy_chain(tables):
    tables["filter"].chains["NLM-INPUT-LEGACY"] = Chain("NLM-INPUT-LEGACY", "-")
    return tables


@pytest.mark.parametrize("chain_mode", ["dedicated", "direct"])
def test_foreign_look_alikes_among_many_foreign_rules_are_never_touched(chain_mode):
    tables = with_legacy_chain(busy(LOOK_ALIKES))
    # the look-alikes accept gw0's echo already: nothing is needed for it
    assert planned(tables, "ipv4", ["gw0"], chain_mode=chain_mode).restore_input() is None
    tx = planned(tables, "ipv4", ["gw1"], chain_mode=chain_mode)
    assert all(not line.startswith("-D") for line in commands(tx))
    assert foreign_lines(tx.table) == foreign_lines(tables)
    bare = planned(with_legacy_chain(busy([])), "ipv4", ["gw1"], chain_mode=chain_mode)
    assert owned_lines(tx.table, TAG) == owned_lines(bare.table, TAG) != []
    assert all_accepted(tx.table, "ipv4", ["gw1"])
    assert planned(tx.table, "ipv4", ["gw1"], chain_mode=chain_mode).restore_input() is None


SHADOWING_DROPS = [
    "-i gw0 -p icmp -m icmp --icmp-type 8 -j DROP",
    # a comment whose text looks like an address match does not hide the drop
    '-p icmp -m comment --comment "drop -s everything" -j DROP',
]


@pytest.mark.parametrize("drop", SHADOWING_DROPS)
def test_a_foreign_drop_among_many_foreign_rules_is_seen_and_appended_rules_go_before_it(drop):
    tables = busy([], [drop])
    rule = AllowRule("ipv4", "in", "gw0", "echo-request")
    judgement = _path.judge(_path.filters(model("iptables-nft", tables, "ipv4", TAG), "ipv4", "in"),
                            Node().packet(rule))
    assert judgement.verdict == _path.DROP and _path.describe_witness(judgement.witness)["position"] == 1001
    appended = planned(tables, "ipv4", ["gw0"], chain_mode="direct", placement="append", roles=("responder",))
    assert commands(appended) == ["-I INPUT 1001 " + render_rule(rule, TAG)]
    assert owned_copies(appended.table, "ipv4", "filter", "INPUT", rule, TAG) == [("INPUT", 1001)]
    assert all_accepted(appended.table, "ipv4", ["gw0"], ["responder"])
    # behind the drop, as a plain append leaves it, enforce_order moves it in front
    behind = busy([], [drop, render_rule(rule, TAG)])
    ordered = planned(behind, "ipv4", ["gw0"], chain_mode="direct", placement="append", enforce_order=True,
                      roles=("responder",))
    assert commands(ordered) == ["-D INPUT " + render_rule(rule, TAG), "-I INPUT 1001 " + render_rule(rule, TAG)]


# --- the flavours -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text,variant", [
    ("iptables v1.8.9 (nf_tables)\n", "iptables-nft"),
    ("iptables v1.8.9 (legacy)\n", "iptables-legacy"),
    ("ip6tables v1.8.7 (legacy)\n", "iptables-legacy"),
    ("iptables v1.6.1\n", "iptables-legacy"),
    ("something else\n", None),
])
def test_variant_from_version_output(text, variant):
    assert variant_of_version(text) == variant


class FakeModule(object):
    """get_bin_path and run_command of an AnsibleModule, for a backend alone."""

    def __init__(self, outputs, missing=()):
        self.outputs = outputs
        self.missing = set(missing)
        self.argvs = []

    def get_bin_path(self, name):
        return None if name in self.missing else "/usr/sbin/" + name

    def run_command(self, argv, data=None, binary_data=False):
        self.argvs.append(list(argv))
        return self.outputs[argv[0].rsplit("/", 1)[-1]]


LEGACY_WARNING = "# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\n"


def test_the_nft_flavour_leaves_the_tables_its_save_calls_incompatible_to_nft(fixture_text):
    module = FakeModule({"iptables-nft-save": (0, INCOMPATIBLE, LEGACY_WARNING)})
    backend = IptablesNftBackend(module)
    assert backend.installed("ipv4") and backend.prefetch(["ipv4"]) == [["/usr/sbin/iptables-nft-save"]]
    # both tables are nft's to read: one written by nft, one with base chains nft added
    assert list(backend.read("ipv4")) == []
    assert module.argvs == [["/usr/sbin/iptables-nft-save"]]


def test_legacy_tables_that_iptables_nft_save_sees_but_the_kernel_does_not_list_stop_the_run(tmp_path, monkeypatch):
    """Another namespace's view, or no root: the legacy tables cannot be read, and a
    plan without them could be wrong."""
    names = tmp_path / "ip_tables_names"
    names.write_text("")
    monkeypatch.setattr(IptablesLegacyBackend, "names_files", {"ipv4": str(names), "ipv6": str(names)})
    module = FakeModule({"iptables-nft-save": (0, INCOMPATIBLE, LEGACY_WARNING),
                         "ip6tables-nft-save": (0, INCOMPATIBLE, "")})
    backend = IptablesLegacyBackend(module)
    with pytest.raises(NlmError) as raised:
        backend.read("ipv4")
    assert raised.value.message.startswith("iptables-nft-save warns that iptables-legacy tables are present, but %s "
                                           "lists none" % names)
    # no warning: nothing of the legacy flavour to read
    assert backend.read("ipv6") == OrderedDict()
    assert ["/usr/sbin/iptables-legacy-save"] not in module.argvs


def test_the_legacy_flavour_reads_only_tables_the_kernel_lists(tmp_path, monkeypatch):
    names = {"ipv4": tmp_path / "ip_tables_names", "ipv6": tmp_path / "ip6_tables_names"}
    names["ipv4"].write_text("filter\nraw\n")
    names["ipv6"].write_text("")
    monkeypatch.setattr(IptablesLegacyBackend, "names_files", {family: str(path) for family, path in names.items()})
    module = FakeModule({"iptables-legacy-save": (0, HARDENED, ""), "ip6tables-nft-save": (0, "", "")})
    backend = IptablesLegacyBackend(module)
    assert backend.prefetch(["ipv4", "ipv6"]) == [["/usr/sbin/iptables-legacy-save"]]
    assert list(backend.read("ipv4")) == ["filter"]
    assert backend.read("ipv6") == OrderedDict()
    # the ipv6 save of iptables-nft asked whether it sees legacy tables: it does not
    assert module.argvs == [["/usr/sbin/iptables-legacy-save"], ["/usr/sbin/ip6tables-nft-save"]]
    assert backend.prefetch(["ipv6"]) == []
    missing = IptablesLegacyBackend(FakeModule({}, missing=["iptables-legacy-save"]))
    with pytest.raises(NlmError) as raised:
        missing.read("ipv4")
    assert raised.value.message.startswith("iptables-legacy-save not found: install the iptables package")
    assert "the kernel holds iptables-legacy tables (filter, raw) in this network namespace" in raised.value.message
