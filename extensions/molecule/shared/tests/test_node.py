"""What every lab node looks like after the scenario's converge (and side effects).

The rulesets and the pings are read in the node's namespace: that is the kernel a
machine's own boot loaded its firewall into, and the same view a namespace node has.
What only a machine has (its own Python, its boot service) is asked through the
scenario's connection, as the operator with sudo.
"""

import concurrent.futures
import os
import pathlib
import re
import sys

import pytest

PROJECT = pathlib.Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
sys.path.insert(0, str(PROJECT / "lab"))
import nlmlab  # noqa: E402  pylint: disable=wrong-import-position

SCENARIO = os.environ["MOLECULE_SCENARIO_NAME"]
MODE = os.environ["NLM_LAB_MODE"]
FIREWALL = os.environ["NLM_LAB_FIREWALL"]
KIND = os.environ.get("NLM_LAB_KIND") or "netns"
LAB_DIR = PROJECT / ".lab" / f"molecule-{SCENARIO}"
LAB = nlmlab.Lab.recorded(os.environ["NLM_LAB_NAME"], LAB_DIR)
# converge records "on", the scenario's side effect "off"
ENABLED = (LAB_DIR / "monitoring").read_text().strip() == "on"
COMMENT = "nodelatency.monitor"
INTERFACES_BY_MODE = {
    "encap": {"antrea-gw0"},
    "noEncap": {"eth0"},
    "networkPolicyOnly": {"eth0"},
    "hybrid": {"antrea-gw0", "eth0"},
}
# A native nftables node keeps both families in one inet table, and so does
# firewalld's; iptables nodes have a ruleset per family.
if FIREWALL == "firewalld":
    RULESET_COMMANDS = {"inet": "nft list ruleset"}
elif FIREWALL == "nftables":
    RULESET_COMMANDS = {"inet": "nft list ruleset"}
    ACCEPT_RULES_PER_INTERFACE = {"inet": 8}
    INTERFACE_MATCH = re.compile(r'\b[io]ifname "([^"]+)"')
else:
    RULESET_COMMANDS = {"ipv4": "iptables-save", "ipv6": "ip6tables-save"}
    ACCEPT_RULES_PER_INTERFACE = {"ipv4": 4, "ipv6": 4}
    INTERFACE_MATCH = re.compile(r" -[io] (\S+) ")
COUNTERS = re.compile(r"\[\d+:\d+\]")
_STATE = {}
PINGS = concurrent.futures.ThreadPoolExecutor(max_workers=8)


def comparable(ruleset):
    """The ruleset without its timestamped comments and packet counters."""
    return [COUNTERS.sub("[0:0]", line) for line in ruleset.splitlines() if line.strip() and not line.startswith("#")]


OWNED_POLICY = re.compile(r"_policy_nlm-echo-(in|out)")


def without_owned_policies(lines):
    """firewalld's nft table without the chains of the owned policies and the jumps to them."""
    kept, skipping = [], False
    for line in lines:
        if skipping:
            skipping = line.strip() != "}"
            continue
        if OWNED_POLICY.search(line):
            skipping = line.strip().startswith("chain ")
            continue
        kept.append(line)
    return kept


def owned(lines):
    return [line for line in lines if COMMENT in line or line.startswith(("-A NLM-", ":NLM-"))]


def accept_rules(lines):
    return [line for line in owned(lines) if line.endswith("-j ACCEPT") or " accept comment " in line]


def node_state(host):
    """The rulesets and which peers answer ping, read once per verification."""
    name = host.backend.get_hostname()
    if name not in _STATE:
        node = LAB.node(name)
        address_kind = "transport" if MODE == "networkPolicyOnly" else "gateway"
        targets = [(peer.name, getattr(peer, f"{address_kind}_{family}"))
                   for peer in LAB.nodes if peer.name != name for family in ("ipv4", "ipv6")]
        _STATE[name] = {
            "rulesets": {kind: comparable(LAB.run(node, command.split()).stdout)
                         for kind, command in RULESET_COMMANDS.items()},
            # at once: a dropped echo costs the whole timeout
            "answered": dict(zip(targets, PINGS.map(lambda target: LAB.ping(node, target[1]), targets))),
        }
    return _STATE[name]


def original(host, kind):
    name = host.backend.get_hostname()
    command = RULESET_COMMANDS[kind].replace(" ", "-")
    return comparable((LAB_DIR / f"original-{name}-{command}").read_text())


ONLY_FIREWALLD = pytest.mark.skipif(FIREWALL != "firewalld", reason="firewalld nodes only")
NOT_FIREWALLD = pytest.mark.skipif(FIREWALL == "firewalld", reason="firewalld's rules are read from firewalld")
_FIREWALLD = {}


def firewalld_state(host):
    """The owned policies' rich rules (runtime and permanent) and the files of /etc/firewalld."""
    name = host.backend.get_hostname()
    if name not in _FIREWALLD:
        output = host.check_output(
            "for policy in nlm-echo-in nlm-echo-out; do for where in runtime permanent; do "
            "option=$([ $where = permanent ] && echo --permanent); "
            "sudo firewall-cmd $option --policy=$policy --list-rich-rules 2>/dev/null | sed \"s/^/$policy $where: /\"; "
            "done; done; sudo find /etc/firewalld -type f -exec sha256sum {} + | sort | sed 's/^/file: /'; "
            "python3 -c 'import urllib.request; print(urllib.request.urlopen(\"http://127.0.0.1:9469/metrics\", "
            "timeout=5).read().decode())' 2>/dev/null | grep '^nlm_rule_present' | sed 's/^/metric: /'")
        _FIREWALLD[name] = output.splitlines()
    return _FIREWALLD[name]


@ONLY_FIREWALLD
def test_firewalld_holds_exactly_the_rules_of_the_interfaces_of_the_traffic_mode(host):
    lines = firewalld_state(host)
    node = LAB.node(host.backend.get_hostname())
    addresses = {"antrea-gw0": (node.gateway_ipv4, node.gateway_ipv6), "eth0": (node.transport_ipv4, node.transport_ipv6)}
    for policy, side in (("nlm-echo-in", "destination"), ("nlm-echo-out", "source")):
        for where in ("runtime", "permanent"):
            rules = [line.split(": ", 1)[1] for line in lines if line.startswith("%s %s: " % (policy, where))]
            if not ENABLED:
                assert rules == [], shown(lines)
                continue
            expected = {'rule family="%s" %s address="%s" icmp-type name="%s" accept' % (family, side, address, message)
                        for interface in INTERFACES_BY_MODE[MODE]
                        for family, address in zip(("ipv4", "ipv6"), addresses[interface])
                        for message in ("echo-request", "echo-reply")}
            assert sorted(rules) == sorted(expected), shown(lines)


@ONLY_FIREWALLD
@pytest.mark.skipif(os.environ.get("NLM_EXPECT_AGENT") != "yes", reason="the scenario does not run the agent")
def test_the_agents_rule_gauges_see_the_owned_rules_in_firewalld(host):
    """The agent runs as its own user, whom firewalld does not answer: its watch reads the
    owned rules from firewalld's nft table. Every gauge of the mode's interfaces says 1."""
    lines = firewalld_state(host)
    gauges = [line for line in lines if line.startswith("metric: ")]
    if not ENABLED:
        assert gauges == [], shown(lines)
        return
    assert len(gauges) == 8 * len(INTERFACES_BY_MODE[MODE]), shown(lines)
    assert all(line.endswith(" 1.0") for line in gauges), shown(lines)


@ONLY_FIREWALLD
def test_firewalld_keeps_the_rest_of_its_configuration_as_it_booted(host):
    """/etc/firewalld: the same files with the same content, but the owned policies'."""
    name = host.backend.get_hostname()
    files = [line[len("file: "):] for line in firewalld_state(host) if line.startswith("file: ")]
    if ENABLED:
        files = [line for line in files if not re.search(r"/policies/nlm-echo-(in|out)\.xml(\.old)?$", line)]
    assert files == (LAB_DIR / f"original-{name}-etc-firewalld").read_text().splitlines(), shown(files)


@NOT_FIREWALLD
def test_allow_rules_match_exactly_the_interfaces_of_the_traffic_mode(host):
    for kind, ruleset in node_state(host)["rulesets"].items():
        rules = accept_rules(ruleset)
        if not ENABLED:
            assert rules == []
            continue
        assert len(rules) == ACCEPT_RULES_PER_INTERFACE[kind] * len(INTERFACES_BY_MODE[MODE])
        matched = set()
        for rule in rules:
            interface = INTERFACE_MATCH.search(rule)
            assert interface, f"rule without an interface match: {rule}"
            matched.add(interface.group(1))
        assert matched == INTERFACES_BY_MODE[MODE]


def test_the_rest_of_the_ruleset_is_unchanged(host):
    for kind, ruleset in node_state(host)["rulesets"].items():
        if FIREWALL == "firewalld":
            # firewalld writes its table anew at each reload: the same, but the owned policies
            assert without_owned_policies(ruleset) == original(host, kind)
            continue
        if ENABLED:
            ruleset = [line for line in ruleset if line not in owned(ruleset)]
        assert ruleset == original(host, kind)


def test_peers_answer_ping_exactly_when_monitoring_is_on(host):
    for (peer, address), answered in node_state(host)["answered"].items():
        assert answered == ENABLED, f"{host.backend.get_hostname()} -> {peer} {address}"


ONLY_MACHINES = pytest.mark.skipif(KIND != "machines", reason="namespace nodes share the controller's Python and /etc")
_MACHINE = {}


def machine_state(host):
    """What the machine says about its Python and its boot service, asked in one command
    (each command through the ansible backend costs a whole ansible run)."""
    name = host.backend.get_hostname()
    if name not in _MACHINE:
        service = {"nftables": "nftables", "firewalld": "firewalld"}.get(FIREWALL, "netfilter-persistent")
        output = host.check_output(
            "python3 -c 'import pyroute2' 2>/dev/null && echo system-pyroute2=yes || echo system-pyroute2=no; "
            "/opt/nodelatency-monitor/venv/bin/python -m pip list --format=freeze 2>&1 | sed 's/^/venv: /'; "
            f"echo enabled=$(systemctl is-enabled {service}); echo active=$(systemctl is-active {service}); "
            # what a failed assertion shows of the boot service's life in this boot
            f"systemctl show -p ActiveState,SubState,Result,ExecMainStatus {service} | sed 's/^/service: /'; "
            f"journalctl -b -q --no-pager -o short-monotonic -u {service} | tail -n 12 | sed 's/^/journal: /'; "
            "journalctl -b -q --no-pager -o short-monotonic -p warning | tail -n 12 | sed 's/^/warning: /'; "
            "echo agent=$(systemctl is-active nlm-agent); "
            "getent passwd nlm-agent >/dev/null && echo agent-user=yes || echo agent-user=no; "
            "ls -d /etc/systemd/system/nlm-agent.service /opt/nodelatency-monitor/agent /etc/nodelatency-monitor "
            "/var/lib/nodelatency-monitor 2>/dev/null | sed 's/^/agent-file: /'; "
            "ss -Hltn 'sport = :9469' | sed 's/^/agent-socket: /'")
        _MACHINE[name] = output.splitlines()
    return _MACHINE[name]


def shown(lines):
    """The whole state in a failure's message: pytest cuts a list's repr short."""
    return "\n" + "\n".join(lines)


@ONLY_MACHINES
def test_a_machine_runs_the_modules_from_the_collections_virtual_environment(host):
    """Debian's python3 has neither pyroute2 nor icmplib: the role put them into a venv of
    its own, from the wheel directory the lab serves (the machines reach no package index)."""
    lines = machine_state(host)
    assert "system-pyroute2=no" in lines
    venv = {line.split()[1].split("==")[0] for line in lines if line.startswith("venv: ") and "==" in line}
    assert {"pyroute2", "icmplib"} <= venv, shown(lines)


@ONLY_MACHINES
def test_a_machine_loads_its_rules_with_its_own_boot_service(host):
    lines = machine_state(host)
    assert "enabled=enabled" in lines and "active=active" in lines, shown(lines)


@pytest.mark.skipif(os.environ.get("NLM_EXPECT_AGENT") != "yes", reason="the scenario does not run the agent")
def test_the_agent_runs_exactly_while_monitoring_is_on(host):
    """nlm_monitor: on after converge and after a reboot (enabled at boot); the toggle
    off leaves no service, user or file of it."""
    lines = machine_state(host)
    if ENABLED:
        assert "agent=active" in lines and "agent-user=yes" in lines, shown(lines)
        assert any(line.startswith("agent-socket: ") for line in lines), shown(lines)
    else:
        assert "agent=active" not in lines and "agent-user=no" in lines, shown(lines)
        assert [line for line in lines if line.startswith(("agent-file: ", "agent-socket: "))] == [], shown(lines)
