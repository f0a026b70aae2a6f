"""Parsing, ownership, rendering and planning on real ``nft -j list ruleset`` output.

tests/unit/fixtures/nftables holds captures of nftables 1.0.6 (capture.sh regenerates
them; ruleset.txt is the same ruleset as ``nft -a list ruleset`` prints it, with the
handles the tests name): the lab's hardened ``inet filter`` table with owned rules
(one duplicated, one written with a type number, one for the name ``eth*``, one tagged
rule the module would not write), foreign rules that accept some of the echo traffic
already, an ``ip6 extra`` table that rejects ICMPv6 echo requests on eth1, and
iptables-nft's own ``ip filter`` table.

The plans are asked for as nlm_icmp_allow asks: the base chains that need a rule come
from ``needed_filters``, the path model's judgement without the owned rules.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _path
from ansible_collections.nodelatency.monitor.plugins.module_utils._errors import NlmError
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_allow import needed_filters
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import AllowRule, expected_rules
from ansible_collections.nodelatency.monitor.plugins.module_utils._icmp_rules import Request
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables import NftablesBackend
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables_plan import (
    Transaction,
    boot_commands,
    model,
    owned_copies,
    plan,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables_rules import (
    allow_rule_of,
    describe,
    owned_lines,
    render_statement,
    rule_expr,
)
from ansible_collections.nodelatency.monitor.plugins.module_utils._nftables_ruleset import (
    NftRule,
    Ruleset,
    parse_ruleset,
    rule_texts,
    tables_with_chains,
    xtables_tables,
)

TAG = "nodelatency.monitor"
INPUT = ("inet", "filter", "input")
OUTPUT = ("inet", "filter", "output")
EXTRA = ("ip6", "extra", "out")
BOTH = ("responder", "prober")


@pytest.fixture
def ruleset(fixture_text):
    """The native chains of the capture, as NftablesBackend.read finds them table by table."""
    xtables = xtables_tables({"iptables": fixture_text("nftables/iptables-nft-save.txt")})
    return Ruleset([chain for chain in parse_ruleset(fixture_text("nftables/ruleset.json")).chains.values()
                    if (chain.family, chain.table) not in xtables])


@pytest.fixture
def hardened(fixture_text):
    return parse_ruleset(fixture_text("nftables/empty.json"))


class Node(object):
    """What _icmp_allow.Firewall gives needed_filters: the packet of each rule."""

    def packet(self, rule):
        return _path.Packet.of(rule)


def needed(ruleset, family, rules):
    return needed_filters(Node(), model(ruleset, family, TAG), family, rules)["nftables"]


def request(ruleset, family, interfaces, state="present", placement="insert", enforce_order=False, roles=BOTH):
    expected = expected_rules(family, interfaces, roles) if state == "present" else []
    return Request(state, list(interfaces), expected, "dedicated", placement, enforce_order, TAG,
                   needed(ruleset, family, expected), {rule: Node().packet(rule) for rule in expected})


def verdicts(ruleset, family, interfaces, roles=BOTH):
    tables = model(ruleset, family, TAG)
    return {(rule.direction, rule.message): _path.judge(_path.filters(tables, family, rule.direction),
                                                        Node().packet(rule)).verdict
            for rule in expected_rules(family, interfaces, roles)}


def rule_by_handle(ruleset, key, handle):
    return next(rule for rule in ruleset.chains[key].rules if rule.handle == handle)


# --- parsing ------------------------------------------------------------------------------

def test_iptables_nft_tables_are_left_out(fixture_text, ruleset):
    assert xtables_tables({"iptables": fixture_text("nftables/iptables-nft-save.txt")}) == {("ip", "filter")}
    assert xtables_tables({"iptables": "", "ip6tables": "*mangle\nCOMMIT\n*filter\nCOMMIT\n"}) == {
        ("ip6", "mangle"), ("ip6", "filter")}
    assert list(ruleset.chains) == [INPUT, ("inet", "filter", "forward"), OUTPUT, ("inet", "filter", "helper"),
                                    EXTRA]
    assert [(chain.hook, chain.kind, chain.priority, chain.policy) for chain in ruleset.chains.values()] == [
        ("input", "filter", 0, "drop"), ("forward", "filter", 0, "drop"), ("output", "filter", 0, "drop"),
        (None, None, None, None), ("output", "filter", 10, "accept")]
    assert [rule.handle for rule in ruleset.chains[INPUT].rules] == [18, 4, 6, 8, 10, 19, 20, 21, 22, 23]
    assert [rule.comment for rule in ruleset.chains[EXTRA].rules] == [None, None, TAG]
    assert ruleset.chains[EXTRA].label == "ip6 extra out" and ruleset.chains[EXTRA].table_label == "ip6 extra"


def test_named_sets_and_verdict_maps_are_kept_by_table(fixture_text):
    cases = json.loads(fixture_text("nftables/cases.json"))
    sets = parse_ruleset(json.dumps(cases["named-set"])).sets
    assert sorted(sets[("inet", "t")]) == ["ifs", "local", "peers"]
    assert sorted(sets[("inet", "t")]["ifs"]) == ["eth1", "gw0"]
    maps = parse_ruleset(json.dumps(cases["vmap-named"]))
    assert maps.sets == {} and sorted(maps.maps[("inet", "t")]) == ["byif", "bytype"]
    assert ["gw0", {"jump": {"target": "sub"}}] in maps.maps[("inet", "t")]["byif"]


def test_the_tables_to_list_are_those_holding_a_chain_in_listed_order(fixture_text):
    assert tables_with_chains(fixture_text("nftables/ruleset.json")) == [
        ("inet", "filter"), ("ip6", "extra"), ("ip", "filter")]
    assert tables_with_chains(fixture_text("iptables/nft-list-chains.json")) == [
        ("ip", "filter"), ("ip", "nat"), ("ip6", "filter"), ("ip6", "nat"), ("inet", "native")]
    assert tables_with_chains('{"nftables": [{"metainfo": {"version": "1.0.6"}}, '
                              '{"table": {"family": "inet", "name": "empty", "handle": 1}}]}') == []


@pytest.mark.parametrize("parse", [parse_ruleset, tables_with_chains])
def test_output_that_is_not_json_is_a_clear_error(parse):
    with pytest.raises(NlmError, match="nft -j printed something that is not JSON"):
        parse("Error: syntax error")


def test_rule_texts_are_read_by_table_and_handle(fixture_text):
    texts = rule_texts(fixture_text("nftables/ruleset.txt"))
    assert list(texts) == [("inet", "filter"), ("ip6", "extra"), ("ip", "filter")]
    inet = texts[("inet", "filter")]
    assert inet[18] == 'iifname "antrea-gw0" icmp type echo-request accept comment "nodelatency.monitor"'
    assert inet[6] == "meta l4proto { tcp, udp } accept"
    # handles are numbered per table
    assert texts[("ip6", "extra")][3] == 'oifname "eth1" icmpv6 type echo-request reject'
    assert inet[4] == 'iifname "lo" accept'
    assert texts[("ip6", "extra")][4] == (
        'oifname "antrea-gw0" icmpv6 type echo-reply accept comment "nodelatency.monitor"')
    assert texts[("ip", "filter")] == {2: "meta l4proto icmp counter packets 0 bytes 0 drop"}
    # chains and tables have handles too, but are no rules
    assert 1 not in inet and 26 not in inet and 2 not in inet


# --- what a rule means ---------------------------------------------------------------------------

def test_owned_rules_are_recognised_as_written_and_as_nft_prints_them(ruleset):
    chain = ruleset.chains[INPUT]
    recognised = [allow_rule_of(chain, rule) for rule in chain.rules]
    assert recognised == [
        AllowRule("ipv4", "in", "antrea-gw0", "echo-request"), None, None, None, None,
        AllowRule("ipv4", "in", "antrea-gw0", "echo-reply"), AllowRule("ipv4", "in", "antrea-gw0", "echo-reply"),
        AllowRule("ipv6", "in", "antrea-gw0", "echo-request"),   # written as icmpv6 type 128
        AllowRule("ipv4", "in", "eth*", "echo-request"),         # the name as written
        None,                                                    # has an address match
    ]
    # an ICMPv6 rule in an ip table, an IPv4 one in an ip6 table: not ours to recognise
    extra = ruleset.chains[EXTRA]
    assert allow_rule_of(extra, NftRule(None, rule_expr(AllowRule("ipv4", "out", "gw0", "echo-reply")), TAG)) is None
    assert allow_rule_of(extra, rule_by_handle(ruleset, EXTRA, 4)) == AllowRule(
        "ipv6", "out", "antrea-gw0", "echo-reply")


def test_rendering_is_what_nft_prints(fixture_text, ruleset):
    rule = AllowRule("ipv4", "in", "antrea-gw0", "echo-request")
    assert rule_expr(rule) == rule_by_handle(ruleset, INPUT, 18).expr
    printed = 'iifname "antrea-gw0" icmp type echo-request accept comment "nodelatency.monitor" # handle 18'
    assert "\t\t" + printed + "\n" in fixture_text("nftables/ruleset.txt")
    assert render_statement(rule, TAG) + " # handle 18" == printed
    assert render_statement(AllowRule("ipv6", "out", "eth1", "echo-reply"), TAG) == (
        'oifname "eth1" icmpv6 type echo-reply accept comment "nodelatency.monitor"')


def test_rules_are_described_in_nft_syntax_when_ours_else_by_handle(ruleset):
    chain = ruleset.chains[INPUT]
    assert describe(chain, rule_by_handle(ruleset, INPUT, 19)) == (
        'inet filter input iifname "antrea-gw0" icmp type echo-reply accept comment "nodelatency.monitor"')
    assert describe(chain, rule_by_handle(ruleset, INPUT, 4)) == (
        'inet filter input handle 4 [{"match": {"left": {"meta": {"key": "iifname"}}, "op": "==", "right": "lo"}}, '
        '{"accept": null}]')


def test_owned_lines_are_per_family(ruleset):
    assert owned_lines(ruleset, TAG, "ipv6") == [
        'inet filter input iifname "antrea-gw0" icmpv6 type echo-request accept comment "nodelatency.monitor"',
        'ip6 extra out oifname "antrea-gw0" icmpv6 type echo-reply accept comment "nodelatency.monitor"',
    ]
    ipv4 = owned_lines(ruleset, TAG, "ipv4")
    assert len(ipv4) == 5 and ipv4[-1].startswith('inet filter input handle 23 [{"match": ')
    assert len(owned_lines(ruleset, TAG)) == 7


def test_owned_copies_name_chain_position_and_handle(ruleset):
    tables = {table.label: table for table in model(ruleset, "ipv4", TAG)}
    table = tables["inet filter"]
    reply = AllowRule("ipv4", "in", "antrea-gw0", "echo-reply")
    assert owned_copies(ruleset, table, table.chains["input"], reply, TAG) == [
        ("inet filter input", 6, 19), ("inet filter input", 7, 20)]
    assert owned_copies(ruleset, table, table.chains["output"], reply, TAG) == []


# --- the model -------------------------------------------------------------------------------------

def test_the_model_holds_the_native_tables_that_see_the_family(ruleset, fixture_text):
    assert [table.label for table in model(ruleset, "ipv4", TAG)] == ["inet filter"]
    tables = model(ruleset, "ipv6", TAG, rule_texts(fixture_text("nftables/ruleset.txt")))
    assert [(table.flavour, table.label) for table in tables] == [("nftables", "inet filter"),
                                                                  ("nftables", "ip6 extra")]
    assert [(chain.name, chain.hook, chain.priority, chain.policy) for chain in tables[0].chains.values()] == [
        ("input", "input", 0, _path.DROP), ("forward", "forward", 0, _path.DROP),
        ("output", "output", 0, _path.DROP), ("helper", None, None, None)]
    out = tables[1].chains["out"]
    assert [(rule.position, rule.handle, rule.owned, rule.text) for rule in out.rules] == [
        (1, 2, False, "tcp dport 23 drop"),
        (2, 3, False, 'oifname "eth1" icmpv6 type echo-request reject'),
        (3, 4, True, 'oifname "antrea-gw0" icmpv6 type echo-reply accept comment "nodelatency.monitor"')]


def test_the_filters_that_need_a_rule(ruleset, hardened):
    gateway = expected_rules("ipv4", ["antrea-gw0"], BOTH)
    # inet filter drops by policy; its output accepts echo requests on antrea-gw0 already
    assert needed(ruleset, "ipv4", gateway) == {
        ("inet filter", "input", gateway[0]), ("inet filter", "input", gateway[1]),
        ("inet filter", "output", gateway[3])}
    gateway6 = expected_rules("ipv6", ["antrea-gw0"], BOTH)
    # "someone else" accepts echo replies; ip6 extra out rejects on eth1 only
    assert needed(ruleset, "ipv6", gateway6) == {
        ("inet filter", "input", gateway6[0]), ("inet filter", "input", gateway6[1]),
        ("inet filter", "output", gateway6[2])}
    eth1 = expected_rules("ipv6", ["eth1"], ["prober"])
    assert needed(ruleset, "ipv6", eth1) == {
        ("inet filter", "input", eth1[0]), ("inet filter", "output", eth1[1]), ("ip6 extra", "out", eth1[1])}
    assert len(needed(hardened, "ipv4", gateway)) == 4


# --- planning --------------------------------------------------------------------------------

def test_present_keeps_one_copy_where_needed_removes_the_rest_and_inserts_the_missing_at_the_top(ruleset):
    tx = plan(ruleset, "ipv4", request(ruleset, "ipv4", ["antrea-gw0"]))
    assert tx.restore_input() == (
        "delete rule inet filter input handle 20\n"
        "delete rule inet filter input handle 23\n"
        'insert rule inet filter output oifname "antrea-gw0" icmp type echo-reply accept comment "%s"\n' % TAG)
    # handle 22 (eth*) is another interface's and stays; foreign look-alikes stay
    assert [rule.handle for rule in tx.table.chains[INPUT].rules] == [18, 4, 6, 8, 10, 19, 21, 22]
    assert [rule.handle for rule in tx.table.chains[OUTPUT].rules] == [None, 11, 13, 15, 17, 24, 25]
    assert tx.added == ['inet filter output oifname "antrea-gw0" icmp type echo-reply accept comment "%s"' % TAG]
    assert set(verdicts(ruleset, "ipv4", ["antrea-gw0"]).values()) == {_path.ACCEPT, _path.DROP}
    assert set(verdicts(tx.table, "ipv4", ["antrea-gw0"]).values()) == {_path.ACCEPT}
    again = plan(tx.table, "ipv4", request(tx.table, "ipv4", ["antrea-gw0"]))
    assert again.restore_input() is None


def test_ipv6_goes_where_it_is_needed_and_leaves_a_chain_that_does_not_need_it(ruleset):
    tx = plan(ruleset, "ipv6", request(ruleset, "ipv6", ["antrea-gw0"]))
    assert tx.restore_input().splitlines() == [
        # ip6 extra out accepts echo replies on antrea-gw0 anyway: the owned rule there goes
        "delete rule ip6 extra out handle 4",
        'insert rule inet filter input iifname "antrea-gw0" icmpv6 type echo-reply accept comment "%s"' % TAG,
        'insert rule inet filter output oifname "antrea-gw0" icmpv6 type echo-request accept comment "%s"' % TAG,
    ]
    assert tx.removed == ['ip6 extra out oifname "antrea-gw0" icmpv6 type echo-reply accept comment "%s"' % TAG]
    assert set(verdicts(tx.table, "ipv6", ["antrea-gw0"]).values()) == {_path.ACCEPT}


def test_insert_keeps_the_order_of_the_rules(hardened):
    tx = plan(hardened, "ipv4", request(hardened, "ipv4", ["gw0"]))
    assert [allow_rule_of(hardened.chains[INPUT], rule) for rule in tx.table.chains[INPUT].rules[:2]] == \
        expected_rules("ipv4", ["gw0"], BOTH)[:2]
    assert [line.split(" ", 5)[:5] for line in tx.restore_input().splitlines()] == [
        ["insert", "rule", "inet", "filter", "input"]] * 2 + [["insert", "rule", "inet", "filter", "output"]] * 2


def test_append_goes_in_front_of_the_first_rule_that_may_drop_else_to_the_end(ruleset):
    tx = plan(ruleset, "ipv6", request(ruleset, "ipv6", ["eth1"], placement="append", roles=["prober"]))
    assert tx.restore_input().splitlines() == [
        'add rule inet filter input iifname "eth1" icmpv6 type echo-reply accept comment "%s"' % TAG,
        'add rule inet filter output oifname "eth1" icmpv6 type echo-request accept comment "%s"' % TAG,
        'insert rule ip6 extra out position 3 oifname "eth1" icmpv6 type echo-request accept comment "%s"' % TAG,
    ]
    assert [rule.handle for rule in tx.table.chains[EXTRA].rules] == [2, None, 3, 4]
    assert set(verdicts(tx.table, "ipv6", ["eth1"], ["prober"]).values()) == {_path.ACCEPT}


def test_enforce_order_moves_an_owned_rule_that_a_reject_shadows(ruleset):
    shadowed = Transaction(ruleset)
    shadowed.add(ruleset.chains[EXTRA], AllowRule("ipv6", "out", "eth1", "echo-request"), TAG)
    table = shadowed.table
    table.chains[EXTRA].rules[-1] = table.chains[EXTRA].rules[-1]._replace(handle=5)
    assert verdicts(table, "ipv6", ["eth1"], ["prober"])[("out", "echo-request")] == _path.DROP
    wanted = request(table, "ipv6", ["eth1"], roles=["prober"])
    assert "ip6 extra out" not in plan(table, "ipv6", wanted).restore_input()
    ordered = plan(table, "ipv6", wanted._replace(enforce_order=True))
    lines = ordered.restore_input().splitlines()
    assert lines[0] == "delete rule ip6 extra out handle 5"
    assert lines[-1] == ('insert rule ip6 extra out oifname "eth1" icmpv6 type echo-request accept comment "%s"'
                         % TAG)
    assert set(verdicts(ordered.table, "ipv6", ["eth1"], ["prober"]).values()) == {_path.ACCEPT}


def test_absent_removes_exactly_the_owned_rules_of_the_interfaces(ruleset):
    ipv4 = plan(ruleset, "ipv4", request(ruleset, "ipv4", ["antrea-gw0"], state="absent"))
    ipv6 = plan(ruleset, "ipv6", request(ruleset, "ipv6", ["antrea-gw0"], state="absent"))
    assert ipv4.restore_input().splitlines() == ["delete rule inet filter input handle %d" % handle
                                                 for handle in (18, 19, 20, 23)]
    assert ipv6.restore_input().splitlines() == ["delete rule inet filter input handle 21",
                                                 "delete rule ip6 extra out handle 4"]
    # eth* is another name's
    # eth* is another name's; the tagged rule the module would not write goes with any name
    assert plan(ruleset, "ipv4", request(ruleset, "ipv4", ["eth*"], state="absent")).restore_input() == (
        "delete rule inet filter input handle 22\ndelete rule inet filter input handle 23\n")
    assert plan(ruleset, "ipv4", request(ruleset, "ipv4", ["eth9"], state="absent")).restore_input() == (
        "delete rule inet filter input handle 23\n")


def test_nothing_is_planned_where_nothing_filters(fixture_text):
    empty = Ruleset()
    assert plan(empty, "ipv4", request(empty, "ipv4", ["gw0"])).restore_input() is None


def test_boot_commands_put_the_owned_rules_back_on_top_in_their_order(ruleset):
    assert boot_commands({"ipv4": ruleset, "ipv6": ruleset}, TAG) == [
        'insert rule inet filter input %s' % render_statement(AllowRule("ipv6", "in", "antrea-gw0", "echo-request"),
                                                              TAG),
        'insert rule inet filter input %s' % render_statement(AllowRule("ipv4", "in", "eth*", "echo-request"), TAG),
        'insert rule inet filter input %s' % render_statement(AllowRule("ipv4", "in", "antrea-gw0", "echo-reply"),
                                                              TAG),
        'insert rule inet filter input %s' % render_statement(AllowRule("ipv4", "in", "antrea-gw0", "echo-reply"),
                                                              TAG),
        'insert rule inet filter input %s' % render_statement(AllowRule("ipv4", "in", "antrea-gw0",
                                                                        "echo-request"), TAG),
        'insert rule ip6 extra out %s' % render_statement(AllowRule("ipv6", "out", "antrea-gw0", "echo-reply"), TAG),
    ]
    assert boot_commands({"ipv4": Ruleset()}, TAG) == []


# --- the backend ---------------------------------------------------------------------------------

NFT = "/usr/sbin/nft"


class FakeModule(object):
    """get_bin_path and run_command of an AnsibleModule: outputs by argv (and stdin)."""

    def __init__(self, outputs, missing=()):
        self.outputs = outputs
        self.missing = set(missing)
        self.commands = []

    def get_bin_path(self, name):
        return None if name in self.missing else "/usr/sbin/" + name

    def run_command(self, argv, data=None, binary_data=False):
        self.commands.append((list(argv), data))
        return 0, self.outputs[" ".join(argv) if data is None else (" ".join(argv), data)], ""


def listing(text, wanted):
    items = json.loads(text)["nftables"]
    return json.dumps({"nftables": [item for item in items if "metainfo" in item or wanted(item)]})


def list_table(family, name):
    """What NftablesBackend runs to list one table: the table named in a JSON command."""
    return ("/usr/sbin/nft -j -f -", json.dumps({"nftables": [{"list": {"table": {"family": family, "name": name}}}]}))


def table_listing(text, family, name):
    return listing(text, lambda item: any((entry.get("family"), entry.get("table", entry.get("name")))
                                          == (family, name) for entry in item.values()))


def test_the_backend_lists_native_tables_one_by_one_and_iptables_nft_tables_not_at_all(fixture_text):
    text = fixture_text("nftables/ruleset.json")
    module = FakeModule({
        "/usr/sbin/nft -j list chains": listing(text, lambda item: "chain" in item),
        "/usr/sbin/iptables-nft-save": fixture_text("nftables/iptables-nft-save.txt"),
        "/usr/sbin/ip6tables-nft-save": "",
        list_table("inet", "filter"): table_listing(text, "inet", "filter"),
        list_table("ip6", "extra"): table_listing(text, "ip6", "extra"),
        "/usr/sbin/nft -a list ruleset": fixture_text("nftables/ruleset.txt"),
    })
    backend = NftablesBackend(module)
    read = backend.read("ipv4")
    assert list(read.chains) == [INPUT, ("inet", "filter", "forward"), OUTPUT, ("inet", "filter", "helper"), EXTRA]
    assert backend.read("ipv6") is read
    argvs = [argv for argv, _data in module.commands]
    assert argvs[:3] == [[NFT, "-j", "list", "chains"], ["/usr/sbin/iptables-nft-save"],
                         ["/usr/sbin/ip6tables-nft-save"]]
    # the native tables are listed side by side, in either order; the iptables-nft one not at all
    assert sorted(data for _argv, data in module.commands[3:]) == sorted([list_table("inet", "filter")[1],
                                                                          list_table("ip6", "extra")[1]])
    assert argvs[3:] == [[NFT, "-j", "-f", "-"]] * 2
    texts = backend.texts(read)
    assert texts[("ip6", "extra")][3] == 'oifname "eth1" icmpv6 type echo-request reject'


def test_the_backend_changes_through_one_json_transaction_and_reads_again_after_it(ruleset):
    module = FakeModule({"/usr/sbin/nft -j list chains": '{"nftables": []}', "/usr/sbin/iptables-nft-save": "",
                         "/usr/sbin/ip6tables-nft-save": ""})
    backend = NftablesBackend(module)
    assert backend.read("ipv6").chains == {}
    tx = plan(ruleset, "ipv6", request(ruleset, "ipv6", ["antrea-gw0"]))
    module.outputs[(NFT + " -j -f -", tx.json_input())] = ""
    module.commands = []
    backend.apply("ipv6", tx)
    assert backend.read("ipv6").chains == {}
    # what was read before the change is read again
    assert [argv for argv, _data in module.commands[1:]] == [[NFT, "-j", "list", "chains"]]
    (argv, data) = module.commands[0]
    assert argv == [NFT, "-j", "-f", "-"]
    assert json.loads(data) == {"nftables": [
        {"delete": {"rule": {"family": "ip6", "table": "extra", "chain": "out", "handle": 4}}},
        {"insert": {"rule": {"family": "inet", "table": "filter", "chain": "input", "comment": TAG,
                             "expr": rule_expr(AllowRule("ipv6", "in", "antrea-gw0", "echo-reply"))}}},
        {"insert": {"rule": {"family": "inet", "table": "filter", "chain": "output", "comment": TAG,
                             "expr": rule_expr(AllowRule("ipv6", "out", "antrea-gw0", "echo-request"))}}},
    ]}


def test_an_append_before_a_rule_names_its_handle_in_json(ruleset):
    tx = plan(ruleset, "ipv6", request(ruleset, "ipv6", ["eth1"], placement="append", roles=["prober"]))
    commands = json.loads(tx.json_input())["nftables"]
    assert [next(iter(command)) for command in commands] == ["add", "add", "insert"]
    assert commands[2]["insert"]["rule"]["handle"] == 3 and "handle" not in commands[0]["add"]["rule"]


def test_a_table_iptables_nft_save_cannot_show_is_read_with_nft():
    chains = {"nftables": [{"chain": {"family": "ip", "table": "mangle", "name": "PREROUTING", "handle": 1,
                                      "type": "filter", "hook": "prerouting", "prio": -150, "policy": "drop"}}]}
    module = FakeModule({
        "/usr/sbin/nft -j list chains": json.dumps(chains),
        "/usr/sbin/iptables-nft-save": "# Table `mangle' is incompatible, use 'nft' tool.\n",
        "/usr/sbin/ip6tables-nft-save": "",
        list_table("ip", "mangle"): json.dumps(chains),
    })
    assert list(NftablesBackend(module).read().chains) == [("ip", "mangle", "PREROUTING")]


def test_without_nft_a_table_only_nft_can_show_is_an_error():
    module = FakeModule({"/usr/sbin/iptables-nft-save": "# Table `mangle' is incompatible, use 'nft' tool.\n",
                         "/usr/sbin/ip6tables-nft-save": ""}, missing=["nft"])
    backend = NftablesBackend(module)
    assert not backend.installed()
    with pytest.raises(NlmError, match="iptables-nft-save says tables mangle are nftables tables it cannot show, "
                                       "and nft is not installed to read them: install the nftables package"):
        backend.read("ipv4")
    quiet = NftablesBackend(FakeModule({"/usr/sbin/iptables-nft-save": "", "/usr/sbin/ip6tables-nft-save": ""},
                                       missing=["nft"]))
    assert quiet.read("ipv4").chains == {}


def test_rules_iptables_nft_wrote_into_a_table_nft_extended_are_read_from_its_save():
    """nft shows an iptables rule only as opaque xt statements; the save of the same
    chain, rule by rule, says what it does."""
    listing = json.dumps({"nftables": [
        {"chain": {"family": "ip", "table": "filter", "name": "OUTPUT", "handle": 1, "type": "filter",
                   "hook": "output", "prio": 0, "policy": "accept"}},
        {"rule": {"family": "ip", "table": "filter", "chain": "OUTPUT", "handle": 2, "expr": [
            {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "antrea-gw0"}},
            {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "icmp"}},
            {"xt": {"type": "match", "name": "icmp"}}, {"counter": {"packets": 0, "bytes": 0}}, {"drop": None}]}},
    ]})
    parsed = parse_ruleset(listing)
    reply = _path.Packet.of(AllowRule("ipv4", "out", "antrea-gw0", "echo-reply"))
    request = _path.Packet.of(AllowRule("ipv4", "out", "antrea-gw0", "echo-request"))
    opaque = model(parsed, "ipv4", TAG)[0].chains["OUTPUT"]
    assert _path.walk(opaque, request).verdict == _path.UNKNOWN
    parsed.xt = {("ip", "filter"): {"INPUT": [], "OUTPUT": ["-o antrea-gw0 -p icmp -m icmp --icmp-type 0 -j DROP"]}}
    chain = model(parsed, "ipv4", TAG)[0].chains["OUTPUT"]
    assert _path.walk(chain, reply).verdict == _path.DROP
    assert _path.walk(chain, request).verdict == _path.ACCEPT
    # a save that does not list the chain's rules one for one is not used
    parsed.xt = {("ip", "filter"): {"OUTPUT": []}}
    assert _path.walk(model(parsed, "ipv4", TAG)[0].chains["OUTPUT"], request).verdict == _path.UNKNOWN
