"""What every lab node looks like after the scenario's converge (and side effect)."""

import os
import pathlib
import re

import yaml

SCENARIO = os.environ["MOLECULE_SCENARIO_NAME"]
MODE = os.environ["NLM_LAB_MODE"]
FIREWALL = os.environ["NLM_LAB_FIREWALL"]
LAB_DIR = pathlib.Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / ".lab" / f"molecule-{SCENARIO}"
# The toggle scenario switches monitoring on, then off again.
ENABLED = SCENARIO != "toggle"
COMMENT = "nodelatency.monitor"
INTERFACES_BY_MODE = {
    "encap": {"antrea-gw0"},
    "noEncap": {"eth0"},
    "networkPolicyOnly": {"eth0"},
    "hybrid": {"antrea-gw0", "eth0"},
}
SAVE_COMMANDS = {"ipv4": "iptables-save", "ipv6": "ip6tables-save"}
SEPARATOR = "=====nlm-separator====="
COUNTERS = re.compile(r"\[\d+:\d+\]")
_STATE = {}


def lab_hosts():
    inventory = yaml.safe_load((LAB_DIR / "inventory.yml").read_text())
    return inventory["all"]["children"]["nlm_nodes"]["hosts"]


def without_comments(ruleset):
    """The ruleset without its timestamped comments and packet counters."""
    return [COUNTERS.sub("[0:0]", line) for line in ruleset.splitlines() if line and not line.startswith("#")]


def owned(lines):
    return [line for line in lines if COMMENT in line or line.startswith(("-A NLM-", ":NLM-"))]


def node_state(host):
    """Both saved rulesets and which peers answer ping, read in one command.

    Every command through the ansible backend costs a whole ansible run, so the
    node is asked once and the answers are kept for the other tests.
    """
    name = host.backend.get_hostname()
    if name not in _STATE:
        address_kind = "transport" if MODE == "networkPolicyOnly" else "gateway"
        targets = [(peer, peer_vars[f"nlm_{address_kind}_{family}"])
                   for peer, peer_vars in lab_hosts().items() if peer != name
                   for family in ("ipv4", "ipv6")]
        pings = "; ".join(f"ping -c 1 -W 1 {address} >/dev/null && echo ANSWERED {address} || echo SILENT {address}"
                          for _peer, address in targets)
        output = host.check_output(f"iptables-save; echo {SEPARATOR}; ip6tables-save; echo {SEPARATOR}; {pings}")
        ipv4, ipv6, ping_lines = output.split(SEPARATOR)
        answered = {line.split()[1]: line.startswith("ANSWERED") for line in ping_lines.split("\n") if line.strip()}
        _STATE[name] = {
            "ipv4": without_comments(ipv4),
            "ipv6": without_comments(ipv6),
            "answered": {(peer, address): answered[address] for peer, address in targets},
        }
    return _STATE[name]


def original(host, family):
    name = host.backend.get_hostname()
    return without_comments((LAB_DIR / f"original-{name}-{SAVE_COMMANDS[family]}").read_text())


def test_allow_rules_match_exactly_the_interfaces_of_the_traffic_mode(host):
    for family in SAVE_COMMANDS:
        accept_rules = [line for line in owned(node_state(host)[family]) if line.endswith("-j ACCEPT")]
        if not ENABLED:
            assert accept_rules == []
            continue
        # two directions times two message types per interface
        assert len(accept_rules) == 4 * len(INTERFACES_BY_MODE[MODE])
        matched = set()
        for rule in accept_rules:
            interface = re.search(r" -[io] (\S+) ", rule)
            assert interface, f"rule without an interface match: {rule}"
            matched.add(interface.group(1))
        assert matched == INTERFACES_BY_MODE[MODE]


def test_the_rest_of_the_ruleset_is_unchanged(host):
    for family in SAVE_COMMANDS:
        now = node_state(host)[family]
        if ENABLED:
            now = [line for line in now if line not in owned(now)]
        assert now == original(host, family)


def test_peers_answer_ping_exactly_when_monitoring_is_on(host):
    for (peer, address), answered in node_state(host)["answered"].items():
        assert answered == ENABLED, f"{host.backend.get_hostname()} -> {peer} {address}"
