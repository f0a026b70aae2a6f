"""nlm_icmp_allow with a fake run_command: which commands run, with which input, and what it says."""

from __future__ import annotations

import pytest

from ansible_collections.nodelatency.monitor.plugins.modules import nlm_icmp_allow

EMPTY = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\nCOMMIT\n"
TAG = "nodelatency.monitor"
# no test reads or writes the host's own boot files
pytestmark = pytest.mark.usefixtures("boot_files")


@pytest.fixture
def run_module(run_module):
    """A host without nft: the iptables backends alone (test_nlm_icmp_allow_nftables.py has the rest)."""
    def run(main, args, binaries=None, **kwargs):
        return run_module(main, args, binaries=dict({"nft": None}, **(binaries or {})), **kwargs)
    return run


class FakeFirewall:
    """Answers iptables --version, *-save and *-restore like one backend would, applying
    nothing: after a restore, save prints what ``after`` holds for that family."""

    def __init__(self, version="iptables v1.8.9 (nf_tables)", before=None, after=None, fail=None):
        self.version = version
        self.state = dict(before or {"iptables": EMPTY, "ip6tables": EMPTY})
        self.after = after or {}
        self.fail = fail or {}

    def __call__(self, argv, data):
        command = argv[0].rsplit("/", 1)[-1]
        if command in self.fail:
            return self.fail[command]
        if argv[1:] == ["--version"]:
            return 0, self.version + "\n", ""
        family = command.split("-")[0]
        if command.endswith("-save"):
            return 0, self.state[family], ""
        if command.endswith("-restore"):
            self.state[family] = self.after.get(family, self.state[family])
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
    + V4_RULES
    + ["-I INPUT 1 " + V4_JUMPS[0][len("-A INPUT "):], "-I OUTPUT 1 " + V4_JUMPS[1][len("-A OUTPUT "):], "COMMIT"]
) + "\n"


def test_present_reads_plans_and_restores_once(run_module):
    firewall = FakeFirewall(after={"iptables": V4_DONE})
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]},
                     respond=firewall)
    # no save after the restore: the committed transaction is the plan
    assert run.commands == [
        (["/usr/sbin/iptables", "--version"], None),
        (["/usr/sbin/iptables-nft-save", "-t", "filter"], None),
        (["/usr/sbin/iptables-nft-restore", "--noflush", "--wait=30"], V4_TRANSACTION),
    ]
    assert run.result["changed"] is True
    assert run.result["backend"] == "iptables-nft"
    assert run.result["rules"]["ipv4"]["added"] == (
        [":NLM-INPUT -"] + V4_RULES[:2] + [":NLM-OUTPUT -"] + V4_RULES[2:] + V4_JUMPS)
    assert run.result["rules"]["ipv4"]["removed"] == []
    assert run.result["rules"]["ipv4"]["present"] == [":NLM-INPUT -", ":NLM-OUTPUT -"] + V4_JUMPS + V4_RULES
    assert "ipv6" not in run.result["rules"]


def test_present_again_changes_nothing(run_module):
    firewall = FakeFirewall(before={"iptables": V4_DONE})
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]},
                     respond=firewall)
    assert run.argvs == [["/usr/sbin/iptables", "--version"], ["/usr/sbin/iptables-nft-save", "-t", "filter"]]
    assert run.result["changed"] is False
    assert run.result["rules"]["ipv4"]["transaction"] == ""


def test_check_mode_with_diff_restores_nothing_and_shows_the_owned_rules(run_module):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "ip_versions": ["ipv4"]},
                     respond=FakeFirewall(), check_mode=True, diff=True)
    assert run.argvs == [["/usr/sbin/iptables", "--version"], ["/usr/sbin/iptables-nft-save", "-t", "filter"]]
    assert run.result["changed"] is True
    assert run.result["rules"]["ipv4"]["transaction"] == V4_TRANSACTION
    assert run.result["diff"] == [{
        "before_header": "owned rules", "after_header": "owned rules",
        "before": "# ipv4\n",
        "after": "# ipv4\n" + "".join(line + "\n" for line in
                                      [":NLM-INPUT -", ":NLM-OUTPUT -"] + V4_JUMPS + V4_RULES),
    }]


def test_both_families_on_the_legacy_backend_named_explicitly(run_module):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["lo"], "backend": "iptables-legacy",
                                           "roles": ["responder"], "chain_mode": "direct", "wait": 5},
                     respond=FakeFirewall(version="iptables v1.8.9 (legacy)"))
    # both families are saved side by side (in either order), then restored one by one
    assert sorted(run.argvs[:2]) == [["/usr/sbin/ip6tables-legacy-save", "-t", "filter"],
                                     ["/usr/sbin/iptables-legacy-save", "-t", "filter"]]
    assert run.argvs[2:] == [
        ["/usr/sbin/iptables-legacy-restore", "--noflush", "--wait=5"],
        ["/usr/sbin/ip6tables-legacy-restore", "--noflush", "--wait=5"],
    ]
    assert run.commands[3][1] == (
        "*filter\n"
        '-I INPUT 1 -i lo -p ipv6-icmp -m icmp6 --icmpv6-type 128 -m comment --comment "%s" -j ACCEPT\n'
        '-I OUTPUT 1 -o lo -p ipv6-icmp -m icmp6 --icmpv6-type 129 -m comment --comment "%s" -j ACCEPT\n'
        "COMMIT\n" % (TAG, TAG))


def test_absent_on_a_clean_host_changes_nothing(run_module):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "state": "absent"},
                     respond=FakeFirewall())
    assert run.result["changed"] is False
    # the two saves run side by side, in either order
    assert run.argvs[0] == ["/usr/sbin/iptables", "--version"]
    assert sorted(argv[0] for argv in run.argvs[1:]) == [
        "/usr/sbin/ip6tables-nft-save", "/usr/sbin/iptables-nft-save"]


def test_absent_removes_rules_jumps_and_chains(run_module):
    firewall = FakeFirewall(before={"iptables": V4_DONE}, after={"iptables": EMPTY})
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["antrea-gw0"], "state": "absent",
                                           "ip_versions": ["ipv4"]}, respond=firewall)
    assert run.result["changed"] is True
    restore_input = run.commands[2][1]
    assert restore_input.splitlines() == (
        ["*filter"] + ["-D " + line[3:] for line in V4_RULES]
        + ["-D " + V4_JUMPS[0][3:], "-X NLM-INPUT", "-D " + V4_JUMPS[1][3:], "-X NLM-OUTPUT", "COMMIT"])
    assert run.result["rules"]["ipv4"]["present"] == []


@pytest.mark.parametrize("interfaces,message", [
    (["eth/0"], "interface name 'eth/0' contains '/'"),
    (["a" * 16], "is 16 characters long; the kernel allows 1 to 15"),
    ([".."], "reserved by the kernel"),
    (["eth 0"], "contains ' '"),
    ([""], "non-empty string"),
    ([], "interfaces is empty"),
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


def test_missing_ip6tables_names_the_package_unless_only_ipv4_is_asked(run_module):
    binaries = {"ip6tables-nft-save": None}
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["gw0"]}, respond=FakeFirewall(), binaries=binaries)
    assert run.failed
    assert run.result["msg"] == (
        "nlm_icmp_allow: ip6tables-nft-save not found: install the iptables package (it provides "
        "ip6tables-nft-save), or set ip_versions to [ipv4], or choose another backend")
    assert run.argvs == [["/usr/sbin/iptables", "--version"]]
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["gw0"], "ip_versions": ["ipv4"]},
                     respond=FakeFirewall(), binaries=binaries)
    assert not run.failed


def test_no_iptables_at_all_asks_for_the_package(run_module):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["gw0"]}, respond=FakeFirewall(),
                     binaries={"iptables": None, "ip6tables": None})
    assert run.failed and "install the iptables package" in run.result["msg"]
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


def test_undetectable_backend_asks_to_name_it(run_module):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["gw0"]}, respond=FakeFirewall(version="odd"))
    assert run.failed and "set backend explicitly" in run.result["msg"]


def test_a_missing_interface_is_a_warning_not_a_failure(run_module):
    run = run_module(nlm_icmp_allow.main, {"interfaces": ["nlm-nosuch0"], "ip_versions": ["ipv4"]},
                     respond=FakeFirewall(), check_mode=True)
    assert not run.failed
    assert any("nlm-nosuch0 do not exist yet" in warning for warning in run.result["warnings"])
