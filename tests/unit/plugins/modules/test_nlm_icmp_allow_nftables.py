"""nlm_icmp_allow and nlm_icmp_allow_info on native nftables, alone and beside iptables,
with a fake run_command answering from real ``nft -j`` captures; and the firewalld refusal."""

from __future__ import annotations

import json

import pytest

from ansible_collections.nodelatency.monitor.plugins.module_utils import _icmp_allow
from ansible_collections.nodelatency.monitor.plugins.modules import nlm_icmp_allow, nlm_icmp_allow_info

TAG = "nodelatency.monitor"
# no test reads or writes the host's own boot files
pytestmark = pytest.mark.usefixtures("boot_files")
EMPTY_SAVE = ""
DROPPING_SAVE = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
NFT = "/usr/sbin/nft"


class FakeHost:
    """iptables-nft and nft as one host answers them; applies nothing (nft prints
    ``after`` once something was written, if given)."""

    def __init__(self, fixture_text, ruleset="empty.json", save=EMPTY_SAVE, after=None, check=(0, "", "")):
        self.ruleset = fixture_text("nftables/" + ruleset)
        self.check = check
        self.after = fixture_text("nftables/" + after) if after else None
        self.save = save

    def __call__(self, argv, data):
        command = argv[0].rsplit("/", 1)[-1]
        if argv[1:] == ["--version"]:
            return 0, "iptables v1.8.9 (nf_tables)\n", ""
        if command.endswith("-save"):
            return 0, self.save if argv[1:] == ["-t", "filter"] else "", ""
        if argv == [NFT, "-j", "list", "chains"]:
            return 0, self._listing(lambda item: "chain" in item), ""
        if argv[:4] == [NFT, "-j", "list", "table"] and len(argv) == 6:
            return 0, self._listing(lambda item: any((entry.get("family"), entry.get("table", entry.get("name")))
                                                     == tuple(argv[4:]) for entry in item.values())), ""
        if argv == [NFT, "-c", "-f", "-"]:
            return self.check
        if argv == [NFT, "-f", "-"] or command.endswith("-restore"):
            self.ruleset = self.after or self.ruleset
            return 0, "", ""
        raise AssertionError("unexpected command %r" % argv)

    def _listing(self, wanted):
        """The part of the captured ruleset that a narrower ``nft -j list`` prints."""
        items = json.loads(self.ruleset)["nftables"]
        return json.dumps({"nftables": [item for item in items if "metainfo" in item or wanted(item)]})


@pytest.fixture(autouse=True)
def no_firewalld(monkeypatch):
    monkeypatch.setattr(_icmp_allow, "firewalld_running", lambda: False)


def nft_reads(count):
    """``count`` reads of the native ruleset of a host whose only table is inet filter: no
    ip or ip6 table exists, so no iptables-nft listing is needed to tell which are native."""
    return [[NFT, "-j", "list", "chains"], [NFT, "-j", "list", "table", "inet", "filter"]] * count


def test_the_native_tables_are_listed_one_by_one_and_iptables_nft_tables_not_at_all(run_module, fixture_text):
    host = FakeHost(fixture_text, ruleset="ruleset.json", save=fixture_text("nftables/iptables-nft-save.txt"))
    run = run_module(nlm_icmp_allow_info.main, {"interfaces": ["antrea-gw0"], "backend": "nftables"}, respond=host)
    # iptables-nft-save claims ip filter; a table named ip6 extra cannot be ip6tables-nft's.
    # Both families are reported from one listing.
    assert run.argvs == [[NFT, "-j", "list", "chains"], ["/usr/sbin/iptables-nft-save", "-t", "filter"],
                         [NFT, "-j", "list", "table", "inet", "filter"],
                         [NFT, "-j", "list", "table", "ip6", "extra"]]
    assert {entry["chain"] for entry in run.result["icmp_allow"]["ipv6"]["base_chains"]} == {
        "inet filter input", "inet filter output", "ip6 extra out"}


def test_auto_asks_iptables_nothing_more_when_nftables_has_only_iptables_nft_tables(run_module, fixture_text):
    host = FakeHost(fixture_text, ruleset="ruleset.json", save=fixture_text("nftables/iptables-nft-save.txt"))
    host.ruleset = host._listing(lambda item: any(entry.get("family") == "ip" for entry in item.values()))
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]}, respond=host)
    assert run.result["backend"] == "iptables-nft"
    # the save that tells nft's tables apart is the one the filter table is planned from
    save = ["/usr/sbin/iptables-nft-save", "-t", "filter"]
    assert run.argvs == [["/usr/sbin/iptables", "--version"], [NFT, "-j", "list", "chains"], save,
                         ["/usr/sbin/iptables-nft-restore", "--noflush", "--wait=30"]]


def test_auto_on_a_native_nftables_host_writes_one_nft_transaction_per_family(run_module, fixture_text):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "roles": ["responder"]},
                     respond=FakeHost(fixture_text))
    assert run.result["backend"] == "nftables"
    # the iptables tables are saved side by side (in either order) to see that they are empty
    saves = [["/usr/sbin/iptables-nft-save", "-t", "filter"], ["/usr/sbin/ip6tables-nft-save", "-t", "filter"]]
    assert sorted(run.argvs[3:5]) == sorted(saves)
    assert run.argvs[:3] + run.argvs[5:] == ([["/usr/sbin/iptables", "--version"]] + nft_reads(1)
                                             + [[NFT, "-f", "-"]] + nft_reads(1) + [[NFT, "-f", "-"]])
    transactions = [data for argv, data in run.commands if argv == [NFT, "-f", "-"]]
    assert transactions == [
        'insert rule inet filter input iifname "antrea-gw0" icmp type echo-request accept comment "%s"\n'
        'insert rule inet filter output oifname "antrea-gw0" icmp type echo-reply accept comment "%s"\n' % (TAG, TAG),
        'insert rule inet filter input iifname "antrea-gw0" icmpv6 type echo-request accept comment "%s"\n'
        'insert rule inet filter output oifname "antrea-gw0" icmpv6 type echo-reply accept comment "%s"\n'
        % (TAG, TAG),
    ]
    assert run.result["changed"] is True
    assert run.result["rules"]["ipv6"]["transaction"] == transactions[1]


def test_check_mode_reads_only_and_predicts_the_rules(run_module, fixture_text):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]},
                     respond=FakeHost(fixture_text), check_mode=True, diff=True)
    assert [NFT, "-f", "-"] not in run.argvs
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
    assert [argv[0] for argv in run.argvs if argv[0].endswith("-restore") or argv == [NFT, "-f", "-"]] == [
        "/usr/sbin/iptables-nft-restore", NFT]
    added = run.result["rules"]["ipv4"]["added"]
    assert [line.split(" ", 2)[1] for line in added if line.startswith("-A")] == ["NLM-INPUT"] * 2 + ["NLM-OUTPUT"] * 2 \
        + ["INPUT", "OUTPUT"]
    assert sum(line.startswith("inet filter ") for line in added) == 4


def test_absent_on_a_host_where_only_nftables_holds_owned_rules(run_module, fixture_text):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "state": "absent"},
                     respond=FakeHost(fixture_text, ruleset="ruleset.json", after="empty.json"))
    assert run.result["backend"] == "nftables"
    transactions = [data for argv, data in run.commands if argv == [NFT, "-f", "-"]]
    assert transactions == ["".join("delete rule inet filter input handle %d\n" % handle
                                    for handle in (18, 19, 20, 23))]
    assert run.result["rules"]["ipv6"]["present"] == []


def test_a_named_nftables_backend_without_nft_names_the_package(run_module, fixture_text):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["gw0"], "backend": "nftables"},
                     respond=FakeHost(fixture_text), binaries={"nft": None})
    assert run.failed
    assert run.result["msg"] == ("nlm_icmp_allow: nft not found: install the nftables package, or choose an "
                                 "iptables backend")
    assert run.commands == []


def test_info_reports_both_backends(run_module, fixture_text):
    run = run_module(nlm_icmp_allow_info.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"],
                                                "roles": ["responder"]},
                     respond=FakeHost(fixture_text, save=DROPPING_SAVE))
    report = run.result["icmp_allow"]
    assert report["backend"] == "iptables-nft+nftables"
    assert [(rule["backend"], rule["chain"], rule["effective"], rule["shadowed_by"])
            for rule in report["ipv4"]["rules"]] == [
        ("iptables-nft", None, False, "-P INPUT DROP"),
        ("iptables-nft", None, True, None),
        ("nftables", "inet filter input", False, "inet filter input policy drop"),
        ("nftables", "inet filter output", False, "inet filter output policy drop"),
    ]
    assert report["ipv4"]["base_chains"] == [{"chain": "inet filter input", "hook": "input", "policy": "drop"},
                                             {"chain": "inet filter output", "hook": "output", "policy": "drop"}]
    assert report["all_effective"] is False and report["firewalld_running"] is False


@pytest.mark.parametrize("backend", ["auto", "nftables", "iptables-legacy"])
@pytest.mark.parametrize("state", ["present", "absent"])
def test_firewalld_is_refused_with_what_to_do_before_any_command(run_module, fixture_text, monkeypatch,
                                                                 backend, state):
    monkeypatch.setattr(_icmp_allow, "firewalld_running", lambda: True)
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "backend": backend, "state": state},
                     respond=FakeHost(fixture_text))
    assert run.failed
    assert run.result["msg"].startswith("nlm_icmp_allow: firewalld is running in this network namespace")
    assert "--remove-icmp-block=echo-request" in run.result["msg"]
    assert run.commands == []


CONF = "#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n}\n"
BEGIN = "# BEGIN nodelatency.monitor nlm_icmp_allow rules tagged %s (this block is rewritten by the module)" % TAG


def test_persist_checks_and_writes_the_block_into_the_nftables_configuration(run_module, fixture_text, boot_files):
    conf = boot_files / "nftables.conf"
    conf.write_text(CONF)
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "roles": ["responder"],
                                           "ip_versions": ["ipv4"]},
                     respond=FakeHost(fixture_text, ruleset="ruleset.json"), diff=True)
    assert run.result["persisted"] == [str(conf)]
    written = conf.read_text()
    assert written.startswith(CONF + BEGIN + "\n")
    block = written[len(CONF):].splitlines()[1:-1]
    # the live owned rules of both families, each chain's in its order
    assert block[0] == 'insert rule inet filter input iifname "antrea-gw0" icmpv6 type echo-request accept comment "%s"' % TAG
    assert block[-1] == 'insert rule ip6 extra out oifname "antrea-gw0" icmpv6 type echo-reply accept comment "%s"' % TAG
    assert len(block) == 6
    checks = [data for argv, data in run.commands if argv == [NFT, "-c", "-f", "-"]]
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
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]},
                     respond=FakeHost(fixture_text, after="ruleset.json", check=refused))
    assert run.failed and run.result["msg"] == "nlm_icmp_allow: nft failed (rc=1): see stderr"
    assert conf.read_text() == CONF


def test_persist_true_without_a_boot_file_fails_before_changing_anything(run_module, fixture_text):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "persist": True},
                     respond=FakeHost(fixture_text))
    assert run.failed
    assert "persist is true, but none of" in run.result["msg"]
    assert "so nothing restores the nftables rules at boot" in run.result["msg"]
    assert [argv for argv in run.argvs if "-f" in argv] == []


@pytest.mark.parametrize("persist", ["sometimes", 2, ["auto"]])
def test_an_unknown_persist_value_fails_before_any_command(run_module, fixture_text, persist):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "persist": persist},
                     respond=FakeHost(fixture_text))
    assert run.failed and "persist must be auto, true or false, not" in run.result["msg"]
    assert run.commands == []
