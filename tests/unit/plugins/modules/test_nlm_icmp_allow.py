"""nlm_icmp_allow with a fake run_command: which commands run, with which input, and what it says.

The host here has iptables (nft and legacy) but no nft command; test_nlm_icmp_allow_nftables.py
has native nftables. iptables-legacy's tables are read only when the kernel lists one in
/proc/net/ip_tables_names (ip6_tables_names): the tests point those at files of their own.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.nodelatency.monitor.plugins.modules import nlm_icmp_allow

EMPTY = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\nCOMMIT\n"
ACCEPTING = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
TAG = "nodelatency.monitor"
SAVE = "/usr/sbin/iptables-nft-save"
SAVE6 = "/usr/sbin/ip6tables-nft-save"
IP = ["/usr/sbin/ip", "-j", "address", "show"]
# what `ip -j address show` prints (iproute2 6.1), shortened: gw0 holds 198.18.0.1 and 2001:db8::1
ADDRESSES = json.dumps([
    {"ifindex": 1, "ifname": "lo", "addr_info": [
        {"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host", "label": "lo"},
        {"family": "inet6", "local": "::1", "prefixlen": 128, "scope": "host"}]},
    {"ifindex": 3, "ifname": "gw0", "addr_info": [
        {"family": "inet", "local": "198.18.0.1", "prefixlen": 24, "scope": "global", "label": "gw0"},
        {"family": "inet6", "local": "2001:db8::1", "prefixlen": 64, "scope": "global"},
        {"family": "inet6", "local": "fe80::1", "prefixlen": 64, "scope": "link"}]},
])
# no test reads or writes the host's own boot files
pytestmark = pytest.mark.usefixtures("boot_files", "legacy_names", "no_firewalld")


@pytest.fixture
def run_module(run_module):
    """A host without nft: the iptables backends alone."""
    def run(main, args, binaries=None, **kwargs):
        return run_module(main, args, binaries=dict({"nft": None}, **(binaries or {})), **kwargs)
    return run


class FakeFirewall:
    """Answers what nlm_icmp_allow asks of the host, applying nothing: each ``*-save``
    prints what ``saves`` holds for it (nothing, as in a fresh namespace, when absent);
    after a restore, its save prints what ``after`` holds. ``ip`` prints ``addresses``."""

    def __init__(self, saves=None, after=None, fail=None, addresses="[]", version="iptables v1.8.9 (nf_tables)"):
        default = {"iptables-nft-save": EMPTY, "ip6tables-nft-save": EMPTY}
        self.saves = dict(saves if saves is not None else default)
        self.after = after or {}
        self.fail = fail or {}
        self.addresses = addresses
        self.version = version

    def __call__(self, argv, data):
        command = argv[0].rsplit("/", 1)[-1]
        if command in self.fail:
            return self.fail[command]
        if argv[1:] == ["--version"]:
            return 0, self.version + "\n", ""
        if argv[0] == IP[0] and argv[1:] == IP[1:]:
            return 0, self.addresses, ""
        if command.endswith("-save") and len(argv) == 1:
            return 0, self.saves.get(command, ""), ""
        if command.endswith("-restore") and argv[1:] == ["--test"]:
            return self.fail.get(command + " --test", (0, "", ""))
        if command.endswith("-restore"):
            save = command[:-len("restore")] + "save"
            self.saves[save] = self.after.get(save, self.saves.get(save, ""))
            return 0, "", ""
        raise AssertionError("unexpected command %r" % argv)


def rules_text(family_proto, match, types, interface="antrea-gw0"):
    tag = '-m comment --comment "%s"' % TAG
    return [
        "-A NLM-INPUT -i %s -p %s %s %d %s -j ACCEPT" % (interface, family_proto, match, types[0], tag),
        "-A NLM-INPUT -i %s -p %s %s %d %s -j ACCEPT" % (interface, family_proto, match, types[1], tag),
        "-A NLM-OUTPUT -o %s -p %s %s %d %s -j ACCEPT" % (interface, family_proto, match, types[0], tag),
        "-A NLM-OUTPUT -o %s -p %s %s %d %s -j ACCEPT" % (interface, family_proto, match, types[1], tag),
    ]


V4_RULES = rules_text("icmp", "-m icmp --icmp-type", (8, 0))
V4_JUMPS = ['-A INPUT -p icmp -m comment --comment "%s" -j NLM-INPUT' % TAG,
            '-A OUTPUT -p icmp -m comment --comment "%s" -j NLM-OUTPUT' % TAG]


def with_rules(rules, jumps):
    return ("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n"
            ":NLM-INPUT - [0:0]\n:NLM-OUTPUT - [0:0]\n"
            + "".join(line + "\n" for line in [jumps[0], jumps[1]] + rules) + "COMMIT\n")


V4_DONE = with_rules(V4_RULES, V4_JUMPS)

V4_TRANSACTION = "\n".join(
    ["*filter", ":NLM-INPUT - [0:0]", ":NLM-OUTPUT - [0:0]"]
    + V4_RULES[:2] + ["-I INPUT 1 " + V4_JUMPS[0][len("-A INPUT "):]]
    + V4_RULES[2:] + ["-I OUTPUT 1 " + V4_JUMPS[1][len("-A OUTPUT "):]]
    + ["COMMIT"]
) + "\n"
# iptables-nft-save is asked by both the iptables-nft backend and the nftables one (which
# tables are iptables-nft's), ip6tables-nft-save by the latter: each runs once, side by side
READS = sorted([[SAVE], [SAVE6], IP])


def test_present_reads_every_flavour_once_plans_and_restores_once(run_module):
    firewall = FakeFirewall(after={"iptables-nft-save": V4_DONE})
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]},
                     respond=firewall)
    # no save after the restore: the committed transaction is the plan
    assert sorted(run.argvs[:3]) == READS
    assert run.commands[3:] == [(["/usr/sbin/iptables-nft-restore", "--noflush", "--wait=30"], V4_TRANSACTION)]
    assert run.result["changed"] is True
    assert run.result["backend"] == "iptables-nft"
    assert run.result["rules"]["ipv4"]["added"] == (
        [":NLM-INPUT -"] + V4_RULES[:2] + [V4_JUMPS[0], ":NLM-OUTPUT -"] + V4_RULES[2:] + [V4_JUMPS[1]])
    assert run.result["rules"]["ipv4"]["removed"] == []
    assert run.result["rules"]["ipv4"]["present"] == [":NLM-INPUT -", ":NLM-OUTPUT -"] + V4_JUMPS + V4_RULES
    assert run.result["rules"]["ipv4"]["transaction"] == V4_TRANSACTION
    assert run.result["rules"]["ipv4"]["paths"] == [
        {"interface": "antrea-gw0", "direction": direction, "message": message, "verdict": "accept",
         "dropped_by": None}
        for direction, message in (("in", "echo-request"), ("in", "echo-reply"), ("out", "echo-request"),
                                   ("out", "echo-reply"))]
    assert "ipv6" not in run.result["rules"]
    assert run.result["persisted"] == []


def test_present_again_changes_nothing(run_module):
    firewall = FakeFirewall(saves={"iptables-nft-save": V4_DONE})
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]},
                     respond=firewall)
    assert sorted(run.argvs) == READS
    assert run.result["changed"] is False
    assert run.result["rules"]["ipv4"]["transaction"] == ""
    assert run.result["rules"]["ipv4"]["present"] == [":NLM-INPUT -", ":NLM-OUTPUT -"] + V4_JUMPS + V4_RULES
    assert run.result["backend"] == "iptables-nft"


def test_check_mode_with_diff_restores_nothing_and_shows_the_owned_rules(run_module):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]},
                     respond=FakeFirewall(), check_mode=True, diff=True)
    assert sorted(run.argvs) == READS
    assert run.result["changed"] is True
    assert run.result["rules"]["ipv4"]["transaction"] == V4_TRANSACTION
    assert run.result["diff"] == [{
        "before_header": "owned rules", "after_header": "owned rules",
        "before": "# ipv4\n",
        "after": "# ipv4\n" + "".join(line + "\n" for line in
                                      [":NLM-INPUT -", ":NLM-OUTPUT -"] + V4_JUMPS + V4_RULES),
    }]


def test_both_families_on_the_legacy_backend_named_explicitly(run_module, legacy_names):
    for path in legacy_names.values():
        path.write_text("filter\n")
    firewall = FakeFirewall(saves={"iptables-legacy-save": EMPTY, "ip6tables-legacy-save": EMPTY},
                            version="iptables v1.8.9 (legacy)")
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["lo"], "backend": "iptables-legacy",
                                           "roles": ["responder"], "chain_mode": "direct", "wait": 5},
                     respond=firewall)
    # every save is read side by side (in any order), then each family is restored on its own
    assert sorted(run.argvs[:5]) == sorted(READS + [["/usr/sbin/iptables-legacy-save"],
                                                    ["/usr/sbin/ip6tables-legacy-save"]])
    restores = [(argv, data) for argv, data in run.commands if argv[0].endswith("-restore")]
    assert [argv for argv, _data in restores] == [
        ["/usr/sbin/iptables-legacy-restore", "--noflush", "--wait=5"],
        ["/usr/sbin/ip6tables-legacy-restore", "--noflush", "--wait=5"],
    ]
    # the IPv4 restore cannot change the IPv6 legacy tables: their save is not read again
    assert run.argvs.count(["/usr/sbin/ip6tables-legacy-save"]) == 1
    assert restores[1][1] == (
        "*filter\n"
        '-I INPUT 1 -i lo -p ipv6-icmp -m icmp6 --icmpv6-type 128 -m comment --comment "%s" -j ACCEPT\n'
        '-I OUTPUT 1 -o lo -p ipv6-icmp -m icmp6 --icmpv6-type 129 -m comment --comment "%s" -j ACCEPT\n'
        "COMMIT\n" % (TAG, TAG))
    assert run.result["backend"] == "iptables-legacy"


def test_legacy_tables_are_not_read_when_the_kernel_lists_none(run_module):
    # a save of a table that does not exist would create it
    firewall = FakeFirewall(saves={"iptables-nft-save": "", "ip6tables-nft-save": "",
                                   "iptables-legacy-save": EMPTY, "ip6tables-legacy-save": EMPTY})
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["gw0"]}, respond=firewall)
    assert not any("legacy" in argv[0] for argv in run.argvs)
    # nothing filters: nothing is created
    assert run.result["changed"] is False and run.result["backend"] == ""


def test_legacy_tables_the_kernel_lists_without_iptables_legacy_save_are_a_clear_error(run_module, legacy_names):
    legacy_names["ipv4"].write_text("filter\nraw\n")
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["gw0"]}, respond=FakeFirewall(),
                     binaries={"iptables-legacy-save": None})
    assert run.failed
    assert run.result["msg"].startswith(
        "nlm_icmp_allow: iptables-legacy-save not found: install the iptables package (it provides "
        "iptables-legacy-save)")
    assert "the kernel holds iptables-legacy tables (filter, raw) in this network namespace" in run.result["msg"]
    assert run.commands == []


def test_absent_on_a_clean_host_changes_nothing(run_module):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "state": "absent"},
                     respond=FakeFirewall())
    assert run.result["changed"] is False
    assert sorted(run.argvs) == READS
    assert run.result["rules"]["ipv4"]["paths"] == [] and run.result["rules"]["ipv6"]["present"] == []


def test_absent_where_a_familys_commands_are_missing_has_nothing_to_remove(run_module):
    # a node without ip6tables holds no IPv6 rules of ours: switching off must not fail there
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "state": "absent",
                                           "backend": "iptables-nft"},
                     respond=FakeFirewall(), binaries={"ip6tables-nft-save": None, "ip6tables-nft-restore": None})
    assert not run.failed, run.result
    assert run.result["changed"] is False
    assert not any(argv[0].endswith("ip6tables-nft-save") for argv in run.argvs)


def test_absent_removes_rules_jumps_and_chains(run_module):
    firewall = FakeFirewall(saves={"iptables-nft-save": V4_DONE}, after={"iptables-nft-save": EMPTY})
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "state": "absent",
                                           "ip_versions": ["ipv4"]}, respond=firewall)
    assert run.result["changed"] is True
    (restore_input,) = [data for argv, data in run.commands if argv[0].endswith("-restore")]
    assert restore_input.splitlines() == (
        ["*filter"] + ["-D " + line[3:] for line in V4_RULES[:2]] + ["-D " + V4_JUMPS[0][3:], "-X NLM-INPUT"]
        + ["-D " + line[3:] for line in V4_RULES[2:]] + ["-D " + V4_JUMPS[1][3:], "-X NLM-OUTPUT", "COMMIT"])
    assert run.result["rules"]["ipv4"]["present"] == []
    assert sorted(run.result["rules"]["ipv4"]["removed"]) == sorted(
        V4_RULES + V4_JUMPS + [":NLM-INPUT -", ":NLM-OUTPUT -"])


def test_a_ruleset_filtering_only_ipv4_gets_nothing_for_ipv6(run_module):
    firewall = FakeFirewall(saves={"iptables-nft-save": EMPTY, "ip6tables-nft-save": ACCEPTING})
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"]}, respond=firewall)
    assert [argv[0] for argv in run.argvs if argv[0].endswith("-restore")] == ["/usr/sbin/iptables-nft-restore"]
    ipv6 = run.result["rules"]["ipv6"]
    assert (ipv6["added"], ipv6["present"], ipv6["transaction"]) == ([], [], "")
    assert {path["verdict"] for path in ipv6["paths"]} == {"accept"}
    assert run.result["rules"]["ipv4"]["transaction"] == V4_TRANSACTION


DROP_FOR_ONE_ADDRESS = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                        "-A INPUT -d 198.18.0.2/32 -p icmp -j DROP\nCOMMIT\n")


@pytest.mark.parametrize("addresses,binaries,changed", [
    # gw0 holds 198.18.0.1: the drop is for another address
    (ADDRESSES, {}, False),
    # gw0 holds 198.18.0.2: its probes are dropped
    (ADDRESSES.replace("198.18.0.1", "198.18.0.2"), {}, True),
    # this node's addresses are not known: the drop may hit its probes
    (ADDRESSES, {"ip": None}, True),
])
def test_this_nodes_addresses_decide_an_address_match(run_module, addresses, binaries, changed):
    firewall = FakeFirewall(saves={"iptables-nft-save": DROP_FOR_ONE_ADDRESS}, addresses=addresses)
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["gw0"], "ip_versions": ["ipv4"]}, respond=firewall,
                     binaries=binaries)
    assert run.result["changed"] is changed
    if changed:
        assert run.result["rules"]["ipv4"]["added"] == [
            ":NLM-INPUT -", '-A NLM-INPUT -i gw0 -p icmp -m icmp --icmp-type 8 -m comment --comment "%s" -j ACCEPT'
            % TAG, '-A NLM-INPUT -i gw0 -p icmp -m icmp --icmp-type 0 -m comment --comment "%s" -j ACCEPT' % TAG,
            '-A INPUT -p icmp -m comment --comment "%s" -j NLM-INPUT' % TAG]
    assert (IP in run.argvs) is ("ip" not in binaries)


def test_only_global_addresses_are_this_nodes_addresses_on_the_path(run_module):
    # a probe reaches gw0's global address, never its link-local one
    save6 = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
             "-A INPUT -d fe80::/10 -p ipv6-icmp -j DROP\n-A INPUT -d 2001:db8::2/128 -p ipv6-icmp -j DROP\nCOMMIT\n")
    firewall = FakeFirewall(saves={"ip6tables-nft-save": save6}, addresses=ADDRESSES)
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["gw0"], "ip_versions": ["ipv6"]}, respond=firewall)
    assert run.result["changed"] is False
    assert {path["verdict"] for path in run.result["rules"]["ipv6"]["paths"]} == {"accept"}


def test_an_explicit_backend_warns_where_another_flavour_still_drops(run_module, legacy_names):
    legacy_names["ipv4"].write_text("filter\n")
    firewall = FakeFirewall(saves={"iptables-nft-save": EMPTY, "iptables-legacy-save": ACCEPTING})
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["gw0"], "ip_versions": ["ipv4"], "roles": ["responder"],
                                           "backend": "iptables-legacy"}, respond=firewall)
    assert not run.failed and run.result["changed"] is False
    assert not any(argv[0].endswith("-restore") for argv in run.argvs)
    (request_path, reply_path) = run.result["rules"]["ipv4"]["paths"]
    assert request_path["verdict"] == "drop"
    assert request_path["dropped_by"] == {"flavour": "iptables-nft", "table": "ip filter", "chain": "INPUT",
                                          "hook": "input", "priority": 0, "position": None, "handle": None,
                                          "rule": "policy drop"}
    assert [warning for warning in run.result["warnings"] if warning.startswith("ipv4")] == [
        "ipv4 in gw0 echo-request is still dropped by iptables-nft ip filter INPUT: policy drop; "
        "backend iptables-legacy leaves the other flavours alone: use backend auto",
        "ipv4 out gw0 echo-reply is still dropped by iptables-nft ip filter OUTPUT: policy drop; "
        "backend iptables-legacy leaves the other flavours alone: use backend auto",
    ]


def test_auto_places_the_rules_in_both_iptables_flavours_where_each_drops(run_module, legacy_names):
    legacy_names["ipv4"].write_text("filter\n")
    legacy_drops_in = EMPTY.replace(":OUTPUT DROP", ":OUTPUT ACCEPT")
    firewall = FakeFirewall(saves={"iptables-nft-save": EMPTY, "iptables-legacy-save": legacy_drops_in})
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]},
                     respond=firewall)
    restores = [(argv[0], data) for argv, data in run.commands if argv[0].endswith("-restore")]
    assert [command for command, _data in restores] == ["/usr/sbin/iptables-legacy-restore",
                                                        "/usr/sbin/iptables-nft-restore"]
    assert "NLM-OUTPUT" not in restores[0][1] and restores[1][1] == V4_TRANSACTION
    assert run.result["backend"] == "iptables-legacy+iptables-nft"
    assert {path["verdict"] for path in run.result["rules"]["ipv4"]["paths"]} == {"accept"}


@pytest.mark.parametrize("interfaces,message", [
    (["eth/0"], "interface name 'eth/0' contains '/'"),
    (["a" * 16], "is 16 characters long; the kernel allows 1 to 15"),
    ([".."], "reserved by the kernel"),
    (["eth 0"], "contains ' '"),
    ([""], "non-empty string"),
    ([], "interfaces is empty"),
    # patterns: iptables reads a trailing + as a wildcard, nftables a *
    (["eth+"], "interface name 'eth+' is a pattern (a trailing '+' or a '*' matches many interfaces, a lone '+' "
               "every one): name each interface exactly"),
    (["+"], "interface name '+' is a pattern"),
    (["eth*"], "interface name 'eth*' is a pattern"),
    (["gw0", "vxlan*0"], "interface name 'vxlan*0' is a pattern"),
])
def test_invalid_interfaces_fail_before_any_command(run_module, interfaces, message):
    run = run_module(nlm_icmp_allow.main, {"interfaces": interfaces}, respond=FakeFirewall())
    assert run.failed
    assert run.result["msg"].startswith("nlm_icmp_allow: ")
    assert message in run.result["msg"]
    assert run.commands == []


def test_an_unusable_comment_fails_before_any_command(run_module):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["gw0"], "comment": 'a "quoted" tag'},
                     respond=FakeFirewall())
    assert run.failed and "comment" in run.result["msg"] and run.commands == []


def test_unknown_backend_is_refused_by_the_argument_spec(run_module):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["gw0"], "backend": "pf"}, respond=FakeFirewall())
    assert run.failed
    assert "backend" in run.result["msg"] and "iptables-nft" in run.result["msg"]
    assert run.commands == []


def test_not_root_says_become(run_module):
    denied = (4, "", "iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id: "
                     "Permission denied (you must be root)\n")
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["gw0"]},
                     respond=FakeFirewall(fail={"iptables-nft-save": denied}))
    assert run.failed
    assert run.result["msg"] == ("nlm_icmp_allow: iptables-nft-save failed (rc=4): "
                                 "run the task as root (become: true)")
    assert "Permission denied" in run.result["stderr"]


def test_a_failed_restore_is_reported_with_its_stderr(run_module):
    failure = (1, "", "iptables-restore: line 4 failed\n")
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["gw0"], "ip_versions": ["ipv4"]},
                     respond=FakeFirewall(fail={"iptables-nft-restore": failure}))
    assert run.failed
    assert run.result["msg"].startswith("nlm_icmp_allow: iptables-nft-restore failed (rc=1): see stderr")
    assert run.result["stderr"] == "iptables-restore: line 4 failed\n"
    assert run.result["rc"] == 1


def test_a_missing_interface_is_a_warning_not_a_failure(run_module):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["nlm-nosuch0"], "ip_versions": ["ipv4"]},
                     respond=FakeFirewall(), check_mode=True)
    assert not run.failed
    assert any("nlm-nosuch0 do not exist yet" in warning for warning in run.result["warnings"])


def test_persist_merges_the_owned_rules_into_the_boot_file_of_the_flavour_iptables_runs(run_module, boot_files):
    rules_v4 = boot_files / "rules.v4"
    rules_v4.write_text("# Generated by iptables-save v1.8.9\n" + EMPTY)
    firewall = FakeFirewall()
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]},
                     respond=firewall, diff=True)
    assert run.result["persisted"] == [str(rules_v4)]
    written = rules_v4.read_text()
    # owned chains declared after the others, jumps into INPUT and OUTPUT, the owned chains' rules last
    assert written == "# Generated by iptables-save v1.8.9\n" + V4_DONE
    # the boot file is restored with what `iptables` runs, and checked by it before it is written
    assert ["/usr/sbin/iptables", "--version"] in run.argvs
    assert [data for argv, data in run.commands if argv == ["/usr/sbin/iptables-nft-restore", "--test"]] == [written]
    assert run.result["diff"][1]["after"] == written


def test_a_boot_file_that_would_not_load_stops_the_run_before_the_firewall_changes(run_module, boot_files):
    rules_v4 = boot_files / "rules.v4"
    rules_v4.write_text(EMPTY)
    firewall = FakeFirewall(fail={"iptables-nft-restore --test": (2, "", "iptables-restore: line 9 failed\n")})
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]}, respond=firewall)
    assert run.failed
    assert run.result["stderr"] == "iptables-restore: line 9 failed\n"
    # the check came first: no transaction was committed, and the file is as it was
    assert [argv for argv in run.argvs if argv[0].endswith("-restore") and argv[1:] != ["--test"]] == []
    assert rules_v4.read_text() == EMPTY


@pytest.mark.parametrize("ufw_conf, warned", [("ENABLED=yes\n", True), ("ENABLED=no\n", False), (None, False)])
def test_an_enabled_ufw_without_a_boot_file_is_told_the_rules_do_not_survive_a_reboot(run_module, boot_files,
                                                                                      ufw_conf, warned):
    """ufw reloads only its own rules at boot; with no file of netfilter-persistent or
    iptables-services, nothing brings the owned rules back (the machine lab shows it)."""
    if ufw_conf is not None:
        (boot_files / "ufw.conf").write_text(ufw_conf)
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]},
                     respond=FakeFirewall())
    assert run.result["changed"] and run.result["persisted"] == []
    assert any("ufw loads this node's firewall at boot" in warning
               for warning in run.result.get("warnings", [])) == warned
    absent = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"],
                                              "state": "absent"}, respond=FakeFirewall())
    assert not any("ufw" in warning for warning in absent.result.get("warnings", []))


def test_a_legacy_warning_the_kernel_lists_no_table_for_stops_the_run(run_module):
    """iptables-nft-save's warning is read, not dropped: legacy tables it sees but the
    kernel's list in this namespace does not hold could not be read, and the run stops."""
    firewall = FakeFirewall()
    plain = firewall.__call__

    def warning_too(argv, data):
        rc, stdout, stderr = plain(argv, data)
        if argv[0].endswith("/iptables-nft-save"):
            stderr = "# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\n"
        return rc, stdout, stderr
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["gw0"]}, respond=warning_too)
    assert run.failed
    assert run.result["msg"].startswith("nlm_icmp_allow: iptables-nft-save warns that iptables-legacy tables are "
                                        "present, but ")
    assert not any(argv[0].endswith("-restore") for argv in run.argvs)
