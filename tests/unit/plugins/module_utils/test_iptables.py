"""Parsing, normalising, rendering, planning and judging on real iptables-save output.

The fixtures in tests/unit/fixtures/iptables come from iptables 1.8.9, nft and legacy
backends, IPv4 and IPv6 (capture.sh regenerates them). They hold a hardened ruleset
plus owned rules in the NLM chains (one duplicated), a direct owned rule for eth1 and
a foreign look-alike without the tag.
"""

from __future__ import annotations

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import AllowRule, expected_rules
from ansible_collections.nodelatency.monitor.plugins.module_utils._iptables import (
    Chain,
    Request,
    allow_rule_of,
    catches,
    filter_table,
    has_foreign_match,
    inspect,
    is_owned,
    normalise_save,
    owned_lines,
    parse_save,
    plan,
    render_jump,
    render_rule,
    rule_fields,
    variant_of_version,
)

TAG = "nodelatency.monitor"
BACKENDS = ("nft", "legacy")
FAMILIES = ("ipv4", "ipv6")
CASES = [(backend, family) for backend in BACKENDS for family in FAMILIES]
PROTO = {"ipv4": "icmp", "ipv6": "ipv6-icmp"}
MATCH = {"ipv4": "-m icmp --icmp-type", "ipv6": "-m icmp6 --icmpv6-type"}
TYPES = {"ipv4": (8, 0), "ipv6": (128, 129)}


def saved(fixture_text, backend, family, counters=False):
    return fixture_text("iptables/%s-%s%s.save" % (backend, family, "-counters" if counters else ""))


def request(family, interfaces, state="present", chain_mode="dedicated", placement="insert",
            enforce_order=False, roles=("responder", "prober")):
    expected = expected_rules(family, interfaces, roles) if state == "present" else []
    return Request(state, list(interfaces), expected, chain_mode, placement, enforce_order, TAG)


def foreign_lines(table):
    """Every rule not owned, with its chain, in order: what must never change."""
    return [(chain.name, spec) for chain in table.chains.values() for spec in chain.rules
            if not is_owned(chain.name, spec, TAG)]


def foreign_chains(table):
    return [(chain.name, chain.policy) for chain in table.chains.values()
            if chain.name not in ("NLM-INPUT", "NLM-OUTPUT")]


# --- parsing and normalising --------------------------------------------------------------

@pytest.mark.parametrize("backend,family", CASES)
def test_counters_and_timestamps_do_not_count(fixture_text, backend, family):
    plain = saved(fixture_text, backend, family)
    counted = saved(fixture_text, backend, family, counters=True)
    assert "[4:336]" in counted or "[2:" in counted or "[1:" in counted
    assert normalise_save(plain) == normalise_save(counted)
    assert "#" not in normalise_save(plain) and "[0:0]" not in normalise_save(plain)


@pytest.mark.parametrize("family", FAMILIES)
def test_both_backends_print_the_same_filter_table(fixture_text, family):
    nft = filter_table(saved(fixture_text, "nft", family))
    legacy = filter_table(saved(fixture_text, "legacy", family))
    assert nft.lines() == legacy.lines()


@pytest.mark.parametrize("backend,family", CASES)
def test_parse_keeps_tables_chains_policies_and_rule_text(fixture_text, backend, family):
    tables = parse_save(saved(fixture_text, backend, family))
    assert sorted(tables) == ["filter", "nat"]
    table = tables["filter"]
    assert list(table.chains) == ["INPUT", "FORWARD", "OUTPUT", "HOST-IN", "NLM-INPUT", "NLM-OUTPUT"]
    assert [table.chains[name].policy for name in ("INPUT", "FORWARD", "OUTPUT", "HOST-IN")] == \
        ["DROP", "DROP", "ACCEPT", "-"]
    assert table.rules("INPUT")[0] == '-p %s -m comment --comment "%s" -j NLM-INPUT' % (PROTO[family], TAG)
    assert '-p udp -m comment --comment "say \\"hi\\"" -m udp --dport 53 -j ACCEPT' in table.rules("INPUT")
    assert tables["nat"].rules("POSTROUTING") == ["-o eth0 -j MASQUERADE"]
    # lines() gives back what iptables-save printed, counters and comments aside
    assert "\n".join(table.lines()) in normalise_save(saved(fixture_text, backend, family))


def test_fresh_namespace_saves_nothing_and_means_empty_accepting_chains(fixture_text):
    text = fixture_text("iptables/nft-ipv4-empty.save")
    assert text == ""
    table = filter_table(text)
    assert table.lines() == ["*filter", ":INPUT ACCEPT", ":FORWARD ACCEPT", ":OUTPUT ACCEPT", "COMMIT"]


@pytest.mark.parametrize("text", ["-A INPUT -j ACCEPT\n", "*filter\n:INPUT\n", "*filter\n-I INPUT -j DROP\n"])
def test_malformed_save_output_is_an_error(text):
    with pytest.raises(NlmError, match="saved ruleset"):
        parse_save(text)


# --- what a rule means ---------------------------------------------------------------------

@pytest.mark.parametrize("spec", [
    "-i gw0 -p icmp -m icmp --icmp-type 8 -m comment --comment x -j ACCEPT",
    "-i gw0 -p 1 --icmp-type echo-request -m comment --comment \"x\" -j ACCEPT",
    "-m comment --comment x -i gw0 -p ICMP -m icmp --icmp-type ping -j ACCEPT",
    "-p icmp -m comment --comment 'x' -m icmp --icmp-type 8 --in-interface gw0 --jump ACCEPT",
])
def test_spellings_of_the_same_ipv4_rule_have_the_same_fields(spec):
    assert rule_fields(spec) == rule_fields("-i gw0 -p icmp -m icmp --icmp-type 8 -m comment --comment x -j ACCEPT")
    assert allow_rule_of("INPUT", spec, "ipv4") == AllowRule("ipv4", "in", "gw0", "echo-request")


@pytest.mark.parametrize("spec", [
    "-o gw0 -p ipv6-icmp -m icmp6 --icmpv6-type 129 -j ACCEPT",
    "-o gw0 -p icmpv6 --icmpv6-type echo-reply -j ACCEPT",
    "-o gw0 -p 58 -m icmp6 --icmpv6-type pong -j ACCEPT",
])
def test_spellings_of_the_same_ipv6_rule_are_one_allow_rule(spec):
    assert allow_rule_of("OUTPUT", spec, "ipv6") == AllowRule("ipv6", "out", "gw0", "echo-reply")


@pytest.mark.parametrize("chain,spec", [
    ("INPUT", "-i gw0 -p icmp -m icmp --icmp-type 8 -j DROP"),            # not an ACCEPT
    ("INPUT", "! -i gw0 -p icmp -m icmp --icmp-type 8 -j ACCEPT"),        # negated interface
    ("INPUT", "-i gw0 -s 198.18.0.1/32 -p icmp -m icmp --icmp-type 8 -j ACCEPT"),  # narrower
    ("INPUT", "-p icmp -m icmp --icmp-type 8 -j ACCEPT"),                 # every interface
    ("INPUT", "-o gw0 -p icmp -m icmp --icmp-type 8 -j ACCEPT"),          # wrong side
    ("INPUT", "-i gw0 -p icmp -m icmp --icmp-type 3 -j ACCEPT"),          # not echo
    ("INPUT", "-i gw0 -p icmp -m icmp ! --icmp-type 8 -j ACCEPT"),
    ("INPUT", "-i gw0 -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT"),  # other family
    ("FORWARD", "-i gw0 -p icmp -m icmp --icmp-type 8 -j ACCEPT"),
])
def test_rules_that_are_not_exactly_an_allow_rule(chain, spec):
    assert allow_rule_of(chain, spec, "ipv4") is None


def test_negation_and_unknown_matches_are_kept_apart():
    fields = rule_fields("! -i eth0 ! -p tcp -s 198.18.0.0/15 -m conntrack --ctstate NEW -j LOG --log-prefix \"a b\"")
    assert fields.in_interface == (True, "eth0")
    assert fields.protocol == (True, "tcp")
    assert fields.other == ("-s", "198.18.0.0/15", "-m", "conntrack", "--ctstate", "NEW")
    assert fields.target == "LOG" and fields.target_args == ("--log-prefix", "a b")


# --- rendering --------------------------------------------------------------------------------

@pytest.mark.parametrize("backend,family", CASES)
def test_rendered_rules_and_jumps_are_what_iptables_save_prints(fixture_text, backend, family):
    """The fixtures' first NLM-INPUT/NLM-OUTPUT rules and jumps were written by the
    capture script with iptables; rendering the same rules must give the same fields."""
    table = filter_table(saved(fixture_text, backend, family))
    request_rule = AllowRule(family, "in", "antrea-gw0", "echo-request")
    assert rule_fields(render_rule(request_rule, TAG)) == rule_fields(table.rules("NLM-INPUT")[0])
    assert render_rule(request_rule, TAG) == table.rules("NLM-INPUT")[0]
    assert render_jump(family, "in", TAG) == table.rules("INPUT")[0]
    assert render_jump(family, "out", TAG) == table.rules("OUTPUT")[0]


def test_rendered_ipv6_reply_rule_text():
    assert render_rule(AllowRule("ipv6", "out", "antrea-gw0", "echo-reply"), "tag with space") == (
        '-o antrea-gw0 -p ipv6-icmp -m icmp6 --icmpv6-type 129 -m comment --comment "tag with space" -j ACCEPT')


# --- ownership ----------------------------------------------------------------------------------

@pytest.mark.parametrize("backend,family", CASES)
def test_owned_lines_are_the_nlm_chains_their_jumps_and_tagged_rules(fixture_text, backend, family):
    table = filter_table(saved(fixture_text, backend, family))
    request_type, reply_type = TYPES[family]
    proto, match = PROTO[family], MATCH[family]
    tag = '-m comment --comment "%s"' % TAG
    assert owned_lines(table, TAG) == [
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


# --- planning -----------------------------------------------------------------------------------

@pytest.mark.parametrize("backend,family", CASES)
def test_present_removes_only_the_duplicate_and_touches_nothing_foreign(fixture_text, backend, family):
    table = filter_table(saved(fixture_text, backend, family))
    tx = plan(table, family, request(family, ["antrea-gw0"]))
    reply_type = TYPES[family][1]
    duplicate = '-i antrea-gw0 -p %s %s %d -m comment --comment "%s" -j ACCEPT' % (
        PROTO[family], MATCH[family], reply_type, TAG)
    assert tx.commands == ["-D NLM-INPUT " + duplicate]
    assert tx.restore_input() == "*filter\n-D NLM-INPUT %s\nCOMMIT\n" % duplicate
    assert foreign_lines(tx.table) == foreign_lines(table)
    assert foreign_chains(tx.table) == foreign_chains(table)
    assert plan(tx.table, family, request(family, ["antrea-gw0"])).restore_input() is None


@pytest.mark.parametrize("backend,family", CASES)
def test_absent_removes_chains_and_jumps_but_keeps_other_interfaces(fixture_text, backend, family):
    table = filter_table(saved(fixture_text, backend, family))
    tx = plan(table, family, request(family, ["antrea-gw0"], state="absent"))
    assert "NLM-INPUT" not in tx.table.chains and "NLM-OUTPUT" not in tx.table.chains
    assert [line for line in tx.commands if line.startswith("-X")] == ["-X NLM-INPUT", "-X NLM-OUTPUT"]
    assert len([line for line in tx.commands if line.startswith("-D NLM-")]) == 5
    assert owned_lines(tx.table, TAG) == [
        '-A INPUT -i eth1 -p %s %s %d -m comment --comment "%s" -j ACCEPT' % (
            PROTO[family], MATCH[family], TYPES[family][0], TAG)]
    assert foreign_lines(tx.table) == foreign_lines(table)
    assert foreign_chains(tx.table) == foreign_chains(table)
    # jumps go before the chains they point to
    assert tx.commands.index("-X NLM-INPUT") > max(
        index for index, line in enumerate(tx.commands) if line.endswith("-j NLM-INPUT"))
    assert plan(tx.table, family, request(family, ["antrea-gw0"], state="absent")).restore_input() is None
    everything = plan(tx.table, family, request(family, ["eth1"], state="absent"))
    assert owned_lines(everything.table, TAG) == []


@pytest.mark.parametrize("backend,family", CASES)
def test_switching_to_direct_mode_moves_the_rules_and_drops_the_chains(fixture_text, backend, family):
    table = filter_table(saved(fixture_text, backend, family))
    tx = plan(table, family, request(family, ["antrea-gw0"], chain_mode="direct"))
    rules = expected_rules(family, ["antrea-gw0"], ("responder", "prober"))
    assert tx.table.rules("INPUT")[:2] == [render_rule(rule, TAG) for rule in rules[:2]]
    assert tx.table.rules("OUTPUT")[:2] == [render_rule(rule, TAG) for rule in rules[2:]]
    assert "NLM-INPUT" not in tx.table.chains
    assert foreign_lines(tx.table) == foreign_lines(table)
    assert plan(tx.table, family, request(family, ["antrea-gw0"], chain_mode="direct")).restore_input() is None


@pytest.mark.parametrize("family", FAMILIES)
def test_present_in_a_fresh_namespace_creates_chains_and_jumps(fixture_text, family):
    table = filter_table(fixture_text("iptables/nft-ipv4-empty.save"))
    tx = plan(table, family, request(family, ["antrea-gw0"]))
    rules = expected_rules(family, ["antrea-gw0"], ("responder", "prober"))
    assert tx.restore_input() == "\n".join(
        ["*filter", ":NLM-INPUT - [0:0]", ":NLM-OUTPUT - [0:0]"]
        + ["-A %s %s" % ("NLM-INPUT" if rule.direction == "in" else "NLM-OUTPUT", render_rule(rule, TAG))
           for rule in rules]
        + ["-I INPUT 1 " + render_jump(family, "in", TAG), "-I OUTPUT 1 " + render_jump(family, "out", TAG),
           "COMMIT"]) + "\n"
    assert plan(tx.table, family, request(family, ["antrea-gw0"])).restore_input() is None


@pytest.mark.parametrize("chain_mode", ["dedicated", "direct"])
def test_an_interface_named_twice_is_idempotent(fixture_text, chain_mode):
    table = filter_table(fixture_text("iptables/nft-ipv4-empty.save"))
    tx = plan(table, "ipv4", request("ipv4", ["gw0", "gw0"], chain_mode=chain_mode))
    assert len([line for line in tx.added if " -j ACCEPT" in line]) == 4
    assert plan(tx.table, "ipv4", request("ipv4", ["gw0", "gw0"], chain_mode=chain_mode)).restore_input() is None


def test_responder_only_removes_the_prober_rules_of_the_interface(fixture_text):
    table = filter_table(saved(fixture_text, "nft", "ipv4"))
    tx = plan(table, "ipv4", request("ipv4", ["antrea-gw0"], roles=("responder",)))
    assert [allow_rule_of(chain, spec, "ipv4").message
            for chain in ("NLM-INPUT", "NLM-OUTPUT") for spec in tx.table.rules(chain)] == \
        ["echo-request", "echo-reply"]


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


@pytest.mark.parametrize("chain_mode", ["dedicated", "direct"])
def test_append_lands_behind_a_reject_and_enforce_order_moves_it(chain_mode):
    table = filter_table(REJECT_TAIL)
    appended = plan(table, "ipv4", request("ipv4", ["gw0"], chain_mode=chain_mode, placement="append"))
    assert appended.table.rules("INPUT")[2] == "-j REJECT --reject-with icmp-host-prohibited"
    assert all(not inspection["effective"] for inspection in inspect(
        appended.table, "ipv4", expected_rules("ipv4", ["gw0"], ("responder", "prober")), TAG))
    # presence is enough by default
    appended_again = plan(appended.table, "ipv4", request("ipv4", ["gw0"], chain_mode=chain_mode, placement="append"))
    assert appended_again.restore_input() is None
    ordered = plan(appended.table, "ipv4",
                   request("ipv4", ["gw0"], chain_mode=chain_mode, placement="append", enforce_order=True))
    assert [line.split()[0] for line in ordered.commands] == ["-D", "-I"] * (2 if chain_mode == "dedicated" else 4)
    assert ordered.added == [] and ordered.removed == []
    assert all(inspection["effective"] for inspection in inspect(
        ordered.table, "ipv4", expected_rules("ipv4", ["gw0"], ("responder", "prober")), TAG))
    assert foreign_lines(ordered.table) == foreign_lines(table)
    # with enforce_order from the start, nothing is appended behind the REJECT
    direct = plan(table, "ipv4",
                  request("ipv4", ["gw0"], chain_mode=chain_mode, placement="append", enforce_order=True))
    assert all(line.startswith(("-I", "-A NLM-", ":")) for line in direct.commands)


# --- judging ------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend,family", CASES)
def test_inspect_reports_places_copies_and_what_drops_the_rest(fixture_text, backend, family):
    table = filter_table(saved(fixture_text, backend, family))
    report = inspect(table, family, expected_rules(family, ["antrea-gw0", "eth0"], ("responder", "prober")), TAG)
    by_key = {(entry["interface"], entry["direction"], entry["message"]): entry for entry in report}
    gateway_reply = by_key[("antrea-gw0", "in", "echo-reply")]
    assert (gateway_reply["present"], gateway_reply["chain"], gateway_reply["position"],
            gateway_reply["copies"], gateway_reply["effective"]) == (True, "NLM-INPUT", 2, 2, True)
    # eth0 has no owned rule; its echo requests are accepted by a foreign rule anyway,
    # its echo replies meet the REJECT
    eth0_request = by_key[("eth0", "in", "echo-request")]
    assert (eth0_request["present"], eth0_request["effective"], eth0_request["shadowed_by"]) == (False, True, None)
    eth0_reply = by_key[("eth0", "in", "echo-reply")]
    assert eth0_reply["effective"] is False
    assert eth0_reply["shadowed_by"].startswith("-p %s -j REJECT" % PROTO[family])
    # OUTPUT accepts by policy
    assert by_key[("eth0", "out", "echo-request")]["effective"] is True


def test_rules_in_an_unreached_chain_are_not_effective_under_a_drop_policy():
    table = filter_table("""*filter
:INPUT DROP [0:0]
:OUTPUT ACCEPT [0:0]
:NLM-INPUT - [0:0]
-A NLM-INPUT -i gw0 -p icmp -m icmp --icmp-type 8 -m comment --comment "x" -j ACCEPT
COMMIT
""")
    (entry,) = inspect(table, "ipv4", [AllowRule("ipv4", "in", "gw0", "echo-request")], "x")
    assert (entry["present"], entry["effective"], entry["shadowed_by"]) == (True, False, "-P INPUT DROP")


@pytest.mark.parametrize("spec,caught", [
    ("-j DROP", True),
    ("-i gw+ -j DROP", True),
    ("-i eth+ -j DROP", False),
    ("! -i gw0 -j DROP", False),
    ("! -i eth0 -p icmp -j DROP", True),
    ("-p icmp -m icmp --icmp-type 8 -j DROP", True),
    ("-p icmp -m icmp --icmp-type 8/0 -j DROP", True),
    ("-p icmp -m icmp ! --icmp-type 8 -j DROP", False),
    ("-p icmp -m icmp --icmp-type 0 -j DROP", False),
    ("! -p icmp -j DROP", False),
    ("-p tcp -j DROP", False),
    ("-o gw0 -j DROP", False),
    ("-s 198.18.0.0/15 -j DROP", False),
    ("-m conntrack --ctstate INVALID -j DROP", False),
])
def test_which_rules_catch_inbound_echo_requests_on_gw0(spec, caught):
    assert catches(spec, AllowRule("ipv4", "in", "gw0", "echo-request")) is caught


# --- screening before parsing -----------------------------------------------------------------

@pytest.mark.parametrize("spec,screened", [
    # what a busy host has thousands of: decided without shlex
    ("-s 198.18.128.1/32 -p tcp -m tcp --dport 1024 -j ACCEPT", True),
    ('-d 198.18.128.3/32 -p udp -m udp --dport 1026 -m comment --comment "bench 2" -j ACCEPT', True),
    ("-i antrea-gw0 -p icmp -m conntrack --ctstate INVALID -j DROP", True),
    ("! -s 198.18.0.0/15 -j DROP", True),
    # nothing but understood matches before the target: left to rule_fields
    ("-i antrea-gw0 -p icmp -m icmp --icmp-type 8 -j DROP", False),
    ('-p icmp -m comment --comment "x" -j REJECT --reject-with icmp-port-unreachable', False),
    ("-j DROP", False),
    # a value that looks like an option, quoted or not, is a value
    ('-p icmp -m comment --comment "drop -s everything" -j DROP', False),
    ("-p icmp -m comment --comment -s -j DROP", False),
    # a match module cut by a quote cannot be judged on the text before it
    ('-p icmp -m "comment" --comment x -j DROP', False),
    ('-p icmp -m co"mment" --comment x -j DROP', False),
])
def test_the_screen_only_skips_specs_with_a_match_this_module_does_not_understand(spec, screened):
    assert has_foreign_match(spec) is screened
    # never a spec that rule_fields would let catch anything
    assert not screened or rule_fields(spec).other


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
    return filter_table("\n".join(lines + ["COMMIT"]) + "\n")


LOOK_ALIKES = [
    # ours but for the tag: another tool's, or the tag with a suffix
    "-i gw0 -p icmp -m icmp --icmp-type 8 -j ACCEPT",
    '-i gw0 -p icmp -m icmp --icmp-type 8 -m comment --comment "%s-old" -j ACCEPT' % TAG,
    '-i gw0 -p icmp -m icmp --icmp-type 0 -m comment --comment "not %s" -j ACCEPT' % TAG,
    # a jump into a chain whose name starts like ours
    "-p icmp -j NLM-INPUT-LEGACY",
]


@pytest.mark.parametrize("chain_mode", ["dedicated", "direct"])
def test_foreign_look_alikes_among_many_foreign_rules_are_never_touched(chain_mode):
    table = busy(LOOK_ALIKES)
    table.chains["NLM-INPUT-LEGACY"] = Chain("NLM-INPUT-LEGACY", "-")
    tx = plan(table, "ipv4", request("ipv4", ["gw0"], chain_mode=chain_mode))
    assert all(not line.startswith("-D") for line in tx.commands)
    assert foreign_lines(tx.table) == foreign_lines(table)
    assert owned_lines(tx.table, TAG) == owned_lines(plan(filter_table(""), "ipv4",
                                                          request("ipv4", ["gw0"], chain_mode=chain_mode)).table, TAG)
    assert plan(tx.table, "ipv4", request("ipv4", ["gw0"], chain_mode=chain_mode)).restore_input() is None


SHADOWING_DROPS = [
    "-i gw0 -p icmp -m icmp --icmp-type 8 -j DROP",
    # a comment whose text looks like an address match does not hide the drop
    '-p icmp -m comment --comment "drop -s everything" -j DROP',
]


@pytest.mark.parametrize("drop", SHADOWING_DROPS)
def test_a_foreign_drop_among_many_foreign_rules_is_still_seen(drop):
    rule = AllowRule("ipv4", "in", "gw0", "echo-request")
    (entry,) = inspect(busy([], [drop]), "ipv4", [rule], TAG)
    assert (entry["present"], entry["effective"], entry["shadowed_by"]) == (False, False, drop)
    appended = plan(busy([], [drop]), "ipv4", request("ipv4", ["gw0"], chain_mode="direct", placement="append",
                                                      roles=("responder",)))
    (entry,) = inspect(appended.table, "ipv4", [rule], TAG)
    assert (entry["present"], entry["position"], entry["effective"], entry["shadowed_by"]) == (
        True, 1002, False, drop)
    ordered = plan(appended.table, "ipv4", request("ipv4", ["gw0"], chain_mode="direct", placement="append",
                                                   enforce_order=True, roles=("responder",)))
    (entry,) = inspect(ordered.table, "ipv4", [rule], TAG)
    assert (entry["position"], entry["effective"]) == (1, True)


@pytest.mark.parametrize("text,variant", [
    ("iptables v1.8.9 (nf_tables)\n", "iptables-nft"),
    ("iptables v1.8.9 (legacy)\n", "iptables-legacy"),
    ("ip6tables v1.8.7 (legacy)\n", "iptables-legacy"),
    ("iptables v1.6.1\n", "iptables-legacy"),
    ("something else\n", None),
])
def test_variant_from_version_output(text, variant):
    assert variant_of_version(text) == variant
