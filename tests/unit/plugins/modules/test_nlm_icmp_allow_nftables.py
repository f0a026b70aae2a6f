"""nlm_icmp_allow and nlm_icmp_allow_info on native nftables, alone and beside iptables,
with a fake run_command answering from real ``nft -j`` captures; and the firewalld refusal."""

from __future__ import annotations

import json

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _firewalld, _icmp_allow
from ansible_collections.nodelatency.monitor.plugins.modules import nlm_icmp_allow, nlm_icmp_allow_info

TAG = "nodelatency.monitor"
# no test reads or writes the host's own boot files
pytestmark = pytest.mark.usefixtures("boot_files", "legacy_names", "no_firewalld")
EMPTY_SAVE = ""
DROPPING_SAVE = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
NFT = "/usr/sbin/nft"
SAVE = "/usr/sbin/iptables-nft-save"
SAVE6 = "/usr/sbin/ip6tables-nft-save"
IP = ["/usr/sbin/ip", "-j", "address", "show"]
CHAINS = [NFT, "-j", "list", "chains"]
JSON_INPUT = [NFT, "-j", "-f", "-"]
UNSHARE = "/usr/sbin/unshare"
# the boot file is checked as the boot loads it: into an empty ruleset, in a namespace of its own
BOOT_CHECK = [UNSHARE, "--net", "--", NFT, "-c", "-f", "-"]
READS = sorted([[SAVE], [SAVE6], CHAINS, IP])


class FakeHost:
    """iptables-nft and nft as one host answers them; applies nothing (nft lists
    ``after`` once something was written, if given). ``nft -j -f -`` either lists a
    table (a JSON list command) or changes the ruleset."""

    def __init__(self, fixture_text, ruleset="empty.json", save=EMPTY_SAVE, save6=EMPTY_SAVE, after=None,
                 check=(0, "", ""), texts="", live_check=(0, "", "")):
        self.ruleset = fixture_text("nftables/" + ruleset)
        self.check = check
        self.live_check = live_check
        self.after = fixture_text("nftables/" + after) if after else None
        self.saves = {"iptables-nft-save": save, "ip6tables-nft-save": save6}
        self.texts = texts
        self.changes = []

    def __call__(self, argv, data):
        command = argv[0].rsplit("/", 1)[-1]
        if argv == IP:
            return 0, "[]", ""
        if argv[1:] == ["--version"]:
            return 0, "iptables v1.8.9 (nf_tables)\n", ""
        if command.endswith("-save") and len(argv) == 1:
            return 0, self.saves.get(command, ""), ""
        if argv == CHAINS:
            return 0, self._listing(lambda item: "chain" in item), ""
        if argv == [NFT, "-a", "list", "ruleset"]:
            return 0, self.texts, ""
        if argv == JSON_INPUT and listed_table(data):
            family, name = listed_table(data)
            return 0, self._listing(lambda item: any((entry.get("family"), entry.get("table", entry.get("name")))
                                                     == (family, name) for entry in item.values())), ""
        if argv == BOOT_CHECK:
            return self.check
        if argv == [NFT, "-c", "-f", "-"]:
            return self.live_check
        if argv == JSON_INPUT or command.endswith("-restore"):
            self.changes.append((argv, data))
            self.ruleset = self.after or self.ruleset
            return 0, "", ""
        raise AssertionError("unexpected command %r" % argv)

    def _listing(self, wanted):
        """The part of the captured ruleset that a narrower ``nft -j list`` prints."""
        items = json.loads(self.ruleset)["nftables"]
        return json.dumps({"nftables": [item for item in items if "metainfo" in item or wanted(item)]})

    def keep(self, wanted):
        """Keep only the tables for which ``wanted(family, name)`` holds."""
        self.ruleset = self._listing(lambda item: all(
            wanted(entry.get("family"), entry.get("table", entry.get("name"))) for entry in item.values()))


def listed_table(data):
    """(family, name) of the table a JSON list command names, or None for another input."""
    commands = json.loads(data)["nftables"] if data else []
    if len(commands) == 1 and "list" in commands[0]:
        table = commands[0]["list"]["table"]
        return table["family"], table["name"]
    return None


def changes(run):
    """The nft -j -f - inputs that change the ruleset, as their JSON commands."""
    return [json.loads(data)["nftables"] for argv, data in run.commands if argv == JSON_INPUT
            and not listed_table(data)]


def native_only(table_family, name):
    return (table_family, name) != ("ip", "filter")


def test_the_native_tables_are_listed_one_by_one_and_iptables_nft_tables_not_at_all(run_module, fixture_text):
    host = FakeHost(fixture_text, ruleset="ruleset.json", save=fixture_text("nftables/iptables-nft-save.txt"),
                    texts=fixture_text("nftables/ruleset.txt"))
    run = run_module(nlm_icmp_allow_info.main, {"interfaces": ["antrea-gw0"], "backend": "nftables"}, respond=host)
    # iptables-nft-save claims ip filter; a table named ip6 extra cannot be ip6tables-nft's.
    # Both families are reported from one listing.
    assert sorted(run.argvs[:4]) == READS
    assert sorted(listed_table(data) for argv, data in run.commands[4:6]) == [("inet", "filter"), ("ip6", "extra")]
    assert run.argvs[4:] == [JSON_INPUT, JSON_INPUT, [NFT, "-a", "list", "ruleset"]]
    report = run.result["icmp_allow"]
    assert report["backend"] == "iptables-nft+nftables"
    (request, reply, out_request, out_reply) = report["ipv6"]["rules"]
    assert [(entry["flavour"], entry["table"], entry["chain"]) for entry in out_request["filters"]] == [
        ("nftables", "inet filter", "output"), ("nftables", "ip6 extra", "out")]
    # named as nft -a prints the table
    assert request["filters"][0]["rule_chain"] == "inet filter input"
    assert (request["present"], request["position"], request["filters"][0]["handle"]) == (True, 8, 21)
    assert reply["dropped_by"] == {"flavour": "nftables", "table": "inet filter", "chain": "input", "hook": "input",
                                   "priority": 0, "position": None, "handle": None, "rule": "policy drop"}
    # the reply goes out: "someone else" accepts it, and ip6 extra out too (with its own owned copy)
    assert (out_reply["effective"], out_reply["needed"], out_reply["copies"]) == (True, False, 1)
    ipv4_request = report["ipv4"]["rules"][0]
    # ip filter is iptables-nft's: it drops the request, and nftables is the backend asked for
    assert [(entry["flavour"], entry["needs_rule"], entry["verdict"]) for entry in ipv4_request["filters"]] == [
        ("iptables-nft", False, "drop"), ("nftables", True, "accept")]
    assert ipv4_request["dropped_by"]["rule"] == "-A INPUT -p icmp -j DROP"


def test_auto_asks_nft_nothing_more_when_nftables_has_only_iptables_nft_tables(run_module, fixture_text):
    host = FakeHost(fixture_text, ruleset="ruleset.json", save=fixture_text("nftables/iptables-nft-save.txt"))
    host.keep(lambda table_family, name: not native_only(table_family, name))
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]}, respond=host)
    assert run.result["backend"] == "iptables-nft"
    # the save that tells nft's tables apart is the one the filter table is planned from
    assert sorted(run.argvs[:4]) == READS
    assert run.argvs[4:] == [["/usr/sbin/iptables-nft-restore", "--noflush", "--wait=30"]]
    assert run.commands[4][1] == (
        "*filter\n:NLM-INPUT - [0:0]\n"
        '-A NLM-INPUT -i antrea-gw0 -p icmp -m icmp --icmp-type 8 -m comment --comment "%s" -j ACCEPT\n'
        '-A NLM-INPUT -i antrea-gw0 -p icmp -m icmp --icmp-type 0 -m comment --comment "%s" -j ACCEPT\n'
        '-I INPUT 1 -p icmp -m comment --comment "%s" -j NLM-INPUT\nCOMMIT\n' % (TAG, TAG, TAG))


def test_auto_on_a_native_nftables_host_writes_one_nft_transaction_per_family(run_module, fixture_text):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "roles": ["responder"]},
                     respond=FakeHost(fixture_text))
    assert run.result["backend"] == "nftables"
    assert sorted(run.argvs[:4]) == READS
    # the only table, inet filter, cannot be iptables-nft's: it is listed once, both families are
    # planned from that listing before anything changes, then each family is one transaction
    assert [listed_table(data) for argv, data in run.commands[4:]] == [("inet", "filter"), None, None]
    assert run.argvs[4:] == [JSON_INPUT] * 3
    request = {"family": "inet", "table": "filter", "chain": "input", "comment": TAG}
    reply = {"family": "inet", "table": "filter", "chain": "output", "comment": TAG}
    assert [[command["insert"]["rule"]["chain"] for command in transaction] for transaction in changes(run)] == [
        ["input", "output"], ["input", "output"]]
    first = changes(run)[0]
    assert {key: first[0]["insert"]["rule"][key] for key in request} == request
    assert {key: first[1]["insert"]["rule"][key] for key in reply} == reply
    assert first[0]["insert"]["rule"]["expr"][1] == {
        "match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "type"}}, "right": "echo-request"}}
    assert run.result["changed"] is True
    assert run.result["rules"]["ipv4"]["transaction"] == (
        'insert rule inet filter input iifname "antrea-gw0" icmp type echo-request accept comment "%s"\n'
        'insert rule inet filter output oifname "antrea-gw0" icmp type echo-reply accept comment "%s"\n' % (TAG, TAG))
    assert run.result["rules"]["ipv6"]["transaction"] == (
        'insert rule inet filter input iifname "antrea-gw0" icmpv6 type echo-request accept comment "%s"\n'
        'insert rule inet filter output oifname "antrea-gw0" icmpv6 type echo-reply accept comment "%s"\n'
        % (TAG, TAG))


def test_check_mode_reads_only_and_predicts_the_rules(run_module, fixture_text):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]},
                     respond=FakeHost(fixture_text), check_mode=True, diff=True)
    assert changes(run) == []
    assert run.result["changed"] is True
    (rules,) = run.result["diff"]
    assert rules["before"] == "# ipv4\n"
    assert rules["after"].splitlines()[1:] == [
        'inet filter input iifname "antrea-gw0" icmp type echo-request accept comment "%s"' % TAG,
        'inet filter input iifname "antrea-gw0" icmp type echo-reply accept comment "%s"' % TAG,
        'inet filter output oifname "antrea-gw0" icmp type echo-request accept comment "%s"' % TAG,
        'inet filter output oifname "antrea-gw0" icmp type echo-reply accept comment "%s"' % TAG,
    ]


def test_auto_ensures_both_when_iptables_also_filters(run_module, fixture_text):
    host = FakeHost(fixture_text, save=DROPPING_SAVE)
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]}, respond=host)
    assert run.result["backend"] == "iptables-nft+nftables"
    assert [argv[0] for argv, data in host.changes] == ["/usr/sbin/iptables-nft-restore", NFT]
    added = run.result["rules"]["ipv4"]["added"]
    # iptables-nft's OUTPUT accepts: only INPUT gets rules; inet filter drops both ways
    assert [line.split(" ", 2)[1] for line in added if line.startswith("-A")] == ["NLM-INPUT"] * 2 + ["INPUT"]
    assert sum(line.startswith("inet filter ") for line in added) == 4
    assert {path["verdict"] for path in run.result["rules"]["ipv4"]["paths"]} == {"accept"}


def test_absent_on_a_host_where_only_nftables_holds_owned_rules(run_module, fixture_text):
    host = FakeHost(fixture_text, ruleset="ruleset.json", save=fixture_text("nftables/iptables-nft-save.txt"),
                    after="empty.json")
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "state": "absent"}, respond=host)
    assert run.result["backend"] == "nftables"
    assert changes(run) == [
        [{"delete": {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": handle}}}
         for handle in (18, 19, 20, 23)],
        [{"delete": {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 21}}},
         {"delete": {"rule": {"family": "ip6", "table": "extra", "chain": "out", "handle": 4}}}]]
    assert run.result["rules"]["ipv4"]["transaction"] == "".join(
        "delete rule inet filter input handle %d\n" % handle for handle in (18, 19, 20, 23))
    assert run.result["rules"]["ipv6"]["transaction"] == (
        "delete rule inet filter input handle 21\ndelete rule ip6 extra out handle 4\n")
    assert run.result["rules"]["ipv6"]["present"] == []


def test_an_incompatible_table_iptables_nft_save_names_is_read_and_changed_through_nft(run_module, fixture_text):
    """iptables-nft-save prints no section for a table it cannot show, only a note:
    nft lists that table, and its rules go in with nft."""
    host = FakeHost(fixture_text, ruleset="ruleset.json",
                    save="# Table `filter' is incompatible, use 'nft' tool.\n")
    host.keep(lambda table_family, name: table_family == "ip")
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"],
                                           "roles": ["responder"]}, respond=host)
    assert [listed_table(data) for argv, data in run.commands if argv == JSON_INPUT and listed_table(data)] == [
        ("ip", "filter")]
    assert run.result["backend"] == "nftables"
    assert run.result["rules"]["ipv4"]["transaction"] == (
        'insert rule ip filter INPUT iifname "antrea-gw0" icmp type echo-request accept comment "%s"\n' % TAG)
    assert not any(argv[0].endswith("-restore") for argv in run.argvs)


@pytest.mark.parametrize("placement,chains", [
    # on top of pre, the allow rule skips the mark that input accepts on: input needs one too
    ("insert", ["pre", "input"]),
    # at the end of pre, the mark is set before it: input accepts as before
    ("append", ["pre"]),
])
def test_a_rule_that_skips_a_mark_a_later_filter_accepts_on_makes_that_filter_need_one(
        run_module, fixture_text, placement, chains):
    host = FakeHost(fixture_text)
    host.ruleset = json.dumps(json.loads(fixture_text("nftables/cases.json"))["mark-then-accept"])
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["gw0"], "ip_versions": ["ipv4"], "roles": ["prober"],
                                           "placement": placement}, respond=host)
    (transaction,) = changes(run)
    assert [command[next(iter(command))]["rule"]["chain"] for command in transaction] == chains
    assert {path["verdict"] for path in run.result["rules"]["ipv4"]["paths"]} == {"accept"}


# After `nft -f` of: table ip filter { chain INPUT { type filter hook input priority 10;
# policy drop; iifname "lo" accept } }, nft 1.0.6 lists the chain as below, and
# iptables-nft-save 1.8.9 prints a note and a *filter section without it.
TAINTED_RULESET = json.dumps({"nftables": [
    {"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
    {"table": {"family": "ip", "name": "filter", "handle": 1}},
    {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "handle": 1, "type": "filter", "hook": "input",
               "prio": 10, "policy": "drop"}},
    {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "handle": 2,
              "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lo"}},
                       {"accept": None}]}}]})
TAINTED_SAVE = """# Table `filter' contains incompatible base-chains, use 'nft' tool to list them.
# Generated by iptables-nft-save v1.8.9 (nf_tables) on Tue Dec  1 13:28:55 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
# Completed on Tue Dec  1 13:28:55 2026
"""


def test_a_native_base_chain_in_a_table_iptables_nft_save_also_prints_is_on_the_path(run_module, fixture_text):
    host = FakeHost(fixture_text, save=TAINTED_SAVE)
    host.ruleset = TAINTED_RULESET
    run = run_module(nlm_icmp_allow_info.main, {"interfaces": ["gw0"], "ip_versions": ["ipv4"],
                                                "roles": ["responder"]}, respond=host)
    request = run.result["icmp_allow"]["ipv4"]["rules"][0]
    assert request["verdict"] == "drop" and request["needed"] is True


def test_tables_that_may_be_iptables_nft_s_without_its_save_stop_the_run(run_module, fixture_text):
    host = FakeHost(fixture_text)
    # nft lists ip6 filter (and ip filter, inet native): ip6tables-nft made it, and only it can read it
    host.ruleset = fixture_text("iptables/nft-list-chains.json")
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"]}, respond=host,
                     binaries={"ip6tables-nft-save": None})
    assert run.failed
    assert run.result["msg"].startswith("nlm_icmp_allow: ip6tables-nft-save not found: install the iptables package "
                                        "(it provides ip6tables-nft-save)")
    assert "nftables holds ip6 tables named filter" in run.result["msg"]
    assert host.changes == []
    # without IPv6 the IPv4 tables are read as always
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]}, respond=host,
                     binaries={"ip6tables-nft-save": None}, check_mode=True)
    assert not run.failed


def test_a_named_nftables_backend_reads_but_leaves_iptables_alone(run_module, fixture_text):
    host = FakeHost(fixture_text, save=DROPPING_SAVE)
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"],
                                           "roles": ["responder"], "backend": "nftables"}, respond=host)
    assert [argv[0] for argv, data in host.changes] == [NFT]
    assert run.result["backend"] == "nftables"
    assert [warning for warning in run.result["warnings"] if warning.startswith("ipv4")] == [
        "ipv4 in antrea-gw0 echo-request is still dropped by iptables-nft ip filter INPUT: policy drop; backend "
        "nftables leaves the other flavours alone: use backend auto"]


@pytest.mark.parametrize("backend, binary, message", [
    ("nftables", "nft", "nft not found: install the nftables package, or choose another backend"),
    ("iptables-legacy", "iptables-legacy-save",
     "iptables-legacy-save not found: install the iptables package (it provides iptables-legacy-save)"),
])
def test_a_named_backend_that_is_not_installed_fails_before_reading(run_module, fixture_text, backend, binary,
                                                                    message):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "backend": backend},
                     respond=FakeHost(fixture_text), binaries={binary: None})
    assert run.failed
    assert run.result["msg"] == "nlm_icmp_allow: " + message
    assert run.commands == []


def test_info_reports_both_backends(run_module, fixture_text):
    run = run_module(nlm_icmp_allow_info.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"],
                                                "roles": ["responder"]},
                     respond=FakeHost(fixture_text, save=DROPPING_SAVE))
    report = run.result["icmp_allow"]
    assert report["backend"] == "iptables-nft+nftables"
    request, reply = report["ipv4"]["rules"]
    assert [(entry["flavour"], entry["table"], entry["chain"], entry["policy"], entry["needs_rule"])
            for entry in request["filters"]] == [("iptables-nft", "ip filter", "INPUT", "drop", True),
                                                 ("nftables", "inet filter", "input", "drop", True)]
    assert (request["verdict"], request["effective"], request["shadowed_by"], request["present"]) == (
        "drop", False, "iptables-nft ip filter INPUT: policy drop", False)
    assert request["dropped_by"]["flavour"] == "iptables-nft"
    assert [(entry["flavour"], entry["verdict"]) for entry in reply["filters"]] == [
        ("iptables-nft", "accept"), ("nftables", "drop")]
    assert reply["dropped_by"] == {"flavour": "nftables", "table": "inet filter", "chain": "output",
                                   "hook": "output", "priority": 0, "position": None, "handle": None,
                                   "rule": "policy drop"}
    assert report["all_effective"] is False and report["firewalld_running"] is False


@pytest.mark.parametrize("backend", ["nftables", "iptables-legacy"])
@pytest.mark.parametrize("state", ["present", "absent"])
def test_a_raw_backend_is_refused_where_firewalld_runs_before_any_command(run_module, fixture_text, monkeypatch,
                                                                          backend, state):
    monkeypatch.setattr(_icmp_allow, "firewalld_running", lambda table_here=None: True)
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "backend": backend, "state": state},
                     respond=FakeHost(fixture_text))
    assert run.failed
    assert run.result["msg"].startswith("nlm_icmp_allow: firewalld is running in this network namespace, and "
                                        "backend %s would change its tables behind its back" % backend)
    assert "use backend auto or firewalld" in run.result["msg"]
    assert run.commands == []


@pytest.mark.parametrize("state", ["present", "absent"])
def test_backend_auto_where_firewalld_runs_asks_firewalld_first(run_module, fixture_text, monkeypatch, state):
    """A firewalld still starting stops the run before any firewall command; the
    firewalld machine lab shows the backend at work."""
    monkeypatch.setattr(_icmp_allow, "firewalld_running", lambda table_here=None: True)
    monkeypatch.setattr(_firewalld.Daemon, "state", lambda self: "INIT")
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "state": state},
                     respond=FakeHost(fixture_text))
    assert run.failed and "firewalld is in state INIT, not RUNNING; nothing was changed" in run.result["msg"]
    assert run.commands == []


def test_backend_firewalld_where_none_runs_is_refused(run_module, fixture_text):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "backend": "firewalld"},
                     respond=FakeHost(fixture_text))
    assert run.failed and "no firewalld runs in this network namespace" in run.result["msg"]
    assert run.commands == []


CONF = "#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n}\n"
BEGIN = "# BEGIN nodelatency.monitor nlm_icmp_allow rules tagged %s (this block is rewritten by the module)" % TAG


def test_persist_checks_and_writes_the_block_into_the_nftables_configuration(run_module, fixture_text, boot_files):
    conf = boot_files / "nftables.conf"
    conf.write_text(CONF)
    host = FakeHost(fixture_text, ruleset="ruleset.json")
    host.keep(native_only)
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "roles": ["responder"],
                                           "ip_versions": ["ipv4"]}, respond=host, diff=True)
    assert run.result["persisted"] == [str(conf)]
    written = conf.read_text()
    assert written.startswith(CONF + BEGIN + "\n")
    block = written[len(CONF):].splitlines()[1:-1]
    # the live owned rules of both families, each chain's in its order: the prober's
    # replies and the tagged rule the module would not write are gone
    assert block == [
        'insert rule inet filter input iifname "antrea-gw0" icmpv6 type echo-request accept comment "%s"' % TAG,
        'insert rule inet filter input iifname "eth*" icmp type echo-request accept comment "%s"' % TAG,
        'insert rule inet filter input iifname "antrea-gw0" icmp type echo-request accept comment "%s"' % TAG,
        'insert rule inet filter output oifname "antrea-gw0" icmp type echo-reply accept comment "%s"' % TAG,
        'insert rule ip6 extra out oifname "antrea-gw0" icmpv6 type echo-reply accept comment "%s"' % TAG,
    ]
    checks = [data for argv, data in run.commands if argv == BOOT_CHECK]
    assert checks == [written]
    assert run.result["diff"][1] == {"before_header": str(conf), "after_header": str(conf),
                                     "before": CONF, "after": written}


def test_persist_in_check_mode_writes_nothing(run_module, fixture_text, boot_files):
    conf = boot_files / "nftables.conf"
    conf.write_text(CONF)
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]},
                     respond=FakeHost(fixture_text), check_mode=True)
    assert run.result["changed"] is True and run.result["persisted"] == [str(conf)]
    assert conf.read_text() == CONF


def test_a_configuration_nft_cannot_load_is_not_written(run_module, fixture_text, boot_files):
    conf = boot_files / "nftables.conf"
    conf.write_text(CONF)
    refused = (1, "", "Error: No such file or directory; did you mean table 'filter' in family inet?\n")
    host = FakeHost(fixture_text, after="ruleset.json", check=refused)
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]}, respond=host)
    assert run.failed
    assert run.result["msg"].startswith("nlm_icmp_allow: %s with the owned rules would not load at boot (" % conf)
    assert run.result["msg"].endswith("nothing was changed: fix the file, or set persist to false")
    assert run.result["stderr"] == refused[2]
    assert conf.read_text() == CONF
    # checked before the live ruleset changed
    assert host.changes == []


def test_without_a_namespace_of_its_own_the_boot_file_is_checked_live(run_module, fixture_text, boot_files):
    conf = boot_files / "nftables.conf"
    conf.write_text(CONF)
    host = FakeHost(fixture_text, after="ruleset.json", check=(1, "", "unshare: unshare failed: Operation not permitted\n"))
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]}, respond=host)
    assert not run.failed, run.result
    assert [argv for argv, _data in run.commands if argv[-3:] == ["-c", "-f", "-"]] == [BOOT_CHECK, [NFT, "-c", "-f", "-"]]
    conf.write_text(CONF)
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]},
                     respond=FakeHost(fixture_text, after="ruleset.json"), binaries={"nft": NFT, "unshare": None})
    assert [argv for argv, _data in run.commands if argv[-3:] == ["-c", "-f", "-"]] == [[NFT, "-c", "-f", "-"]]


def test_persist_true_without_a_boot_file_fails_before_changing_anything(run_module, fixture_text):
    host = FakeHost(fixture_text)
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "persist": True}, respond=host)
    assert run.failed
    assert "persist is true, but none of" in run.result["msg"]
    assert "so nothing restores the nftables rules at boot" in run.result["msg"]
    assert host.changes == []


@pytest.mark.parametrize("persist", ["sometimes", 2, ["auto"]])
def test_an_unknown_persist_value_fails_before_any_command(run_module, fixture_text, persist):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "persist": persist},
                     respond=FakeHost(fixture_text))
    assert run.failed and "persist must be auto, true or false, not" in run.result["msg"]
    assert run.commands == []
